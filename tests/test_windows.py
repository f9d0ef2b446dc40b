"""Steady-state energies: the first window of each measurement left out, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from energypred.windows import steady_state, steady_windows


def test_steady_windows_drop_the_first_window_of_each_measurement() -> None:
    assert list(steady_windows([30.0, 16.0, 17.0])) == [16.0, 17.0]
    # a bracket: two measurements of three windows -> windows 2, 3, 5, 6
    assert list(steady_windows([20, 12, 10, 21, 12, 11], 2)) == [12, 10, 12, 11]
    assert list(steady_windows([5.0])) == [5.0]  # nothing left to drop


def test_steady_state_recomputes_energy_components_and_duration() -> None:
    df = pd.DataFrame({
        "energy_j": [21.0, 14.0, 2.0, np.nan],
        "cpu_energy_j": [7.0, 7.0, 1.0, np.nan],
        "ram_energy_j": [14.0, 7.0, 1.0, np.nan],
        "gpu_energy_j": [0.0, 0.0, 0.0, np.nan],
        "duration_s": [0.7, 0.5, 0.1, np.nan],
        "energy_j_repeats": [[30.0, 16.0, 17.0], [20.0, 12.0, 10.0, 21.0, 12.0, 9.0], [2.0],
                             None],
        "duration_s_repeats": [[1.0, 0.5, 0.6], [0.6, 0.5, 0.4, 0.6, 0.5, 0.4], [0.1], None],
        "arch_protocol": [None, "bracketed", None, None],
        "whole_measurements": [None, 2, None, None],  # as read_dataset fills older rows
    })
    out = steady_state(df)
    # row 0: (16 + 17) / 2 = 16.5 J, factor 16.5 / 21; duration (0.5 + 0.6) / 2 = 0.55 s
    assert out.energy_j[0] == pytest.approx(16.5) and out.duration_s[0] == pytest.approx(0.55)
    assert out.cpu_energy_j[0] == pytest.approx(7.0 * 16.5 / 21)
    assert out.ram_energy_j[0] + out.cpu_energy_j[0] == pytest.approx(16.5)
    # row 1 (bracket): (12 + 10 + 12 + 9) / 4 = 10.75 J
    assert out.energy_j[1] == pytest.approx(10.75)
    assert out.energy_j[2] == 2.0 and np.isnan(out.energy_j[3])  # one window; not measured
    assert df.energy_j[0] == 21.0  # the input is not modified
    assert list(out.energy_j_repeats[0]) == [30.0, 16.0, 17.0]  # stored windows stay


def test_steady_state_drops_the_first_window_of_each_pooled_measurement() -> None:
    df = pd.DataFrame({
        "energy_j": [9.0], "cpu_energy_j": [3.0], "ram_energy_j": [6.0],
        "gpu_energy_j": [0.0], "duration_s": [0.3],
        # an interleaved whole network: three measurements of two windows
        "energy_j_repeats": [[20.0, 8.0, 18.0, 6.0, 16.0, 4.0]],
        "duration_s_repeats": [[0.6, 0.2, 0.5, 0.2, 0.4, 0.2]],
        "arch_protocol": ["interleaved"], "whole_measurements": [3],
    })
    # steady windows 8, 6, 4 -> 6.0 J; durations 0.2 s
    out = steady_state(df)
    assert out.energy_j[0] == pytest.approx(6.0) and out.duration_s[0] == pytest.approx(0.2)
    assert out.cpu_energy_j[0] == pytest.approx(3.0 * 6.0 / 9.0)


def test_pooled_sem_is_the_spread_of_the_measurements_steady_means() -> None:
    from energypred.windows import pooled_sem

    # two measurements of three windows: steady windows [1, 1] and [3, 3] -> means 1 and 3;
    # std (ddof 1) = sqrt(2) = 1.414, / sqrt(2 measurements) = 1.0, / mean 2 = 0.5
    assert pooled_sem([9.0, 1.0, 1.0, 9.0, 3.0, 3.0], 2) == pytest.approx(0.5)
    # three equal measurements: no spread
    assert pooled_sem([5.0, 2.0, 2.0] * 3, 3) == pytest.approx(0.0)
    # one measurement (or an unknown count) says nothing about the spread between them
    assert np.isnan(pooled_sem([1.0, 2.0, 3.0], 1)) and np.isnan(pooled_sem([1.0, 2.0], None))


def test_median_pool_takes_the_middle_measurement_of_a_whole_network() -> None:
    from energypred.windows import pooled_value

    # four measurements of three windows, steady means 2, 2, 3 and 10 (a disturbed one):
    # mean of the steady windows (2+2+3+10)/4 = 4.25 J, median of the means (2+3)/2 = 2.5 J
    windows = [9.0, 2.0, 2.0, 9.0, 2.0, 2.0, 9.0, 3.0, 3.0, 9.0, 10.0, 10.0]
    assert pooled_value(windows, 4) == pytest.approx(4.25)
    assert pooled_value(windows, 4, pool="median") == pytest.approx(2.5)
    # two measurements (or a leaf's single one): the median pool is the mean
    assert pooled_value(windows[:6], 2, pool="median") == pytest.approx(2.0)
    assert pooled_value([9.0, 1.0, 3.0], 1, pool="median") == pytest.approx(2.0)
    with pytest.raises(ValueError, match="pool must be one of"):
        pooled_value(windows, 4, pool="mode")


def test_steady_state_median_pool_scales_components_with_the_total() -> None:
    df = pd.DataFrame({
        "energy_j": [4.25], "cpu_energy_j": [1.0], "ram_energy_j": [3.25],
        "gpu_energy_j": [0.0], "duration_s": [0.4],
        "energy_j_repeats": [[9.0, 2.0, 2.0, 9.0, 2.0, 2.0, 9.0, 3.0, 3.0, 9.0, 10.0, 10.0]],
        "duration_s_repeats": [[0.5, 0.2, 0.2, 0.5, 0.2, 0.2, 0.5, 0.3, 0.3, 0.5, 1.0, 1.0]],
        "arch_protocol": ["interleaved"], "whole_measurements": [4],
    })
    out = steady_state(df, pool="median")
    # 2.5 J (test above); durations' measurement means 0.2, 0.2, 0.3, 1.0 -> median 0.25 s
    assert out.energy_j[0] == pytest.approx(2.5) and out.duration_s[0] == pytest.approx(0.25)
    assert out.cpu_energy_j[0] == pytest.approx(1.0 * 2.5 / 4.25)


def test_as_fitted_pools_wholes_as_the_predictor_was_fitted() -> None:
    from energypred.evaluation import as_fitted

    df = pd.DataFrame({
        "energy_j": [4.25], "duration_s": [0.4], "whole_measurements": [4],
        "energy_j_repeats": [[9.0, 2.0, 2.0, 9.0, 2.0, 2.0, 9.0, 3.0, 3.0, 9.0, 10.0, 10.0]],
        "duration_s_repeats": [[0.5, 0.2, 0.2] * 4],
    })
    # the mean of the steady windows, 4.25 J, unless the predictor pooled by the median: 2.5 J
    mean, _ = as_fitted(df, {"steady_state": True})
    median, notes = as_fitted(df, {"steady_state": True, "whole_pool": "median"})
    assert mean.energy_j[0] == pytest.approx(4.25) and median.energy_j[0] == pytest.approx(2.5)
    assert "median of its measurements" in notes[0]
