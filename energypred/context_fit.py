"""Fitting the network context (``energypred.context``) on whole-model rows.

Each whole network measured with all of its leaves gives one equation: the whole minus the sum
of its leaves measured alone (plus their streamed J, if any) is what the context must price::

    whole - leaves ≈ k_byte × re-read weight bytes + k_leaf × leaf calls
                     [+ k_act × activation bytes] [+ k_lin × J of its Linear leaves alone]
                     [+ k_sample × Σ min(batch, cap) over its leaf calls]
                     [+ k_lin_b × Σ re-read weight bytes × min(batch, cap), Linear leaves]
                     [- k_fresh × J alone of its weightless leaves streaming their data alone]
                     [+ k_step (training: a constant per step)]

``k_byte, k_leaf, k_act, k_lin, k_sample, k_lin_b, k_fresh, k_step >= 0`` are fitted per phase by
non-negative least squares on relative error (each row weighted by 1 / whole), so a VGG16
training step and a batch-1 AlexNet count alike, and only on the architectures the fit may see
(held out, the evaluated one is left out). The measured leaves stand in for the regressors'
predictions, so the context never learns a predictor's errors. The "fresh" column enters
negated, so its non-negative coefficient is a credit, held at most 1 (``MAX_FRESH``: a leaf
gives back at most what it costs alone).

With ``spill`` (the default) the effective cache C is fitted with them: each C of
``CACHE_GRID_MIB`` up to the machine's LLC prices the weight column as ``spill × min(w, C /
copies)`` (``Context.reread_bytes``); the C with the least sum of squared relative residuals
over both phases wins, against the LLC without a spill factor (the model before it), which a
cache must beat by ``SPILL_GAIN`` of the residual: a tie keeps the simpler model. With a batch
term the cap on the samples it counts per leaf call is then chosen the same way
(``BATCH_CAP_GRID`` against none, ``Context.batch_cap``): the evicted-weight Linear leaves'
extra cost per byte grows with the batch up to 8 and then levels off (0.97 nJ/B at 8, 0.98 at
16), so a term linear in the batch would overprice the batches users price (32-256).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.optimize import nnls

from energypred.configs import ArchConfig
from energypred.context import LINEAR, STATE_COPIES, Context, activation_bytes
from energypred.dataset import network_leaves
from energypred.errors import ConfigError
from energypred.hardware import DEFAULT_LLC_BYTES, fingerprint
from energypred.measurement import workloads as wl
from energypred.streaming import evicted_pairs, fit_stream, usable_pairs

#: every term of the context model, in the order of the fit's columns; ``fit_context(terms=...)``
#: fits a subset
ALL_TERMS = ("bytes", "leaf", "activations", "linear", "batch", "linear_batch", "fresh",
             "step")
#: the default terms
TERMS = ("bytes", "leaf")
#: the "fresh" credit's column, and its bound: at most all of a leaf's J alone
FRESH, MAX_FRESH = ALL_TERMS.index("fresh"), 1.0
#: phases the "step" term is fitted in (elsewhere its column is 0): at inference on the Zen 5
#: VM a constant per call fitted on the VGGs priced AlexNet 3.5 % too high (context.py)
STEP_PHASES = ("training",)
#: caches (MiB) the spill fit tries, up to the machine's LLC
CACHE_GRID_MIB = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)
#: sample caps the batch terms' fit tries (``Context.batch_cap``), against no cap
BATCH_CAP_GRID = (4, 8, 16, 32, 64)
#: share of the squared residual a cache must remove to replace the best model before it (the
#: LLC without a spill factor first)
SPILL_GAIN = 1e-3


def llc_for(df: pd.DataFrame, llc_bytes: int | None = None) -> int:
    """The last-level cache of the machine that measured ``df`` (bytes), which the context's
    cache is fitted up to.

    In order: ``llc_bytes`` when given (``--llc-mib``); the size the rows recorded (schema 6
    on); this machine's when the rows were measured here (the same hardware id, and the same
    CPU signature where they recorded one). A fit must not depend on where it runs, so rows
    measured elsewhere that recorded no size are refused rather than priced with this
    machine's cache or a default.

    Raises:
        ConfigError: ``llc_bytes`` is not positive, the rows record several sizes, or none is
            recorded and the rows come from another machine.
    """
    if llc_bytes is not None:
        if llc_bytes <= 0:
            raise ConfigError(f"the LLC must be a positive number of bytes, got {llc_bytes}")
        return int(llc_bytes)
    recorded = sorted({int(v) for v in df.get("llc_bytes", pd.Series(dtype=float)).dropna()})
    if len(recorded) > 1:
        sizes = ", ".join(f"{v / 2**20:g} MiB" for v in recorded)
        raise ConfigError(f"the rows record several LLC sizes ({sizes}): keep one machine's "
                          "rows (--hardware-id) or pass --llc-mib")
    if recorded:
        return recorded[0]
    here = fingerprint()
    ids = set(df.get("hardware_id", pd.Series(dtype=object)).dropna())
    sigs = set(df.get("cpu_signature", pd.Series(dtype=object)).dropna())
    if (ids == {here["hardware_id"]} and sigs <= {here.get("cpu_signature")}
            and here.get("llc_bytes")):
        return int(here["llc_bytes"])
    where = ", ".join(sorted(sigs) or sorted(ids)) or "no machine recorded"
    raise ConfigError(f"the rows do not record the LLC of the machine that measured them "
                      f"({where}) and this machine is another one: pass --llc-mib with that "
                      "machine's L3 size (lscpu) so the fit does not depend on where it runs")


def terms_of(ctx: Context) -> tuple[str, ...]:
    """The terms to refit a context like ``ctx`` with: ``TERMS`` and its opt-in terms."""
    return TERMS + ctx.opt_in_terms


def parse_terms(text: str) -> tuple[str, ...]:
    """Context terms from a comma list (``"bytes,leaf,batch"``), checked (:func:`check_terms`)."""
    terms = tuple(t.strip() for t in text.split(",") if t.strip())
    check_terms(terms)
    return terms


def check_terms(terms: Sequence[str]) -> None:
    """Raise ConfigError unless ``terms`` is a non-empty subset of ``ALL_TERMS``."""
    if set(terms) - set(ALL_TERMS) or not terms:
        raise ConfigError(f"context terms must be a non-empty subset of "
                          f"{','.join(ALL_TERMS)}, got {','.join(terms) or 'none'}")


@dataclass(frozen=True)
class _Row:
    """One whole-model row as the context fit sees it (bytes, calls, samples, J)."""

    weight_bytes: list[float]
    calls: float
    act_bytes: float
    linear_j: float
    layer_types: list[str]
    batch_sizes: list[float]
    #: (input + output bytes, measured J alone) of each weightless leaf call (the "fresh" term)
    weightless: list[tuple[float, float]]
    gap_j: float
    whole_j: float


def fit_context(df: pd.DataFrame, llc_bytes: int | None, target: str = "energy_j",
                exclude_architectures: Sequence[str] = (),
                terms: Sequence[str] = TERMS, stream: bool = False, spill: bool = True,
                batch_cap: bool = True) -> Context:
    """Fit the context per phase (module doc): first the streaming coefficients on the leaves
    measured with evicted weights (if ``stream`` and there are any), then the coefficients of
    ``terms`` (J per re-read weight byte, per leaf call, per activation byte, per J of a
    Linear leaf alone, per sample of a leaf call, per re-read weight byte of a Linear leaf per
    sample, per J of a weightless leaf streaming alone (a credit), per training step) and, with
    ``spill``, the effective cache.
    In a phase with streaming coefficients ``k_byte`` is 0: the streamed J replaces it.

    Rows whose leaves are not all measured are skipped. ``terms`` leaves a term out (its
    coefficient 0), e.g. ``("bytes",)`` for the weights-only model of earlier predictors;
    ``stream=False`` gives the model before streaming, ``spill=False`` the machine's LLC,
    ``batch_cap=False`` batch terms that count every sample (the model before the cap).
    """
    check_terms(terms)
    llc = int(llc_bytes or DEFAULT_LLC_BYTES)
    pairs = evicted_pairs(df, target, exclude_architectures) if stream else None
    per_stream = fit_stream(pairs, llc) if pairs is not None else {}
    rows = _whole_rows(df, target, exclude_architectures, Context(llc, {}, {}, {}, per_stream))
    use = {phase: np.array([t in terms and not (t == "bytes" and phase in per_stream)
                            and not (t == "step" and phase not in STEP_PHASES)
                            for t in ALL_TERMS], dtype=float) for phase in rows}
    cache = _best_cache(rows, use, llc) if spill and "bytes" in terms else None
    probe = Context(llc, {}, {}, state_copies=dict(STATE_COPIES), cache_bytes=cache)
    if batch_cap and {"batch", "linear_batch"} & set(terms):
        probe = _best_batch_cap(rows, use, probe)
    fitted = {phase: _fit_phase(vals, phase, use[phase], probe)[0]
              for phase, vals in rows.items()}

    def opt_in(term: str) -> dict[str, float]:
        i = ALL_TERMS.index(term)
        return {p: k[i] for p, k in fitted.items()} if term in terms else {}

    n_pairs = ({str(p): int(n) for p, n in usable_pairs(pairs, llc).groupby("phase").size()
                .items()} if pairs is not None else {})
    return Context(llc, {p: k[0] for p, k in fitted.items()},
                   {p: len(v) for p, v in rows.items()}, {p: k[1] for p, k in fitted.items()},
                   per_stream, n_pairs, opt_in("activations"),
                   {p: STATE_COPIES.get(p, 1) for p in rows}, opt_in("linear"), cache,
                   opt_in("batch"), opt_in("linear_batch"), probe.batch_cap,
                   opt_in("fresh"), opt_in("step"))


def _whole_rows(df: pd.DataFrame, target: str, exclude_architectures: Sequence[str],
                streaming: Context) -> dict[str, list[_Row]]:
    """Per phase, the whole-model rows with every leaf measured, as the fit sees them; the
    leaves' streamed J (``streaming``'s coefficients, if any) counts with the leaves."""
    ok = df[df["status"] == "ok"]
    whole = ok[ok["row_kind"] == "architecture"]
    if exclude_architectures:
        whole = whole[~whole["architecture"].isin(list(exclude_architectures))]
    leaves = network_leaves(df)
    leaves["_in_network"] = leaves[target].astype(float)
    for phase, idx in leaves.groupby("phase").groups.items():
        if phase in streaming.j_per_stream_byte:
            part = leaves.loc[idx]
            leaves.loc[idx, "_in_network"] += streaming.rows_energy_j(part, str(phase),
                                                                      part[target])
    leaves["_linear"] = leaves[target].astype(float).where(leaves["layer_type"] == LINEAR, 0.0)
    sums = leaves.groupby(["arch_hash", "phase"]).agg(
        sum=("_in_network", "sum"), size=("_in_network", "size"), linear=("_linear", "sum"))
    weightless = _weightless(leaves, target)
    rows: dict[str, list[_Row]] = {}
    for _, row in whole.iterrows():
        key = (row["config_hash"], row["phase"])
        if key not in sums.index:
            continue
        traced = wl.trace_arch(ArchConfig.from_json(row["config_json"]))
        if int(sums.loc[key, "size"]) != len(traced):
            continue
        priced = [r for r in traced if r.counts is not None]
        counts = [r.counts for r in priced]
        rows.setdefault(row["phase"], []).append(_Row(
            weight_bytes=[c.weight_elements * 4.0 for c in counts], calls=float(len(traced)),
            act_bytes=4.0 * sum(c.input_elements + c.output_elements for c in counts),
            linear_j=float(sums.loc[key, "linear"]),
            layer_types=[str(r.layer_type) for r in priced],
            batch_sizes=[float(r.input_shape[0]) for r in priced],
            weightless=weightless.get(key, []),
            gap_j=float(row[target]) - float(sums.loc[key, "sum"]), whole_j=float(row[target])))
    return rows


def _weightless(leaves: pd.DataFrame, target: str
                ) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Per (network, phase), (input + output bytes, J alone) of its weightless measured
    leaves."""
    none = leaves[leaves["weight_elements"].astype(float).fillna(0.0) == 0]
    act = activation_bytes(none)
    return {(str(h), str(p)): list(zip(act.loc[g.index], g[target].astype(float), strict=True))
            for (h, p), g in none.groupby(["arch_hash", "phase"])}


