"""A synthetic dataset with a known energy law, for tests of fitting, prediction, evaluation.

energy_j = 2 nJ/MAC + 0.5 nJ/byte moved + 0.1 nJ/window visit + 20 µJ per call (and ×3 in
training): the ``counts`` regressor can recover it, so predictions are checkable by hand.
"""

from __future__ import annotations

import json

import pandas as pd

from energypred import features, sampling
from energypred.configs import ArchConfig
from energypred.layers import SAMPLED_LAYER_TYPES
from energypred.measurement import in_network
from energypred.measurement import workloads as wl
from energypred.measurement.in_network import arch_leaves


def law(row: dict[str, float], phase: str) -> float:
    """The synthetic energy per call, J."""
    e = (2e-9 * row["macs"] + 5e-10 * (row["bytes_read"] + row["bytes_written"])
         + 1e-10 * row["window_ops"] + 2e-5)
    return e * (3.0 if phase == "training" else 1.0)


def _layer_row(cfg: object, phase: str, kind: str, **extra: object) -> dict[str, object]:
    out, counts = wl.layer_counts(cfg)  # type: ignore[arg-type]
    row = {"row_kind": kind, "status": "ok", "phase": phase, "layer_type": cfg.layer_type,
           "config_hash": cfg.config_hash(), "config_json": json.dumps(cfg.payload()),
           **features.layer_columns(cfg.params, cfg.input_shape, out, counts), **extra}
    row["energy_j"] = law(row, phase)
    return row


def dataset(n: int = 30, archs: tuple[str, ...] = ("alexnet", "vgg11"),
            phases: tuple[str, ...] = ("inference",),
            evicted_j_per_byte: float = 0.0, stream_j_per_byte: float = 0.0,
            leaf_j: float = 0.0,
            variants: tuple[tuple[int, int], ...] = ((1, 64), (2, 96), (4, 64))
            ) -> pd.DataFrame:
    """Random layers (realistic sampler) + a few architecture variants, whole and by leaf.

    ``evicted_j_per_byte > 0`` adds the leaves measured with evicted weights (32 MiB LLC),
    each costing that much per weight byte more than alone, and adds the same to the whole;
    ``stream_j_per_byte > 0`` adds them costing max(alone, k × weight bytes) instead (the
    roofline of ``energypred.streaming``). ``leaf_j`` adds that much per leaf call to the whole.
    ``variants``: (batch size, resolution) of each architecture variant (width 0.25, 10 classes).
    """
    rows = []
    for phase in phases:
        for lt in SAMPLED_LAYER_TYPES:
            for i in range(n):
                cfg = sampling.sample_layer("realistic", lt, 0, i).for_phase(phase)
                rows.append(_layer_row(cfg, phase, "layer", sampler="realistic"))
        for arch in archs:
            for b, res in variants:
                cfg = ArchConfig(arch, b, res, 0.25, 10)
                leaves = [_layer_row(leaf, phase, "arch_layer", architecture=arch,
                                     layer_index=leaf.context["layer_index"],
                                     input_requires_grad=(phase == "training"
                                                          and leaf.input_requires_grad))
                          for leaf in arch_leaves(cfg, wl.trace_arch(cfg), phase)]
                rows += leaves
                evicted = [_layer_row(leaf, phase, in_network.ROW_KIND, architecture=arch,
                                      layer_index=leaf.context["layer_index"])
                           for leaf, _ in in_network.evicted_leaves(
                               arch_leaves(cfg, wl.trace_arch(cfg), phase), 32 * 1024 * 1024)
                           ] if evicted_j_per_byte > 0 or stream_j_per_byte > 0 else []
                extra = leaf_j * len(leaves)
                for r in evicted:
                    alone = float(r["energy_j"])
                    w = 4 * r["weight_elements"]
                    r["energy_j"] = max(alone + evicted_j_per_byte * w, stream_j_per_byte * w)
                    extra += r["energy_j"] - alone
                rows += evicted
                rows.append({"row_kind": "architecture", "status": "ok", "phase": phase,
                             "layer_type": "architecture", "architecture": arch,
                             "config_hash": cfg.config_hash(),
                             "config_json": json.dumps(cfg.payload()),
                             "energy_j": sum(float(r["energy_j"]) for r in leaves) + extra})
    # the machine's LLC, as schema-6 rows record it (the evicted leaves above assume 32 MiB)
    return pd.DataFrame(rows).assign(llc_bytes=32 * 1024 * 1024)
