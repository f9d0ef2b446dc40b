"""Put rows measured at different times on one footing, using the reference workload.

The machine's speed drifts by several percent over minutes, and CodeCarbon's estimate here is
power × time, so energy drifts with it. Every run measures a fixed reference convolution about
once a minute; a row's drift factor is the footing's reference energy divided by the reference
energy near that row's time (a rolling median of three readings, to damp their own noise).
Multiplying a row's energy by its factor gives the energy "at the footing's speed"::

    footing "dataset" (default):  factor = the dataset's reference J / reference J near the row
    footing "run":                factor = its run's median reference J / reference J near it

The dataset's reference J is :func:`energypred.dataset.reference_median` (the median over runs
of each run's median), the same figure ``energypred check`` compares this machine with, so a
predictor fitted on the "dataset" footing speaks for the machine state ``check`` describes.
The "run" footing (what ``fit --drift-correct`` did before predictors recorded
``drift_footing``) leaves the runs' differences in: on ``datasets/zen4-2c-padded`` the runs'
median references differ by up to 5.6 % and the held-out whole-model error of each run's
inference networks followed them (mean -9.7 % to +4.5 % per run); on the dataset footing
held-out MAPE fell from 6.8 to 6.2 % (inference) and 6.3 to 6.0 % (training).

Rows measured with ``generate --probe-s`` carry their own speed: the reference convolution
timed right before and after them (``probe_s_per_call``, measurement/probe.py). With
``probe=True`` their factor is the footing's median probe divided by theirs (rows without one
keep the reference factor)::

    row with a probe:     factor = median probe_s_per_call of the footing / its probe
    row without one:      factor as above, from the reference readings

That is not the default because it was measured worse (``scripts/probe_effect.py``, the 48
probed whole networks of ``datasets/zen4-2c-padded``, held out, run footing): training MAPE
7.7 % with it against 6.2 % with the reference and 5.4 % raw, inference 5.2 / 4.7 / 5.1 %, and
additivity no better (training 5.4 / 4.9 / 4.5 % mean abs). A network's leaves and whole
differ by amounts that do not follow the probe's speed (correlation 0.01 at inference, 0.13 in
training).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from energypred.dataset import reference_median

#: what rows are rescaled to: the whole dataset's reference level, or their own run's
FOOTINGS = ("dataset", "run")


def drift_factors(df: pd.DataFrame, probe: bool = False, footing: str = "dataset"
                  ) -> pd.Series:
    """Per-row factor (dimensionless, ~1), aligned with ``df``'s index: from the reference
    readings near the row (and, with ``probe``, from the row's own probe where it has one),
    on ``footing`` (module doc); 1.0 where nothing is known."""
    out = reference_factors(df, footing)
    return probe_factors(df, footing).fillna(out) if probe else out


def probe_factors(df: pd.DataFrame, footing: str = "dataset") -> pd.Series:
    """Per-row factor from the row's own speed probe (the footing's median probe / the row's),
    NaN for rows without one; aligned with ``df``'s index."""
    _check_footing(footing)
    if "probe_s_per_call" not in df or "run_id" not in df:
        return pd.Series(np.nan, index=df.index)
    probe = df["probe_s_per_call"].astype(float).where(lambda p: p > 0)
    per_run = probe.groupby(df["run_id"]).transform("median")
    median = (per_run if footing == "run"
              else pd.Series(probe.groupby(df["run_id"]).median().median(), index=df.index))
    return (median / probe).replace([np.inf, -np.inf], np.nan)


def reference_factors(df: pd.DataFrame, footing: str = "dataset") -> pd.Series:
    """Per-row factor from the run's reference readings nearest in time, on ``footing``
    (module doc); 1.0 where unknown; aligned with ``df``'s index."""
    _check_footing(footing)
    out = pd.Series(1.0, index=df.index)
    if "run_id" not in df or "timestamp" not in df:
        return out
    refs = df[(df["row_kind"] == "reference") & (df["status"] == "ok")]
    level = reference_median(df)
    for run_id, ref in refs.groupby("run_id"):
        ref = ref.sort_values("timestamp")
        smooth = ref["energy_j"].rolling(3, center=True, min_periods=1).median()
        target = ref["energy_j"].median() if footing == "run" else level
        table = pd.DataFrame({"timestamp": ref["timestamp"].to_numpy(),
                              "factor": (target / smooth).to_numpy()})
        rows = df[(df["run_id"] == run_id) & df["timestamp"].notna()]
        if rows.empty:
            continue
        left = pd.DataFrame({"timestamp": rows["timestamp"].to_numpy(), "pos": rows.index})
        merged = pd.merge_asof(left.sort_values("timestamp"), table, on="timestamp",
                               direction="nearest")
        out.loc[merged["pos"].to_numpy()] = merged["factor"].to_numpy()
    return out.replace([np.inf, -np.inf], 1.0).fillna(1.0)


def corrected(df: pd.DataFrame, columns: tuple[str, ...] = ("energy_j", "cpu_energy_j",
                                                               "ram_energy_j", "gpu_energy_j"),
              probe: bool = False, footing: str = "dataset") -> pd.DataFrame:
    """A copy of ``df`` with its energy columns multiplied by their drift factors
    (:func:`drift_factors`; ``probe``: the rows' own probes where they have them; ``footing``:
    "dataset" or "run", module doc)."""
    out = df.copy()
    f = drift_factors(df, probe, footing)
    for c in columns:
        if c in out:
            out[c] = out[c] * f
    out["drift_factor"] = f
    return out


def _check_footing(footing: str) -> None:
    if footing not in FOOTINGS:
        raise ValueError(f"drift footing {footing!r}: expected one of {', '.join(FOOTINGS)}")