def _fit_phase(rows: Sequence[_Row], phase: str, use: np.ndarray, ctx: Context
               ) -> tuple[list[float], float]:
    """(coefficients in ``ALL_TERMS`` order, residual norm) of the NNLS fit on relative error
    of one phase, the weight column priced with ``ctx``'s cache (a left-out term's column is
    0, so its coefficient is 0)."""
    X = np.column_stack([
        [sum(ctx.reread_bytes(r.weight_bytes, phase)) for r in rows], [r.calls for r in rows],
        [r.act_bytes for r in rows], [r.linear_j for r in rows],
        [sum(ctx.samples(b) for b in r.batch_sizes) for r in rows],
        [sum(ctx.linear_batch_bytes(r.weight_bytes, phase, r.layer_types, r.batch_sizes))
         for r in rows],
        [-sum(ctx.fresh_j(0.0, a, j) for a, j in r.weightless) for r in rows],
        [1.0 for _ in rows]]) * use
    y = np.array([r.whole_j for r in rows])
    gap = np.array([r.gap_j for r in rows])
    coef, residual = _nnls(X / y[:, None], gap / y)
    if coef[FRESH] <= MAX_FRESH:
        return coef, residual
    # a leaf cannot give back more than it costs alone: hold the credit at its bound, refit
    # the rest on what it leaves
    rest = X.copy()
    rest[:, FRESH] = 0.0
    coef, residual = _nnls(rest / y[:, None], (gap - MAX_FRESH * X[:, FRESH]) / y)
    coef[FRESH] = MAX_FRESH
    return coef, residual


