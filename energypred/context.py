"""The network context: what a layer costs inside a network beyond what it costs alone.

A layer measured alone is called over and over, so its weights stay in the last-level cache
when they fit; inside a network every other layer's weights and activations pass through the
cache between two calls, so each layer's weights come back from memory on every pass. Measured
on the shipped dataset: small networks (batch 1) cost 35-55 % more whole than the sum of their
separately measured leaves, about 1-1.6 nJ per weight byte that fits in the cache (fitted on
the 5,590-row dataset: 1.06 nJ/B at inference, 1.07 nJ/B in training; training showed none
before its whole networks were measured bracketing their leaves).

Beside the weights, every leaf call costs a little more inside than alone, whatever its
weights: its input and output buffers are cold (written by another layer, or evicted since the
last pass), and the network runs its glue between leaves (``flatten``, views, the module
calls). Timing each leaf inside AlexNet (``scripts/leaf_times_in_network.py``) put 0.13 ms of
the first convolution's 0.24 ms on its cold input, and 0.22 ms of the 5.08 ms pass between
leaves. The second term prices that per leaf call.

The correction, per layer and phase::

    context J = k_byte × min(weight bytes, LLC) + k_leaf

with ``k_byte, k_leaf >= 0`` fitted by non-negative least squares on relative error, on
whole-model rows against the sum of their own measured leaves (so it never sees a predictor's
errors), only on the architectures it is allowed to see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from energypred.configs import ArchConfig
from energypred.dataset import network_leaves
from energypred.errors import ConfigError
from energypred.measurement import workloads as wl
from energypred.schema import EVICTED_LEAF

DEFAULT_LLC_BYTES = 32 * 1024 * 1024


def cached_bytes(weight_bytes: float, llc_bytes: int) -> float:
    """Weight bytes of one layer that stay in the cache when it runs alone: min(w, LLC)."""
    return min(float(weight_bytes), float(llc_bytes))


def cached_weight_bytes(weight_bytes: Sequence[float], llc_bytes: int) -> float:
    """Weight bytes that fit the cache when their layers run alone, summed
    (:func:`cached_bytes`)."""
    return float(sum(cached_bytes(w, llc_bytes) for w in weight_bytes))


@dataclass(frozen=True)
class Context:
    """Fitted context coefficients per phase: J per cached weight byte, J per leaf call."""

    llc_bytes: int
    j_per_byte: dict[str, float]
    n_rows: dict[str, int]
    j_per_leaf: dict[str, float] = field(default_factory=dict)

    def energy_j(self, weight_bytes: Sequence[float], phase: str) -> list[float]:
        """Per-layer context energy (J), one entry per leaf call with these weight bytes."""
        k = self.j_per_byte.get(phase, 0.0)
        c = self.j_per_leaf.get(phase, 0.0)
        return [k * cached_bytes(w, self.llc_bytes) + c for w in weight_bytes]

    def to_dict(self) -> dict[str, object]:
        """JSON-able form for predictor metadata."""
        return {"llc_bytes": self.llc_bytes, "j_per_byte": self.j_per_byte,
                "j_per_leaf": self.j_per_leaf, "n_rows": self.n_rows}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Context:
        """Inverse of :meth:`to_dict`; an absent entry means no correction (predictors fitted
        before the per-leaf term have none)."""
        if not d:
            return cls(DEFAULT_LLC_BYTES, {}, {})
        return cls(int(d["llc_bytes"]), {k: float(v) for k, v in d["j_per_byte"].items()},
                   {k: int(v) for k, v in d.get("n_rows", {}).items()},
                   {k: float(v) for k, v in d.get("j_per_leaf", {}).items()})


def llc_for(df: pd.DataFrame) -> int:
    """LLC size for a dataset: this machine's if the data was measured here, else 32 MiB."""
    from energypred.hardware import fingerprint

    here = fingerprint()
    ids = set(df.get("hardware_id", pd.Series(dtype=object)).dropna())
    if ids == {here["hardware_id"]} and here.get("llc_bytes"):
        return int(here["llc_bytes"])
    return DEFAULT_LLC_BYTES


#: the terms of the context model (module doc); ``fit_context(terms=...)`` fits a subset
TERMS = ("bytes", "leaf")


