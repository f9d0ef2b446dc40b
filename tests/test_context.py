"""The network-context term: recovered from whole-model rows, applied per layer by hand."""

from __future__ import annotations

import pytest
from synthetic import dataset

from energypred.context import Context, cached_weight_bytes, fit_context
from energypred.configs import ArchConfig
from energypred.measurement import workloads as wl

MIB = 2**20


def test_cached_bytes_cap_each_layer_at_the_llc() -> None:
    # a 40 MiB layer counts 32 MiB, a 1,000-byte layer counts 1,000 bytes
    assert cached_weight_bytes([40 * MIB, 1000], 32 * MIB) == 32 * MIB + 1000
    ctx = Context(32 * MIB, {"inference": 1e-9}, {})
    assert ctx.energy_j([40 * MIB, 1000], "inference") == pytest.approx([32 * MIB * 1e-9, 1e-6])
    assert ctx.energy_j([40 * MIB], "training") == [0.0]  # no coefficient: no correction


def test_fit_recovers_a_known_coefficient() -> None:
    df = dataset(n=2, archs=("alexnet", "vgg11"))
    k = 1.2e-9  # J per cached weight byte
    for i in df.index[df.row_kind == "architecture"]:
        traced = wl.trace_arch(ArchConfig.from_json(df.at[i, "config_json"]))
        w = [r.counts.weight_elements * 4 for r in traced]
        df.at[i, "energy_j"] += k * cached_weight_bytes(w, 32 * MIB)
    ctx = fit_context(df, 32 * MIB)
    assert ctx.j_per_byte["inference"] == pytest.approx(k, rel=1e-6)
    assert ctx.n_rows["inference"] == 6
    held_out = fit_context(df, 32 * MIB, exclude_architectures=["vgg11"])
    assert held_out.n_rows["inference"] == 3
    round_trip = Context.from_dict(ctx.to_dict())
    assert round_trip == ctx
