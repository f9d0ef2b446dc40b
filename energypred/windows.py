"""Steady-state energies: the first window of each measurement counted as warm-up.

The protocol (``measurement/protocol.py``) warms a workload up for a few calls, at least one,
before its windows. That is enough for small layers but not for a training step of a large
network, whose first window still pays the memory allocator's warm-up (fresh pages for the
gradients until glibc raises its mmap threshold to their size). Measured on the shipped data:
whole VGG11 training steps with windows of [30.3, 16.8, 17.1] J or
[19.9, 11.8, 9.8 | 21.1, 12.1, 10.4] J per call (a bracket: two measurements of three windows);
a training run repeats its step thousands of times, so its energy is the later windows'.

:func:`steady_state` recomputes every row from its stored windows (``energy_j_repeats``,
``duration_s_repeats``) without the first window of each measurement (each of the
``whole_measurements`` pooled in a whole network's row, bracket.py), where at least one window
is left. Component energies (CPU, RAM, GPU) are scaled by the same factor as the total; the
stored windows stay as measured. Effect on the shipped data, whole models with architectures
held out: training MAPE 12.9 -> 11.4 %, inference 8.1 -> 8.1 %.

A whole network's row pools several measurements of it (interleaved between its leaves). With
``pool="median"`` its energy is the median of those measurements' steady means instead of the
mean of all their windows: on a shared VM a disturbance (a neighbour's load, steal time) only
ever slows a workload down, so one disturbed measurement of five moves the mean, not the
median. Rows of fewer than three measurements (every leaf) are the mean either way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_COMPONENTS = ("cpu_energy_j", "ram_energy_j", "gpu_energy_j")


def _parts(row_windows: int, measurements: object) -> int:
    """Number of equal measurements pooled in one row: its ``whole_measurements`` (filled for
    rows older than schema 4 by ``dataset.read_dataset``), else 1."""
    k = int(measurements) if measurements is not None and pd.notna(measurements) else 1
    return k if k > 1 and row_windows % k == 0 and row_windows >= 2 * k else 1


def steady_windows(windows: list[float] | np.ndarray, measurements: int = 1) -> np.ndarray:
    """The windows of ``measurements`` equal consecutive measurements without the first window
    of each (a measurement of one window keeps it)."""
    w = np.asarray(windows, float)
    parts = np.array_split(w, measurements)
    return np.concatenate([p[1:] if len(p) > 1 else p for p in parts])


def _measurement_means(steady: np.ndarray, measurements: int) -> np.ndarray:
    """The mean of each of ``measurements`` equal measurements' steady windows."""
    return np.array([np.mean(p) for p in np.array_split(steady, measurements)])


def pooled_sem(windows: list[float] | np.ndarray, measurements: object) -> float:
    """Standard error of a pooled row's energy as a fraction of it, from the spread of its
    measurements' steady means (std / sqrt(count) / mean); NaN for fewer than 2 measurements.

    A predictor that knew each whole network's true energy would still miss the measured one
    by about sqrt(2 / pi) = 0.8 times this, on average (``evaluate``'s noise floor)."""
    w = np.asarray(windows, float)
    k = _parts(len(w), measurements)
    if k < 2:
        return float("nan")
    means = _measurement_means(steady_windows(w, k), k)
    return float(np.std(means, ddof=1) / np.sqrt(k) / np.mean(means))


#: how a row's steady windows become its energy (module doc)
POOLS = ("mean", "median")


def pooled_value(windows: list[float] | np.ndarray, measurements: object,
                 pool: str = "mean") -> float:
    """One row's value per call (J or s) from its stored windows: the mean of its steady
    windows, or with ``pool="median"`` and at least three pooled measurements the median of
    the measurements' steady means."""
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {', '.join(POOLS)}, not {pool!r}")
    w = np.asarray(windows, float)
    k = _parts(len(w), measurements)
    steady = steady_windows(w, k)
    if pool == "median" and k >= 3:
        return float(np.median(_measurement_means(steady, k)))
    return float(np.mean(steady))


def steady_state(df: pd.DataFrame, pool: str = "mean") -> pd.DataFrame:
    """A copy of ``df`` whose energies (J per call) and durations (s per call) come from the
    steady windows, pooled by ``pool`` (module doc: ``mean`` or ``median``); rows without
    stored windows are unchanged."""
    out = df.copy()
    if "energy_j_repeats" not in out or out.empty:
        return out
    pooled = out.get("whole_measurements", pd.Series(None, index=out.index, dtype=object))
    energy = out["energy_j"].to_numpy(float).copy()
    duration = out["duration_s"].to_numpy(float).copy()
    factor = np.ones(len(out))
    for i, (e_w, d_w, k_w) in enumerate(zip(out["energy_j_repeats"],
                                             out["duration_s_repeats"], pooled, strict=True)):
        if not (np.isfinite(energy[i]) and energy[i] > 0) or not hasattr(e_w, "__len__") \
                or len(e_w) < 2:
            continue
        new_e = pooled_value(e_w, k_w, pool)
        factor[i] = new_e / energy[i]
        energy[i] = new_e
        if hasattr(d_w, "__len__") and len(d_w) == len(e_w):
            duration[i] = pooled_value(d_w, k_w, pool)
    out["energy_j"] = energy
    out["duration_s"] = duration
    for col in _COMPONENTS:
        if col in out:
            out[col] = out[col].to_numpy(float) * factor
    return out
