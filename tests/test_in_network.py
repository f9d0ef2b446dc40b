"""Leaves in network conditions: copy counts, which leaves qualify, copies called in turn."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import dataset
from torch import nn

from energypred.configs import ArchConfig, LayerConfig
from energypred.streaming import evicted_j_per_byte
from energypred.evaluation import evaluate
from energypred.measurement import in_network
from energypred.measurement import workloads as wl

MIB = 1024 * 1024
LLC = 32 * MIB


def test_weight_copies_fill_twice_the_cache() -> None:
    # 2 x 32 MiB = 64 MiB to fill: 1 MiB -> 64 copies, 8 MiB -> 8, 40 MiB -> ceil(1.6) = 2
    assert in_network.weight_copies(1 * MIB, LLC) == 64
    assert in_network.weight_copies(8 * MIB, LLC) == 8
    assert in_network.weight_copies(40 * MIB, LLC) == 2
    assert in_network.weight_copies(100 * 1024, LLC) == in_network.MAX_COPIES  # 656 -> 256
    assert in_network.weight_copies(0, LLC) == 1


def test_vgg11_leaves_worth_evicting() -> None:
    # VGG11 at width 1: conv 3->64 has 1,792 weights (7 KB: too small to matter); the other
    # seven convs hold 295 KB to 9.4 MB; Linear 25088->4096 (411 MB) and 4096->4096 (67.1 MB,
    # over 2 x LLC = 67.1 MB by its bias) stream from memory anyway; Linear 4096->1000 (16.4
    # MB) fits: 7 + 1 = 8 leaves, and nothing without weights
    cfg = ArchConfig("vgg11", batch_size=1, resolution=224, width_mult=1.0, num_classes=1000)
    leaves = in_network.arch_leaves(cfg, wl.trace_arch(cfg), "inference")
    picked = in_network.evicted_leaves(leaves, LLC)
    assert [c.layer_type for c, _ in picked] == ["conv2d"] * 7 + ["linear"]
    assert picked[0][1] == 228  # 64->128 conv: 73,856 x 4 B = 295,424 B; ceil(64 MiB / that)
    assert all(c.context["weight_copies"] == n for c, n in picked)
    assert len({c.config_hash() for c, _ in picked} & {c.config_hash() for c in leaves}) == 0


def test_weights_lost_in_their_activations_traffic_are_not_worth_evicting() -> None:
    # VGG16 at 224 px, width 1: the 512->512 convolutions hold 512 x 512 x 9 + 512 = 2,359,808
    # weights = 9.44 MB. At 14x14 and batch 128, input and output hold 128 x 512 x 14 x 14 =
    # 12,845,056 elements each: 102.8 MB moved, weights 9.2 % of it >= 1/16: measured. At 28x28
    # (4x the activations, 2.3 %), and at 14x14 with batch 256 (4.6 %), they are lost in it.
    def leaf(batch: int, index: int) -> LayerConfig:
        cfg = ArchConfig("vgg16", batch_size=batch, resolution=224, width_mult=1.0,
                         num_classes=1000)
        leaves = in_network.arch_leaves(cfg, wl.trace_arch(cfg), "inference")
        return next(c for c in leaves if c.context["layer_index"] == index)

    def lost(batch: int, index: int) -> str | None:
        return in_network.weights_lost_in_traffic(wl.layer_counts(leaf(batch, index))[1])

    assert leaf(128, 28).input_shape == (128, 512, 14, 14)
    assert lost(128, 28) is None and lost(1, 21) is None
    why = lost(128, 21)
    assert why is not None and "9.44 MB" in why and "411 MB" in why and "1/16" in why
    assert lost(256, 28) is not None


def _called(phase: str, copies: int, steps: int) -> list[int]:
    """How often each module was called (first the original), in first-call order."""
    seen: list[int] = []
    layer = nn.Linear(8, 4)
    # deepcopy keeps the hook function (functions are not copied), so every copy reports here
    layer.register_forward_hook(lambda module, *_: seen.append(id(module)))
    with wl.workload(layer, (2, 8), phase, True, copies=copies) as step:
        for _ in range(steps):
            step()
    order = list(dict.fromkeys(seen))
    assert order[0] == id(layer)
    return [seen.count(i) for i in order]


def test_copies_are_called_in_turn() -> None:
    # each copy is called once before the first step (so no measured call is its first),
    # then 6 steps go round the 3 copies twice
    assert _called("inference", copies=3, steps=6) == [3, 3, 3]
    # training first probes the output shape with the original
    assert _called("training", copies=3, steps=6) == [4, 3, 3]
    assert _called("training", copies=1, steps=4) == [5]


def test_evaluate_adds_up_leaves_in_network_conditions() -> None:
    # the synthetic whole costs 1 nJ per weight byte more than its leaves alone (the weights
    # re-read from memory); the evicted-weight rows carry exactly that
    df = dataset(n=10, archs=("alexnet",), evicted_j_per_byte=1e-9)
    ev = evaluate(df)
    assert (ev.rows.additivity < -0.01).all()  # the leaves alone miss it
    assert np.allclose(ev.rows.additivity_evicted, 0.0)
    net = ev.in_network()
    assert net.loc["inference", "n"] == 3
    assert abs(net.loc["inference", "evicted_mean"]) < 1e-9 < -net.loc["inference", "alone_mean"]
    # leaf by leaf, the same 1 nJ per weight byte (all these weights fit the 32 MiB cache)
    k, pairs = evicted_j_per_byte(df, None)["inference"]
    assert k == pytest.approx(1e-9) and pairs == (df.row_kind == in_network.ROW_KIND).sum()