def _best_cache(rows: dict[str, list[_Row]], use: dict[str, np.ndarray], llc: int
                ) -> int | None:
    """The cache (bytes) whose spill model fits the rows of every phase best (least sum of
    squared relative residuals), among ``CACHE_GRID_MIB`` up to the LLC; None when none
    fits clearly better (``SPILL_GAIN``) than the machine's whole LLC without a spill factor
    (the model before it): a tie keeps the simpler model."""
    def sse(ctx: Context) -> float:
        return sum(_fit_phase(v, p, use[p], ctx)[1] ** 2 for p, v in rows.items())

    best, best_sse = None, sse(Context(llc, {}, {}, state_copies=dict(STATE_COPIES)))
    for mib in CACHE_GRID_MIB:
        if mib * 2**20 > llc:
            break
        e = sse(Context(llc, {}, {}, state_copies=dict(STATE_COPIES), cache_bytes=mib * 2**20))
        if e < best_sse - max(SPILL_GAIN * best_sse, 1e-12):
            best, best_sse = mib * 2**20, e
    return best


def _best_batch_cap(rows: dict[str, list[_Row]], use: dict[str, np.ndarray], ctx: Context
                    ) -> Context:
    """``ctx`` with the sample cap of the batch terms (``BATCH_CAP_GRID``) whose fit leaves
    the least sum of squared relative residuals over every phase, or none: a cap must beat
    counting every sample by ``SPILL_GAIN`` of the residual (a tie keeps the simpler model)."""
    def sse(c: Context) -> float:
        return sum(_fit_phase(v, p, use[p], c)[1] ** 2 for p, v in rows.items())

    best, best_sse = ctx, sse(ctx)
    for cap in BATCH_CAP_GRID:
        trial = replace(ctx, batch_cap=cap)
        if (e := sse(trial)) < best_sse - max(SPILL_GAIN * best_sse, 1e-12):
            best, best_sse = trial, e
    return best


def _nnls(X: np.ndarray, y: np.ndarray) -> tuple[list[float], float]:
    """Non-negative least squares, each column scaled to 1 first (bytes ~1e8, calls ~1e1):
    (the coefficients in the columns' own units, the residual norm)."""
    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0
    coef, residual = nnls(X / scale, y)
    return [float(k) for k in coef / scale], float(residual)
