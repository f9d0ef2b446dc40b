"""Drift factors from the reference workload, checked by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from energypred.drift import corrected, drift_factors


def test_rows_are_scaled_to_the_runs_median_reference() -> None:
    t = pd.Timestamp("2026-01-01", tz="UTC")
    s = pd.Timedelta(seconds=60)
    df = pd.DataFrame({
        "run_id": ["a"] * 5,
        "row_kind": ["reference", "layer", "reference", "reference", "layer"],
        "status": ["ok"] * 5,
        "timestamp": [t, t + s / 2, t + 2 * s, t + 4 * s, t + 4 * s + s / 4],
        "energy_j": [1.0, 10.0, 1.0, 2.0, 10.0],
    })
    # references 1, 1, 2: median 1; rolling median of 3 (centered) -> 1, 1, 1.5
    # the first layer row sits nearest the first reference (factor 1/1), the last nearest the
    # third (smoothed 1.5 -> factor 1/1.5)
    f = drift_factors(df)
    assert f.iloc[1] == pytest.approx(1.0) and f.iloc[4] == pytest.approx(1 / 1.5)
    assert corrected(df)["energy_j"].iloc[4] == pytest.approx(10 / 1.5)


def test_without_references_nothing_changes() -> None:
    df = pd.DataFrame({"row_kind": ["layer"], "status": ["ok"], "energy_j": [3.0]})
    assert drift_factors(df).tolist() == [1.0]


def _two_runs() -> pd.DataFrame:
    t = pd.Timestamp("2026-01-01", tz="UTC")
    s = pd.Timedelta(seconds=60)
    return pd.DataFrame({
        "run_id": ["a", "a", "b", "b", "c", "c"],
        "row_kind": ["reference", "layer"] * 3,
        "status": ["ok"] * 6,
        "timestamp": [t, t + s, t + 9 * s, t + 10 * s, t + 20 * s, t + 21 * s],
        "energy_j": [1.0, 10.0, 1.2, 10.0, 1.5, 10.0],
    })


def test_the_dataset_footing_puts_every_run_at_the_median_runs_reference() -> None:
    # run medians 1.0, 1.2, 1.5 -> dataset level 1.2 (the median run); each layer row sits
    # by its run's only reference: factors 1.2/1.0, 1.2/1.2, 1.2/1.5
    df = _two_runs()
    f = drift_factors(df)
    assert f.iloc[[1, 3, 5]].tolist() == pytest.approx([1.2, 1.0, 0.8])
    assert corrected(df)["energy_j"].iloc[[1, 3, 5]].tolist() == pytest.approx([12.0, 10.0, 8.0])


def test_the_run_footing_leaves_the_runs_apart() -> None:
    # each run is its own level: one reading per run -> factor 1 everywhere
    assert drift_factors(_two_runs(), footing="run").tolist() == pytest.approx([1.0] * 6)


def test_an_unknown_footing_is_refused() -> None:
    with pytest.raises(ValueError, match="footing"):
        drift_factors(_two_runs(), footing="session")
