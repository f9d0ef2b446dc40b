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
