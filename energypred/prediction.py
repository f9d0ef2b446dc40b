"""Predict a model's energy: trace it on meta tensors, price every leaf call, sum, report.

The total is J per forward pass of the whole batch (inference) or per training step (forward,
backward, optimizer step) in the ``training`` phase. Leaves without a regressor and functional
operations that do real work are listed in ``unsupported`` with their count and share of MACs;
the total is then a lower bound, and ``strict=True`` makes that an error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from torch import nn

from energypred import artifacts, features, theory
from energypred.carbon import Footprint, Intensity, footprint
from energypred.errors import ConfigError, UnsupportedLayerError
from energypred.hardware import fingerprint
from energypred.loading import build_model
from energypred.predictor import Predictor
from energypred.tracing import Trace, trace
from energypred.units import j_to_kwh

log = logging.getLogger(__name__)

LAYER_COLUMNS = ["index", "name", "type", "output_shape", "macs", "energy_j", "share"]
UNSUPPORTED_COLUMNS = ["name", "type", "kind", "count", "macs", "share_of_macs"]


@dataclass
class Report:
    """A prediction. Energies in J (per forward pass of the batch, or per training step)."""

    energy_j: float
    batch_size: int
    input_shape: tuple[int, ...]
    phase: str
    layers: pd.DataFrame
    unsupported: pd.DataFrame
    predictor: str
    method: str
    target: str
    total_macs: int
    footprint: Footprint
    warnings: list[str] = field(default_factory=list)
    theory_energy_j: float | None = None
    theory_source: str | None = None
    #: part of energy_j: what leaves cost in the network beyond alone (below 0 where a
    #: predictor's "fresh" credit outweighs the rest: energypred.context)
    context_energy_j: float = 0.0
    #: the predictor's measured whole-model errors for this phase (Predictor.expected_error)
    expected_error: dict[str, Any] | None = None

    @property
    def energy_j_per_sample(self) -> float:
        """J per sample (total / batch size)."""
        return self.energy_j / self.batch_size

    @property
    def energy_kwh(self) -> float:
        """The total in kWh."""
        return j_to_kwh(self.energy_j)

    @property
    def flops_per_j(self) -> float:
        """Efficiency: FLOPs (2 per MAC) per joule of compute energy."""
        return 2 * self.total_macs / self.energy_j if self.energy_j > 0 else float("nan")

    @property
    def is_lower_bound(self) -> bool:
        """True when some work could not be priced."""
        return not self.unsupported.empty

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``energy_j``, ``energy_j_per_sample``, ``layers``, ...)."""
        return {
            "energy_j": self.energy_j, "energy_j_per_sample": self.energy_j_per_sample,
            "energy_kwh": self.energy_kwh, "batch_size": self.batch_size,
            "input_shape": list(self.input_shape), "phase": self.phase,
            "total_macs": self.total_macs, "flops_per_j": self.flops_per_j,
            "is_lower_bound": self.is_lower_bound,
            "compute_energy_j": self.energy_j,
            "facility_energy_j": self.footprint.facility_energy_j, "pue": self.footprint.pue,
            "gco2e": self.footprint.gco2e,
            "carbon_intensity_g_per_kwh": self.footprint.intensity.g_per_kwh,
            "carbon_intensity_source": self.footprint.intensity.source,
            "theory_energy_j": self.theory_energy_j, "theory_source": self.theory_source,
            "context_energy_j": self.context_energy_j,
            "layers": self.layers.to_dict(orient="records"),
            "unsupported": self.unsupported.to_dict(orient="records"),
            "predictor": self.predictor, "measurement_method": self.method,
            "target": self.target, "warnings": self.warnings,
            "expected_error": self.expected_error,
        }


def _priceable(tr: Trace, predictor: Predictor, phase: str) -> tuple[pd.DataFrame, list[int]]:
    rows, unpriced = [], []
    for rec in tr.layers:
        if rec.layer_type is None or rec.counts is None or not predictor.has(rec.layer_type,
                                                                              phase):
            unpriced.append(rec.index)
            continue
        cols = features.layer_columns(rec.params, rec.input_shape, rec.output_shape, rec.counts,
                                      rec.input_requires_grad)
        rows.append({"index": rec.index, "module": rec.name, "layer_type": rec.layer_type,
                     **cols})
    return pd.DataFrame(rows), unpriced


def _unsupported(tr: Trace, unpriced: list[int], total_macs: int) -> pd.DataFrame:
    groups: dict[tuple[str, str, str], list[int]] = {}
    for i in unpriced:
        rec = tr.layers[i]
        macs = rec.counts.macs if rec.counts is not None else rec.aten_macs
        g = groups.setdefault((rec.name, rec.module_type, "module"), [0, 0])
        g[0] += 1
        g[1] += macs
    rows = [{"name": n, "type": t, "kind": k, "count": c, "macs": m} for (n, t, k), (c, m)
            in groups.items()]
    rows += [{"name": "(functional)", "type": op.op, "kind": "functional", "count": op.count,
              "macs": op.macs} for op in tr.functional]
    df = pd.DataFrame(rows, columns=UNSUPPORTED_COLUMNS[:-1])
    df["share_of_macs"] = df["macs"] / total_macs if total_macs else 0.0
    return df[UNSUPPORTED_COLUMNS]


