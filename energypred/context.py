"""The network context: what a layer costs inside a network beyond what it costs alone.

A layer measured alone is called over and over, so its weights stay in the last-level cache
when they fit; inside a network every other layer's weights and activations pass through the
cache between two calls, so each layer's weights come back from memory on every pass. That
part is priced by one coefficient per cached weight byte, fitted on whole networks (0.67 nJ/B
at inference on the Zen 4 VM's 23,786 rows, 0.78 nJ/B on the 6,522-row EPYC dataset).

``stream=True`` prices it leaf by leaf instead, from the leaves measured with their weights
evicted (``energypred.streaming``: ``max(alone, k × weight bytes)``, so only memory-bound leaves
pay). Measured held out on the Zen 4 VM's 14,596 rows (``scripts/context_terms.py``), it is
worse than the per-byte coefficient: inference MAPE 8.3 % against 7.2 % (AlexNet 10.8 against
8.7 %), mean signed -4.0 % against -1.7 %. The evicted-weight leaves show why: convolutions
cost a median 1.01-1.05x evicted, yet 0.15-0.77 nJ per weight byte more, so re-reading
weights costs even where compute should hide it (an added cost, not a roofline's maximum),
and leaves in network conditions still add up to 7.2 % less than their network (10.8 %
alone): cold activations cost too, which a whole-network fit catches and a leaf protocol does
not.

Beside the weights, every leaf call costs a little more inside than alone, whatever its
weights: its input and output buffers are cold (written by another layer, or evicted since the
last pass), and the network runs its glue between leaves (``flatten``, views, the module
calls). Timing each leaf inside AlexNet (``scripts/leaf_times_in_network.py``) put 0.13 ms of
the first convolution's 0.24 ms on its cold input, and 0.22 ms of the 5.08 ms pass between
leaves. The per-leaf term prices that.

An opt-in term (``"activations"`` in ``terms``) prices the activations a leaf reads and writes,
per byte: a layer inside a network meets an input written by another layer and, in training,
saved tensors evicted since its forward pass; alone it reuses the same hot buffers.

In training a layer alone keeps three copies of its weights' size hot (weights, gradients, the
optimizer's momenta), so its weights stay cached only up to a third of the LLC. Capping them
there (``STATE_COPIES``) took the Xeon VM's held-out whole-model training error (``energypred
evaluate``, 64 networks, 6,147 rows) from 5.7 to 5.0 % (AlexNet 9.0 to 7.3 %), and that of the
context alone (measured leaves plus the context against the whole) from 4.9 to 4.1 %; on the
Zen 4 and EPYC data the fitted training byte term is 0 either way. A cost per activation byte
(opt-in, ``context_fit.ALL_TERMS``) was fitted 0 on the Zen 4 data and moved the Xeon's
held-out error by -0.3 % (inference) and +0.1 % (training) (``scripts/context_terms.py``), so
it is left out.

A Linear leaf costs more inside in proportion to what it costs alone: measured with their
weights evicted, Linear leaves on the Xeon VM cost 1.57-1.86x alone at every batch size from 1
to 16 (convolutions 1.01-1.10x; ``scripts/context_terms.py`` prints the table), so their extra
per weight byte grows with the batch (0.41 nJ/B at batch 1, 0.97 at batch 8), which the
per-byte term cannot follow. The "linear" term (opt-in since the spill) prices
``k_lin × J alone`` for each Linear leaf (J alone: predicted, or measured when fitting).
Fitted on the Xeon VM's 180 whole networks it is 0.39 at inference (the per-byte term then
drops to 0.005 nJ/B) and 0 in training; held out it took AlexNet at inference from 11.1 to
9.5 % (all inference 5.8 to 5.7 %, training 4.7 to 4.8 %). On the Zen 4 and EPYC data it is
fitted 0.

The cache the weights compete for is fitted too (``context_fit.fit_context(spill=True)``, the
default since 2026-11-25). A VM reports its host's LLC (480 MiB on the Xeon VM) but shares it with
other tenants, and a network keeps its weights cached between passes as long as they all fit:
AlexNets at width 0.25 (14-18 MB of weights) cost 1-10 % more than their leaves in training,
at width 0.5 (57-65 MB) 14-25 %, at width 1 (230-244 MB, whose largest layer no longer stays
cached even alone) 4-9 %. So a network re-reads only the share of its state beyond an
effective cache C, and each layer's weights count only up to C / c::

    spill = max(0, 1 - C / (c × the network's weight bytes))

C is chosen among ``CACHE_GRID_MIB`` (up to the LLC) with the coefficients, by least squared
relative residual over both phases, against the LLC without a spill factor (the model before
it). On the Xeon VM's 233 whole networks (five runs; 291 after the sixth) it is 64 MiB for
every architecture held out, and with it the held-out context alone
(``scripts/context_residuals.py``) misses by 4.0 % (inference; AlexNet 7.5 %) and 3.2 %
(training; AlexNet 4.4 %), against 4.7 % (8.4 %) and 4.2 % (8.0 %) with the machine's LLC and
the Linear term; with the spill the Linear term is
fitted at the expense of the cache (C = 16 MiB with AlexNet held out) and is left opt-in again.

Two opt-in terms follow the batch. "batch" prices each leaf call per sample of its batch (its
cold input and output buffers grow with it); "linear_batch" prices each re-read weight byte
of a Linear leaf per sample, which is what the evicted-weight leaves above show (Linear leaves'
extra nJ per weight byte grows with the batch, convolutions' does not). Held out on the Xeon
VM's 291 whole networks (six runs; ``energypred evaluate``), "batch" took training from 4.2
to 4.0 % and left inference at 4.5 % (AlexNet 8.1 to 8.0 %); both together took inference to
4.1 % (AlexNet 5.4 %, VGG11 3.3 to 4.0 %) with training unchanged, and the context alone
(``scripts/context_residuals.py``) from 4.3 / 3.0 to 3.6 / 2.7 % (AlexNet 7.9 to 4.9 % at
inference). On the Zen 4 and EPYC data neither changes anything (no spill there), so both are
opt-in (``energypred fit --context-terms bytes,leaf,batch,linear_batch``, as the Xeon
predictor is fitted) and :attr:`Context.opt_in_terms` tells ``evaluate`` to refit with them.
Both count at most ``batch_cap`` samples per leaf call, fitted with them: on the Xeon VM's
seventh run (networks at batch 32-128) the terms linear in the batch had priced those networks
23.5 % too high at inference; capped (at 8, fitted) the context alone misses its 324 networks
by 3.4 / 2.6 % held out, against 4.0 / 2.8 % counting every sample (docs/findings.md).

One opt-in term gives back instead of adding ("fresh"): a weightless leaf (pooling, an
activation) whose input and output together exceed the cache streams them from memory on every
call alone, while inside a network it reads an input the layer before has just written. At
batch 64-128 the Zen 5 VM's max-pooling leaves alone add up to more than their networks (up to
+10.6 % of the whole; docs/findings.md), which terms that only add cannot follow. The term
subtracts ``k_fresh × J alone`` of each such leaf (its measured J when fitting, its predicted J
when pricing). On the Zen 5 VM's 275 whole networks (twenty runs) it is fitted at 0.146
(inference) and 0.263 (training) and takes the held-out context alone
(``scripts/fresh_variants.py``) from 4.1 to 3.1 % and from 4.0 to 3.5 %; crediting a share
that shrinks with the input (the cache's share of it) did worse at inference (3.5 %). On the Xeon,
Zen 3 and Ice Lake VMs it moves the context alone by -0.2 to +0.9 points, on the Zen 4 VM by
-0.1, so it is opt-in (``--context-terms bytes,leaf,fresh``).

One opt-in term is a constant per network call, fitted in training only ("step"): timed on the
Zen 5 VM at batch 1 (``scripts/training_split.py``), a narrow network's training step costs
2.3-3.1 ms more than its leaves alone whatever its width or leaf count (AlexNet at width 0.25
and 0.5: 22 leaves; VGG13 and VGG16 at 0.25: 34 and 40), though two readings of the AlexNet at
0.25 gave 1.1 ms: most of it is its Linear leaves, whose weights, gradients and momenta (12-27
MiB) alone stay in the 32 MiB L3 in some readings and not in others, and inside the network
never do. A cost per leaf call would grow with the leaves. On that VM's 135 training networks
(twenty-one runs) it is fitted at 68.7 mJ per step (69.5 on twenty-two; the per-leaf term then
0) and takes the held-out context alone (``scripts/context_residuals.py``) from 3.8 to 3.1 %
(AlexNet at batch 1 from -6.8 to -1.8 % signed), and prices 35 training networks measured after
its fits as is to 5.0 % against 5.5 % without it; on the other VMs it changes nothing (Xeon 2.6
to 2.7 %). Fitted at inference too, it took the inference context from 3.1 to 3.5 % (AlexNet 3.7
to 5.3 %, +3.5 % signed: a constant fitted on the VGGs overprices it), so it is not fitted there
(``context_fit.STEP_PHASES``). ``zen5-2c-padded`` is fitted with ``bytes,leaf,fresh,step``.

The correction, per layer and phase (c = ``STATE_COPIES[phase]``, C the effective cache or,
without one, the LLC and spill = 1)::

    context J = k_byte × spill × min(weight bytes, C / c) + k_leaf
                [+ k_act × activation bytes] [+ k_lin × J alone (Linear leaves only)]
                [+ k_sample × n] [+ k_lin_b × spill × min(w, C / c) × n (Linear leaves only)]
                [- k_fresh × J alone (weightless leaves whose input + output bytes exceed C)]
                [+ k_step / leaf calls of the network (training)]
    n = min(batch size, batch cap) (the cap fitted with the batch terms; none: the batch)
    context J = streamed J + k_leaf                          (stream=True, evicted leaves)

``energypred.context_fit`` fits the coefficients (all >= 0) and the cache on whole-model rows
against the sum of their own measured leaves, so they never see a predictor's errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from energypred.errors import ConfigError
from energypred.hardware import DEFAULT_LLC_BYTES
from energypred.streaming import coefficient, streamed_j


#: the layer type of the "linear" term
LINEAR = "linear"
#: copies of a layer's weight size it keeps hot when it runs alone, per phase: the weights at
#: inference; the weights, their gradients and the momenta in training (workloads.estimate_layer)
STATE_COPIES = {"inference": 1, "training": 3}


def cached_bytes(weight_bytes: float, llc_bytes: int, copies: int = 1) -> float:
    """Weight bytes of one layer that stay in the cache when it runs alone keeping ``copies``
    of their size hot: min(w, LLC / copies)."""
    return min(float(weight_bytes), float(llc_bytes) / copies)


def network_weight_bytes(weight_bytes: Sequence[float], modules: Sequence[str]) -> float:
    """Weight bytes a network holds: each leaf call's ``weight_bytes`` summed over distinct
    ``modules`` (a module called twice, e.g. a shared block, holds its weights once)."""
    seen: dict[str, float] = {}
    for w, m in zip(weight_bytes, modules, strict=True):
        seen.setdefault(str(m), float(w))
    return float(sum(seen.values()))


def cached_weight_bytes(weight_bytes: Sequence[float], llc_bytes: int, copies: int = 1
                        ) -> float:
    """Weight bytes that fit the cache when their layers run alone, summed
    (:func:`cached_bytes`)."""
    return float(sum(cached_bytes(w, llc_bytes, copies) for w in weight_bytes))


@dataclass(frozen=True)
class Context:
    """Fitted context coefficients per phase: J per cached weight byte, J per leaf call, J
    per streamed weight byte per layer type (``energypred.streaming``), J per activation
    byte (input + output, float32) of a leaf call, J per J a Linear leaf costs alone, J per
    sample of a leaf call's batch and J per re-read Linear weight byte per sample."""

    llc_bytes: int
    j_per_byte: dict[str, float]
    n_rows: dict[str, int]
    j_per_leaf: dict[str, float] = field(default_factory=dict)
    j_per_stream_byte: dict[str, dict[str, float]] = field(default_factory=dict)
    n_stream_pairs: dict[str, int] = field(default_factory=dict)
    j_per_act_byte: dict[str, float] = field(default_factory=dict)
    #: STATE_COPIES of the fit; absent (predictors fitted before it): 1 in every phase
    state_copies: dict[str, int] = field(default_factory=dict)
    #: extra J per J a Linear leaf call costs alone (dimensionless; the "linear" term)
    j_per_linear_j: dict[str, float] = field(default_factory=dict)
    #: the cache the weights compete for, fitted (bytes); None (predictors fitted before it):
    #: ``llc_bytes``, and every pass re-reads the cached weights (no spill factor)
    cache_bytes: int | None = None
    #: extra J per leaf call per sample of its batch (the "batch" term; absent: none)
    j_per_leaf_sample: dict[str, float] = field(default_factory=dict)
    #: extra J per re-read weight byte of a Linear leaf per sample of its batch (the
    #: "linear_batch" term; absent: none)
    j_per_linear_byte_sample: dict[str, float] = field(default_factory=dict)
    #: the batch terms count at most this many samples per leaf call (fitted with them:
    #: ``context_fit.BATCH_CAP_GRID``); None: every sample of the batch
    batch_cap: int | None = None
    #: J given back per J a weightless leaf costs alone where its input and output exceed the
    #: cache (the "fresh" term, a credit; absent: none)
    j_per_fresh_j: dict[str, float] = field(default_factory=dict)
    #: extra J per network call, spread evenly over its leaf calls (the "step" term; fitted in
    #: training only; absent: none)
    j_per_step: dict[str, float] = field(default_factory=dict)

    @property
    def opt_in_terms(self) -> tuple[str, ...]:
        """The opt-in terms of ``context_fit.ALL_TERMS`` this context was fitted with (those
        with a coefficient in some phase), beside the default weight bytes and leaf calls."""
        return tuple(t for t, k in (("activations", self.j_per_act_byte),
                                    ("linear", self.j_per_linear_j),
                                    ("batch", self.j_per_leaf_sample),
                                    ("linear_batch", self.j_per_linear_byte_sample),
                                    ("fresh", self.j_per_fresh_j),
                                    ("step", self.j_per_step)) if k)

    def spill(self, weight_bytes: Sequence[float], phase: str,
              state_bytes: float | None = None) -> float:
        """Share of a network's cached weights re-read from memory on each pass (0-1): with a
        fitted cache C, ``max(0, 1 - C / (copies × its weight bytes))``; 1 without one.

        ``state_bytes`` is the network's weight bytes counting each module once (a module
        called twice holds its weights once: :func:`network_weight_bytes`); by default the
        sum of ``weight_bytes``, one entry per leaf call.
        """
        if self.cache_bytes is None:
            return 1.0
        held = float(sum(weight_bytes)) if state_bytes is None else float(state_bytes)
        state = self.state_copies.get(phase, 1) * held
        return max(0.0, 1.0 - self.cache_bytes / state) if state > 0 else 0.0

    def reread_bytes(self, weight_bytes: Sequence[float], phase: str,
                     state_bytes: float | None = None) -> list[float]:
        """Weight bytes each leaf call of one network re-reads per pass, as the per-byte term
        prices them: ``spill × min(w, cache / copies)``, the cache being the fitted one or,
        without it, the LLC (``state_bytes``: :meth:`spill`)."""
        share = self.spill(weight_bytes, phase, state_bytes)
        cache, copies = self.cache_bytes or self.llc_bytes, self.state_copies.get(phase, 1)
        return [share * cached_bytes(w, cache, copies) for w in weight_bytes]

    def samples(self, batch_size: float) -> float:
        """Samples of a leaf call's batch the batch terms count: ``min(batch, batch_cap)``."""
        b = float(batch_size)
        return b if self.batch_cap is None else min(b, float(self.batch_cap))

    def fresh_j(self, weight_bytes: float, act_bytes: float, alone_j: float) -> float:
        """J alone of a leaf call that the "fresh" term credits a share of: all of it for a
        leaf without weights whose input + output bytes exceed the cache (the fitted one, or
        the LLC), so that alone it streams them from memory on every call; 0 for any other."""
        streams = float(weight_bytes) == 0 and float(act_bytes) > (self.cache_bytes
                                                                    or self.llc_bytes)
        return _finite(alone_j) if streams else 0.0

    def linear_batch_bytes(self, weight_bytes: Sequence[float], phase: str,
                           layer_types: Sequence[str], batch_sizes: Sequence[float],
                           state_bytes: float | None = None) -> list[float]:
        """Per leaf call of one network, the bytes × samples the "linear_batch" term prices:
        its :meth:`reread_bytes` times its :meth:`samples` for a Linear leaf, 0 for any
        other."""
        return [r * self.samples(b) if lt == LINEAR else 0.0 for r, lt, b in zip(
            self.reread_bytes(weight_bytes, phase, state_bytes), layer_types, batch_sizes,
            strict=True)]

    def energy_j(self, weight_bytes: Sequence[float], phase: str,
                 layer_types: Sequence[str] | None = None,
                 alone_j: Sequence[float] | None = None,
                 act_bytes: Sequence[float] | None = None,
                 batch_sizes: Sequence[float] | None = None,
                 state_bytes: float | None = None) -> list[float]:
        """Per-layer context energy (J), one entry per leaf call of one network (all of its
        leaf calls: with a fitted cache the weight term depends on their total weight bytes,
        ``state_bytes`` when given, each module counted once: :meth:`spill`).

        The streamed part and the Linear term need each leaf's layer type and J per call
        alone (predicted, or measured), the activation term each leaf's input + output bytes,
        the batch term each leaf's batch size (its input's first dimension), the "fresh" credit
        each leaf's input + output bytes and J alone; a context with such a term refuses to
        price without them. The "step" term adds its J per network call evenly to every entry.
        """
        k = self.j_per_byte.get(phase, 0.0)
        c = self.j_per_leaf.get(phase, 0.0)
        out = [k * b + c for b in self.reread_bytes(weight_bytes, phase, state_bytes)]
        if (ka := self.j_per_act_byte.get(phase, 0.0)) > 0:
            if act_bytes is None:
                raise ConfigError("this context prices activation bytes: give each leaf's "
                                  "input + output bytes (Context.rows_energy_j does)")
            out = [o + ka * float(a) for o, a in zip(out, act_bytes, strict=True)]
        if (kb := self.j_per_leaf_sample.get(phase, 0.0)) > 0:
            if batch_sizes is None:
                raise ConfigError("this context prices each leaf call by its batch: give "
                                  "each leaf's batch size (Context.rows_energy_j does)")
            out = [o + kb * self.samples(b) for o, b in zip(out, batch_sizes, strict=True)]
        if (klb := self.j_per_linear_byte_sample.get(phase, 0.0)) > 0:
            if batch_sizes is None or layer_types is None:
                raise ConfigError("this context prices Linear leaves by their batch: give each "
                                  "leaf's layer type and batch size (Context.rows_energy_j does)")
            out = [o + klb * x for o, x in zip(out, self.linear_batch_bytes(
                weight_bytes, phase, layer_types, batch_sizes, state_bytes), strict=True)]
        ks = self.j_per_stream_byte.get(phase)
        kl = self.j_per_linear_j.get(phase, 0.0)
        if (ks or kl > 0) and (layer_types is None or alone_j is None):
            raise ConfigError("this context prices leaves by their J alone: give each leaf's "
                              "layer type and J per call alone (Context.rows_energy_j does)")
        if kl > 0:
            out = [o + kl * _finite(a) if lt == LINEAR else o
                   for o, lt, a in zip(out, layer_types, alone_j, strict=True)]
        if ks:
            out = [o + streamed_j(coefficient(ks, lt), w, a, self.llc_bytes)
                   for o, w, lt, a in zip(out, weight_bytes, layer_types, alone_j, strict=True)]
        if (kf := self.j_per_fresh_j.get(phase, 0.0)) > 0:
            if act_bytes is None or alone_j is None:
                raise ConfigError("this context credits weightless leaves by their J alone: "
                                  "give each leaf's input + output bytes and J per call alone "
                                  "(Context.rows_energy_j does)")
            out = [o - kf * self.fresh_j(w, b, a)
                   for o, w, b, a in zip(out, weight_bytes, act_bytes, alone_j, strict=True)]
        if (kt := self.j_per_step.get(phase, 0.0)) > 0 and out:
            out = [o + kt / len(out) for o in out]
        return out

    def rows_energy_j(self, rows: pd.DataFrame, phase: str, alone_j: Sequence[float]
                      ) -> np.ndarray:
        """:meth:`energy_j` of leaf calls in the dataset's column layout (``weight_elements``,
        ``input_elements``, ``output_elements``, float32, ``batch_size`` and ``layer_type``),
        given each one's J per call alone. With a ``module`` column (the leaf's name in its
        model, as ``predict`` traces it) a module called more than once counts its weights
        once in the network's state (:func:`network_weight_bytes`)."""
        weight_bytes = rows["weight_elements"].astype(float).fillna(0.0) * 4
        state = (network_weight_bytes(list(weight_bytes), list(rows["module"]))
                 if "module" in rows.columns else None)
        act = (list(activation_bytes(rows))
               if phase in self.j_per_act_byte or phase in self.j_per_fresh_j else None)
        batch = (list(rows["batch_size"].astype(float))
                 if phase in self.j_per_leaf_sample or phase in self.j_per_linear_byte_sample
                 else None)
        return np.array(self.energy_j(list(weight_bytes), phase, list(rows["layer_type"]),
                                      [float(a) for a in alone_j], act, batch, state))

    def to_dict(self) -> dict[str, object]:
        """JSON-able form for predictor metadata."""
        return {"llc_bytes": self.llc_bytes, "j_per_byte": self.j_per_byte,
                "j_per_leaf": self.j_per_leaf, "n_rows": self.n_rows,
                "j_per_stream_byte": self.j_per_stream_byte,
                "n_stream_pairs": self.n_stream_pairs, "j_per_act_byte": self.j_per_act_byte,
                "state_copies": self.state_copies, "j_per_linear_j": self.j_per_linear_j,
                "cache_bytes": self.cache_bytes, "j_per_leaf_sample": self.j_per_leaf_sample,
                "j_per_linear_byte_sample": self.j_per_linear_byte_sample,
                "batch_cap": self.batch_cap, "j_per_fresh_j": self.j_per_fresh_j,
                "j_per_step": self.j_per_step}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Context:
        """Inverse of :meth:`to_dict`; an absent entry means no correction (predictors fitted
        before the per-leaf or streamed terms have none)."""
        if not d:
            return cls(DEFAULT_LLC_BYTES, {}, {})
        return cls(int(d["llc_bytes"]), {k: float(v) for k, v in d["j_per_byte"].items()},
                   {k: int(v) for k, v in d.get("n_rows", {}).items()},
                   {k: float(v) for k, v in d.get("j_per_leaf", {}).items()},
                   {p: {lt: float(v) for lt, v in ks.items()}
                    for p, ks in d.get("j_per_stream_byte", {}).items()},
                   {k: int(v) for k, v in d.get("n_stream_pairs", {}).items()},
                   {k: float(v) for k, v in d.get("j_per_act_byte", {}).items()},
                   {k: int(v) for k, v in d.get("state_copies", {}).items()},
                   {k: float(v) for k, v in d.get("j_per_linear_j", {}).items()},
                   int(d["cache_bytes"]) if d.get("cache_bytes") is not None else None,
                   {k: float(v) for k, v in d.get("j_per_leaf_sample", {}).items()},
                   {k: float(v) for k, v in d.get("j_per_linear_byte_sample", {}).items()},
                   int(d["batch_cap"]) if d.get("batch_cap") is not None else None,
                   {k: float(v) for k, v in d.get("j_per_fresh_j", {}).items()},
                   {k: float(v) for k, v in d.get("j_per_step", {}).items()})


def _finite(j: float) -> float:
    """A leaf's J alone, 0 where it has none (a leaf without a regressor is reported, not
    priced)."""
    v = float(j)
    return v if np.isfinite(v) else 0.0


def activation_bytes(rows: pd.DataFrame) -> pd.Series:
    """Bytes of activations (input + output, float32) each leaf call reads and writes."""
    return (rows["input_elements"].astype(float).fillna(0.0)
            + rows["output_elements"].astype(float).fillna(0.0)) * 4
