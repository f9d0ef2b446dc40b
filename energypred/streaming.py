"""Weights streamed from memory: what a leaf costs inside a network when its weights fit the cache.

A leaf measured alone is called over and over, so weights that fit the last-level cache stay
there; inside a network they come back from memory on every pass. The evicted-weight protocol
(``measurement/in_network.py``) measures such leaves again with the cache emptied of their
weights before each call. On the Zen 4 VM the smallest AlexNet (batch 1, 96 px, width 0.25)
ran its three Linear leaves in 0.33 ms alone and 0.92 ms inside the network
(``scripts/leaf_times_in_network.py``), and the evicted-weight leaves added up to within
-1.9 % of the whole; the one context scalar per weight byte, weighted by the VGGs (whose large
layers are compute-bound or stream from memory even alone), missed that variant by 64 %.

The model is a roofline with the compute side taken from the leaf alone: reading ``w`` weight
bytes from memory costs at least ``k × w``, and a leaf costs the larger of that and what it
costs with its weights cached::

    in network J = max(alone J, k × w)      for MIN_WEIGHT_BYTES <= w < 2 × LLC
    in network J = alone J                  otherwise (as measured: see in_network.py)

so memory-bound leaves (a small batch through a Linear layer) pay for streaming, and
compute-bound ones (a convolution at 224 px) pay nothing extra. ``k`` is fitted per (phase,
layer type) on the leaves measured both ways, minimising the mean relative error of
``max(alone, k × w)`` against the evicted-weight measurement over a log grid; a layer type
with fewer than ``MIN_PAIRS`` pairs uses the phase's pooled ``k`` (key ``POOLED``).

Opt-in (``fit_context(stream=True)``), not the default: held out on the Zen 4 VM it predicted
whole networks worse than one coefficient per cached weight byte (``energypred.context`` says by
how much and why: the evicted leaves pay for their weights additively, not as a maximum).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from energypred.dataset import network_leaves
from energypred.hardware import DEFAULT_LLC_BYTES
from energypred.measurement.in_network import MIN_WEIGHT_BYTES
from energypred.schema import EVICTED_LEAF

#: a layer type with fewer pairs than this uses the phase's pooled coefficient
MIN_PAIRS = 10
#: key of the coefficient fitted on every layer type of a phase
POOLED = "all"
#: candidate coefficients, J per weight byte: 0 (no extra) and 40 per decade from 1 pJ/B
#: to 100 nJ/B
GRID_J_PER_BYTE = np.concatenate([[0.0], np.logspace(-12, -7, 201)])
_KEYS = ["arch_hash", "phase", "layer_index"]


def evicted_pairs(df: pd.DataFrame, target: str = "energy_j",
                  exclude_architectures: Sequence[str] = ()) -> pd.DataFrame:
    """Leaves measured both alone and with evicted weights (same variant, phase and layer
    index): columns ``phase``, ``layer_type``, ``architecture``, ``weight_bytes`` (float32,
    bytes), ``batch_size``, ``alone_j`` and ``evicted_j`` (J per call)."""
    ok = df[df["status"] == "ok"]
    if exclude_architectures and "architecture" in ok:
        ok = ok[~ok["architecture"].isin(list(exclude_architectures))]
    evicted = network_leaves(ok, evicted=True)
    evicted = evicted[evicted["row_kind"] == EVICTED_LEAF]
    cols = ["phase", "layer_type", "architecture", "weight_bytes", "batch_size", "alone_j",
            "evicted_j"]
    if evicted.empty:
        return pd.DataFrame(columns=cols)
    alone = network_leaves(ok)
    pairs = evicted[_KEYS + ["layer_type", "architecture", "weight_elements", "batch_size",
                             target]].merge(
        alone[_KEYS + [target]], on=_KEYS, suffixes=("_evicted", "_alone"))
    pairs["weight_bytes"] = pairs["weight_elements"].astype(float) * 4
    pairs = pairs.rename(columns={f"{target}_evicted": "evicted_j", f"{target}_alone": "alone_j"})
    return pairs[cols].reset_index(drop=True)


def in_range(weight_bytes: float, llc_bytes: int) -> bool:
    """Whether a leaf with these weight bytes pays for streaming them (module doc): the range
    the evicted-weight protocol measures, ``MIN_WEIGHT_BYTES <= w < 2 × LLC``."""
    return MIN_WEIGHT_BYTES <= weight_bytes < 2 * llc_bytes


def streamed_j(k_j_per_byte: float, weight_bytes: float, alone_j: float, llc_bytes: int
               ) -> float:
    """Extra J per call of a leaf in a network over ``alone_j`` (its J per call alone):
    ``max(0, k × w - alone)`` inside :func:`in_range`, else 0."""
    if k_j_per_byte <= 0 or not in_range(weight_bytes, llc_bytes) or not np.isfinite(alone_j):
        return 0.0
    return max(0.0, k_j_per_byte * weight_bytes - alone_j)


def best_k(weight_bytes: np.ndarray, alone_j: np.ndarray, evicted_j: np.ndarray) -> float:
    """The grid coefficient (J per weight byte) minimising the mean relative error of
    ``max(alone, k × w)`` against ``evicted`` (first one on ties, so 0 when nothing helps)."""
    w, a, e = (np.asarray(v, float) for v in (weight_bytes, alone_j, evicted_j))
    pred = np.maximum(a[None, :], GRID_J_PER_BYTE[:, None] * w[None, :])
    err = np.mean(np.abs(pred - e[None, :]) / e[None, :], axis=1)
    return float(GRID_J_PER_BYTE[int(np.argmin(err))])


def usable_pairs(pairs: pd.DataFrame, llc_bytes: int) -> pd.DataFrame:
    """The pairs a fit uses: weights :func:`in_range`, both energies positive."""
    if pairs.empty:
        return pairs
    keep = [in_range(w, llc_bytes) for w in pairs["weight_bytes"]]
    use = pairs[keep]
    return use[(use["alone_j"] > 0) & (use["evicted_j"] > 0)]


def fit_stream(pairs: pd.DataFrame, llc_bytes: int, min_pairs: int = MIN_PAIRS
               ) -> dict[str, dict[str, float]]:
    """Per phase, ``{layer type: k, POOLED: k}`` in J per weight byte (module doc), from the
    pairs of :func:`evicted_pairs` whose weights lie :func:`in_range`; a phase without such
    pairs is absent."""
    out: dict[str, dict[str, float]] = {}
    for phase, g in usable_pairs(pairs, llc_bytes).groupby("phase"):
        ks = {POOLED: best_k(g["weight_bytes"], g["alone_j"], g["evicted_j"])}
        for lt, part in g.groupby("layer_type"):
            if len(part) >= min_pairs:
                ks[str(lt)] = best_k(part["weight_bytes"], part["alone_j"], part["evicted_j"])
        out[str(phase)] = ks
    return out


def coefficient(ks: dict[str, float], layer_type: str) -> float:
    """A layer type's own coefficient, else the pooled one, else 0 (J per weight byte)."""
    return float(ks.get(layer_type, ks.get(POOLED, 0.0)))