def predict(model: nn.Module | str, input_shape: tuple[int, ...] = (3, 224, 224),
            batch_size: int = 1, predictor: Predictor | str | None = None,
            phase: str = "inference", strict: bool = False,
            kwargs: dict[str, Any] | None = None, pue: float = 1.0,
            intensity: Intensity | None = None, theory_costs: str | bool | None = None
            ) -> Report:
    """Predict the energy of one forward pass (or training step) of ``model`` on a batch.

    Args:
        model: an ``nn.Module`` (left untouched), a built-in name (``"vgg16"``), or a spec
            ``path/file.py:Name`` / ``package.module:factory``.
        input_shape: one sample's shape, without the batch dimension.
        batch_size: samples per call.
        predictor: a :class:`Predictor`, a predictor directory, or None for the shipped default.
        phase: ``inference`` or ``training``.
        strict: raise UnsupportedLayerError instead of reporting a lower bound.
        kwargs: arguments for a model class or factory named by a spec.
        pue: facility overhead factor (1.0 = none).
        intensity: grid carbon intensity (default: world average, stated in the report).
        theory_costs: add the theoretical (Horowitz) estimate: True for the shipped table,
            or a path to an op-cost CSV.

    Returns:
        A :class:`Report`; ``energy_j`` is J per call of the whole batch.
    """
    if batch_size < 1:
        raise ConfigError("batch size must be >= 1")
    if phase not in ("inference", "training"):
        raise ConfigError(f"unknown phase {phase!r}; use inference or training")
    if predictor is None:
        predictor = artifacts.load_default()
    elif not isinstance(predictor, Predictor):
        predictor = artifacts.load(predictor)
    net = build_model(model, kwargs)
    tr = trace(net, (batch_size, *input_shape))
    priced, unpriced = _priceable(tr, predictor, phase)
    isolated, context = (predictor.predict_network(priced, phase) if not priced.empty
                         else (np.array([]), np.array([])))
    energy = isolated + context
    macs_of = {r.index: (r.counts.macs if r.counts else r.aten_macs) for r in tr.layers}
    total_macs = sum(macs_of.values()) + sum(op.macs for op in tr.functional)
    unsupported = _unsupported(tr, unpriced, total_macs)
    energy_by_index = dict(zip(priced["index"], energy, strict=True)) if len(priced) else {}
    context_by_index = dict(zip(priced["index"], context, strict=True)) if len(priced) else {}
    total = float(np.nansum(energy))
    layer_rows = [{
        "index": r.index, "name": r.name, "type": r.layer_type or r.module_type,
        "output_shape": "x".join(map(str, r.output_shape)), "macs": macs_of[r.index],
        "energy_j": energy_by_index.get(r.index, np.nan),
        "context_j": context_by_index.get(r.index, np.nan)} for r in tr.layers]
    layers = pd.DataFrame(layer_rows, columns=[*LAYER_COLUMNS[:-1], "context_j"])
    layers["share"] = layers["energy_j"] / total if total > 0 else np.nan
    layers["flops_per_j"] = 2 * layers["macs"] / layers["energy_j"]
    theory_total, theory_source = None, None
    if theory_costs:
        first = next(iter(net.parameters()), None)
        bits = theory.bits_of(first.dtype) if first is not None else 32
        costs = theory.load_costs(None if theory_costs is True else str(theory_costs), bits)
        layers["theory_j"] = [theory.layer_energy_j(r.layer_type, r.counts, costs, phase)
                              for r in tr.layers]
        theory_total, theory_source = float(np.nansum(layers["theory_j"])), costs.source
    warnings = _warnings(predictor, priced, phase, unsupported, tr)
    if strict and not unsupported.empty:
        raise UnsupportedLayerError(
            "no predictor for: " + ", ".join(f"{t} ({k}, x{c})" for t, k, c in zip(
                unsupported["type"], unsupported["kind"], unsupported["count"], strict=True))
            + "; drop --strict to get a lower bound")
    return Report(total, batch_size, tuple(input_shape), phase, layers, unsupported,
                  predictor.source, predictor.method, predictor.target, int(total_macs),
                  footprint(total, pue, intensity), warnings, theory_total, theory_source,
                  float(np.sum(context)) if len(context) else 0.0,
                  predictor.expected_error(phase))


def _warnings(predictor: Predictor, priced: pd.DataFrame, phase: str,
              unsupported: pd.DataFrame, tr: Trace) -> list[str]:
    out = []
    if not unsupported.empty:
        share = float(unsupported["share_of_macs"].sum())
        out.append(f"{int(unsupported['count'].sum())} calls could not be priced "
                   f"({100 * share:.1f} % of MACs): the total is a lower bound")
    hw = predictor.metadata.get("hardware", {})
    here = fingerprint()
    if hw and hw.get("hardware_id") != here["hardware_id"]:
        out.append(f"the predictor was measured on {hw.get('cpu_model')} "
                   f"({hw.get('cpu_cores')} cores, {hw.get('gpu_model') or 'no GPU'}); this "
                   f"machine is {here['cpu_model']} ({here['cpu_cores']} cores): figures are "
                   "for the predictor's machine")
    elif hw.get("cpu_signature") and hw["cpu_signature"] != here.get("cpu_signature"):
        out.append(f"the predictor was measured on another CPU behind the same name "
                   f"({hw['cpu_model']}, {hw['cpu_signature']}; this machine: "
                   f"{here.get('cpu_signature') or 'unknown'}): figures are for the predictor's "
                   "machine; `energypred check` times the difference")
    elif hw and not hw.get("cpu_signature") and here.get("cpu_signature"):
        out.append(f"the predictor's data does not record its CPU signature, so this machine "
                   f"({here['cpu_signature']}) cannot be matched to it: VMs behind the same "
                   "name differ up to 4x in speed; `energypred check` says whether it applies")
    if not priced.empty:
        outside = predictor.out_of_range(priced, phase)
        if outside:
            pos, what = outside[0]
            name = tr.layers[int(priced.iloc[pos]["index"])].name
            out.append(f"{len(outside)} layers lie outside the range their regressor was "
                       f"fitted on (e.g. {name}: {what}); expect larger errors")
    for w in out:
        log.warning(w)
    return out
