"""Put rows measured at different times on one footing, using the reference workload.

The machine's speed drifts by several percent over minutes, and CodeCarbon's estimate here is
power × time, so energy drifts with it. Every run measures a fixed reference convolution about
once a minute; a row's drift factor is the run's median reference energy divided by the
reference energy near that row's time (a rolling median of three readings, to damp their own
noise). Multiplying a row's energy by its factor gives the energy "at the run's typical speed".
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def drift_factors(df: pd.DataFrame) -> pd.Series:
    """Per-row factor (dimensionless, ~1), aligned with ``df``'s index; 1.0 where unknown."""
    out = pd.Series(1.0, index=df.index)
    if "run_id" not in df or "timestamp" not in df:
        return out
    refs = df[(df["row_kind"] == "reference") & (df["status"] == "ok")]
    for run_id, ref in refs.groupby("run_id"):
        ref = ref.sort_values("timestamp")
        smooth = ref["energy_j"].rolling(3, center=True, min_periods=1).median()
        table = pd.DataFrame({"timestamp": ref["timestamp"].to_numpy(),
                              "factor": (ref["energy_j"].median() / smooth).to_numpy()})
        rows = df[(df["run_id"] == run_id) & df["timestamp"].notna()]
        if rows.empty:
            continue
        left = pd.DataFrame({"timestamp": rows["timestamp"].to_numpy(), "pos": rows.index})
        merged = pd.merge_asof(left.sort_values("timestamp"), table, on="timestamp",
                               direction="nearest")
        out.loc[merged["pos"].to_numpy()] = merged["factor"].to_numpy()
    return out.replace([np.inf, -np.inf], 1.0).fillna(1.0)


def corrected(df: pd.DataFrame, columns: tuple[str, ...] = ("energy_j", "cpu_energy_j",
                                                               "ram_energy_j", "gpu_energy_j")
              ) -> pd.DataFrame:
    """A copy of ``df`` with its energy columns multiplied by their drift factors."""
    out = df.copy()
    f = drift_factors(df)
    for c in columns:
        if c in out:
            out[c] = out[c] * f
    out["drift_factor"] = f
    return out