def evicted_j_per_byte(df: pd.DataFrame, llc_bytes: int | None, target: str = "energy_j"
                       ) -> dict[str, tuple[float, int]]:
    """Per phase, (median over leaf pairs of (evicted - alone) J per cached weight byte,
    weighted by the cached bytes min(w, LLC); number of pairs): the cost of re-reading weights
    as one figure, for comparison with the fitted coefficients.

    A weighted median, not a ratio of sums: on the Zen 4 VM a few leaves measured alone ran
    up to 2.7x slow, and their pairs turned the ratio of sums over 394 pairs negative
    (-0.004 nJ/B) while the median Linear leaf cost 1.25x evicted.
    """
    pairs = evicted_pairs(df, target)
    out: dict[str, tuple[float, int]] = {}
    for phase, g in pairs.groupby("phase"):
        cached = np.minimum(g["weight_bytes"].to_numpy(float),
                            float(llc_bytes or DEFAULT_LLC_BYTES))
        extra = (g["evicted_j"] - g["alone_j"]).to_numpy(float)
        ok = cached > 0
        out[str(phase)] = (_weighted_median(extra[ok] / cached[ok], cached[ok]), len(g))
    return out


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which the cumulative weight first reaches half the total (NaN if none)."""
    if len(values) == 0:
        return float("nan")
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2)])