def fit_context(df: pd.DataFrame, llc_bytes: int | None, target: str = "energy_j",
                exclude_architectures: Sequence[str] = (),
                terms: Sequence[str] = TERMS) -> Context:
    """Fit ``k_byte, k_leaf >= 0`` per phase (module doc): whole - sum of measured leaves ≈
    k_byte × cached weight bytes + k_leaf × leaf calls.

    Non-negative least squares on relative error (each row weighted by 1 / whole); rows whose
    leaves are not all measured are skipped. ``terms`` leaves a term out (its coefficient 0),
    e.g. ``("bytes",)`` for the weights-only model of earlier predictors.
    """
    unknown = set(terms) - set(TERMS)
    if unknown or not terms:
        raise ConfigError(f"context terms must be a non-empty subset of {TERMS}, got {terms}")
    llc = int(llc_bytes or DEFAULT_LLC_BYTES)
    ok = df[df["status"] == "ok"]
    whole = ok[ok["row_kind"] == "architecture"]
    if exclude_architectures:
        whole = whole[~whole["architecture"].isin(list(exclude_architectures))]
    leaves = network_leaves(df)
    sums = leaves.groupby(["arch_hash", "phase"])[target].agg(["sum", "size"])
    xs: dict[str, list[tuple[float, float, float, float]]] = {}
    for _, row in whole.iterrows():
        key = (row["config_hash"], row["phase"])
        if key not in sums.index:
            continue
        traced = wl.trace_arch(ArchConfig.from_json(row["config_json"]))
        if int(sums.loc[key, "size"]) != len(traced):
            continue
        w = [r.counts.weight_elements * 4 for r in traced if r.counts is not None]
        xs.setdefault(row["phase"], []).append(
            (cached_weight_bytes(w, llc), float(len(traced)),
             float(row[target]) - float(sums.loc[key, "sum"]), float(row[target])))
    per_byte: dict[str, float] = {}
    per_leaf: dict[str, float] = {}
    for phase, vals in xs.items():
        cached, calls, gap, y = (np.array(v) for v in zip(*vals, strict=True))
        use = np.array([t in terms for t in TERMS], dtype=float)  # a left-out column is 0
        per_byte[phase], per_leaf[phase] = _nnls(
            np.column_stack([cached, calls]) * use / y[:, None], gap / y)
    return Context(llc, per_byte, {p: len(v) for p, v in xs.items()}, per_leaf)


def _nnls(X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Non-negative least squares of two columns, each scaled to 1 first (bytes ~1e8, calls
    ~1e1): returns the coefficients in the columns' own units."""
    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0
    coef, _ = nnls(X / scale, y)
    k = coef / scale
    return float(k[0]), float(k[1])


def evicted_j_per_byte(df: pd.DataFrame, llc_bytes: int | None,
                       target: str = "energy_j") -> dict[str, tuple[float, int]]:
    """The context measured leaf by leaf: per phase, (median over leaf pairs of (evicted -
    alone) J per cached weight byte, weighted by the cached bytes; number of pairs), over the
    leaves measured both alone and with their weights evicted (``arch_layer_evicted``, same
    variant and layer index).

    A weighted median, not a ratio of sums: on the Zen 4 VM a few leaves measured alone ran
    up to 2.7x slow, and their pairs turned the ratio of sums over 394 pairs negative
    (-0.004 nJ/B) while the median Linear leaf cost 1.25x evicted. An independent check of
    the ``k_byte`` that :func:`fit_context` fits on whole networks.
    """
    llc = int(llc_bytes or DEFAULT_LLC_BYTES)
    ok = df[df["status"] == "ok"]
    evicted = network_leaves(ok, evicted=True)
    evicted = evicted[evicted["row_kind"] == EVICTED_LEAF]
    if evicted.empty:
        return {}
    alone = network_leaves(ok)
    keys = ["arch_hash", "phase", "layer_index"]
    pairs = evicted[keys + [target, "weight_elements"]].merge(
        alone[keys + [target]], on=keys, suffixes=("_evicted", "_alone"))
    out: dict[str, tuple[float, int]] = {}
    for phase, g in pairs.groupby("phase"):
        cached = np.array([cached_bytes(w * 4, llc) for w in g["weight_elements"]], float)
        extra = (g[f"{target}_evicted"] - g[f"{target}_alone"]).to_numpy(float)
        out[str(phase)] = (_weighted_median(extra[cached > 0] / cached[cached > 0],
                                            cached[cached > 0]), len(g))
    return out


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which the cumulative weight first reaches half the total (NaN if none)."""
    if len(values) == 0:
        return float("nan")
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2)])
