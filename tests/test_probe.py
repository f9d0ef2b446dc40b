"""The speed probe next to each measurement: readings, sharing, pooling, drift factors."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

from energypred.drift import drift_factors, probe_factors
from energypred.measurement import FakeMeter, measure
from energypred.measurement.probe import SpeedProbe
from energypred.measurement.protocol import Measurement, combine


def _m(probe: float, repeats: int = 2) -> Measurement:
    return Measurement(1.0, 0.2, 0.8, 0.0, 0.01, [1.0] * repeats, [0.01] * repeats, 0.0, 10,
                       repeats, 0.1, 0.02, 8.0, 28.0, probe_s_per_call=probe)


def test_a_measurement_gets_the_mean_of_the_probes_on_either_side() -> None:
    probe = SpeedProbe(seconds=0.005)
    assert len(probe.readings_s) == 1 and probe.readings_s[0] > 0  # the warm-up reading
    m = probe.around(lambda: measure(lambda: None, FakeMeter(), window_s=0.005, repeats=2))
    # the warm-up reading is under a second old: it is the "before" probe, one more is taken
    assert len(probe.readings_s) == 2
    assert m.probe_s_per_call == pytest.approx(sum(probe.readings_s) / 2)
    # the next measurement shares the probe between them: one reading more, not two
    probe.around(lambda: m)
    assert len(probe.readings_s) == 3
    with pytest.raises(ValueError):
        SpeedProbe(seconds=0)


def test_pooled_measurements_average_their_probes_by_repeats() -> None:
    # 2 ms probe over 2 windows, 4 ms over 6 windows -> (2*2 + 4*6) / 8 = 3.5 ms
    assert combine(_m(0.002, 2), _m(0.004, 6)).probe_s_per_call == pytest.approx(0.0035)
    # a part without a probe (written before schema 5) does not count
    assert combine(_m(float("nan")), _m(0.004)).probe_s_per_call == pytest.approx(0.004)
    assert math.isnan(combine(_m(float("nan"))).probe_s_per_call)
    assert math.isnan(dataclasses.replace(_m(0.001), probe_s_per_call=float("nan"))
                      .probe_s_per_call)


def test_probed_rows_use_their_own_speed_and_the_rest_the_reference() -> None:
    t = pd.Timestamp("2026-01-01", tz="UTC")
    s = pd.Timedelta(seconds=60)
    df = pd.DataFrame({
        "run_id": ["old", "old", "old", "new", "new", "new", "new"],
        "row_kind": ["reference", "layer", "reference", "reference", "layer", "layer", "layer"],
        "status": ["ok"] * 7,
        "timestamp": [t, t + s / 4, t + 2 * s, t, t + s / 4, t + s / 2, t + s],
        "energy_j": [1.0, 5.0, 2.0, 1.0, 5.0, 5.0, 5.0],
        "probe_s_per_call": [None, None, None, 0.002, 0.002, 0.004, 0.001],
    })
    # each run on its own footing:
    # run "new": probes 2, 2, 4, 1 ms -> median 2 ms; factors 2/2, 2/2, 2/4, 2/1
    # run "old": no probes; references 1, 2 J -> median 1.5; the layer sits nearest the first
    # (rolling median of 3, centred, over [1, 2] -> 1.5 and 1.5): factor 1.5 / 1.5
    assert probe_factors(df, "run").iloc[3:].tolist() == pytest.approx([1.0, 1.0, 0.5, 2.0])
    assert probe_factors(df, "run").iloc[:3].isna().all()
    f = drift_factors(df, probe=True, footing="run")
    assert f.iloc[1] == pytest.approx(1.0)
    assert f.iloc[3:].tolist() == pytest.approx([1.0, 1.0, 0.5, 2.0])
    # by default the probes are ignored: run "new" has one reference reading, factor 1
    assert drift_factors(df, footing="run").iloc[3:].tolist() == pytest.approx([1.0] * 4)
    # on the dataset footing: run medians 1.5 ("old") and 1.0 ("new") -> level 1.25; the "old"
    # layer gets 1.25 / 1.5, the "new" rows' reference factor 1.25 / 1; the probes' level is
    # the median of the one probed run's median, 2 ms, as before
    assert drift_factors(df).iloc[[1, 3]].tolist() == pytest.approx([1.25 / 1.5, 1.25])
    assert drift_factors(df, probe=True).iloc[3:].tolist() == pytest.approx([1.0, 1.0, 0.5, 2.0])


def test_without_a_probe_column_the_reference_decides() -> None:
    df = pd.DataFrame({"run_id": ["a"], "row_kind": ["layer"], "status": ["ok"],
                       "energy_j": [3.0]})
    assert probe_factors(df).isna().all() and drift_factors(df).tolist() == [1.0]
