"""MAC and byte counts: hand-derived values, and agreement with torch's FLOP counter."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from energypred import layers
from energypred.errors import ConfigError


def _count(module: nn.Module, shape: tuple[int, ...]) -> layers.LayerCounts:
    entry = layers.lookup(module)
    assert entry is not None
    params = entry.params_of(module)
    out = layers.output_shape(entry, params, shape)
    return entry.count(params, shape, out)


def test_conv2d_macs_by_hand() -> None:
    # Conv2d 3->8, k3, stride 1, pad 1 on 2x3x5x5: output 2x8x5x5 = 400 elements,
    # each a dot product over 3 x 3 x 3 = 27 inputs -> 400 x 27 = 10,800 MACs.
    c = _count(nn.Conv2d(3, 8, 3, padding=1), (2, 3, 5, 5))
    assert c.macs == 10_800
    # weights 8 x 3 x 3 x 3 = 216 + 8 bias = 224
    assert c.weight_elements == 224
    assert c.bytes_read == (2 * 3 * 5 * 5 + 224) * 4
    assert c.bytes_written == 400 * 4


def test_depthwise_strided_conv_by_hand() -> None:
    # Depthwise Conv2d 4->4, groups 4, k3, stride 2, pad 0 on 1x4x7x7: output 1x4x3x3 = 36,
    # each over (4 / 4) x 3 x 3 = 9 inputs -> 324 MACs.
    assert _count(nn.Conv2d(4, 4, 3, stride=2, groups=4), (1, 4, 7, 7)).macs == 324


def test_linear_macs_by_hand() -> None:
    # Linear 10->6 on a batch of 5: 5 x 10 x 6 = 300 MACs.
    assert _count(nn.Linear(10, 6), (5, 10)).macs == 300


def test_pool_and_activations_have_no_macs_but_elements() -> None:
    # MaxPool2d k2 s2 on 1x3x4x4: output 1x3x2x2 = 12 elements, each window 2x2 -> 48 visits.
    c = _count(nn.MaxPool2d(2), (1, 3, 4, 4))
    assert (c.macs, c.output_elements, c.window_ops) == (0, 12, 48)
    r = _count(nn.ReLU(inplace=True), (2, 50))
    assert (r.macs, r.input_elements, r.output_elements) == (0, 100, 100)


def test_batchnorm_counts_elements_and_its_scale_and_shift_by_hand() -> None:
    # BatchNorm2d over 6 channels on 2x6x4x4: 192 elements in and out, no MACs (element-wise,
    # like an activation); weights 6 scales + 6 shifts = 12 (running mean and variance are
    # buffers, not counted), so it reads (192 + 12) x 4 bytes and writes 192 x 4.
    c = _count(nn.BatchNorm2d(6), (2, 6, 4, 4))
    assert (c.macs, c.input_elements, c.output_elements, c.weight_elements) == (0, 192, 192, 12)
    assert (c.bytes_read, c.bytes_written) == ((192 + 12) * 4, 192 * 4)
    assert _count(nn.BatchNorm2d(6, affine=False), (2, 6, 4, 4)).weight_elements == 0


def test_batchnorm_params_round_trip_through_the_registry() -> None:
    entry = layers.get("batchnorm2d")
    params = entry.params_of(nn.BatchNorm2d(24, eps=1e-3, momentum=None))
    rebuilt = entry.build(params)
    assert (rebuilt.num_features, rebuilt.eps, rebuilt.momentum) == (24, 1e-3, None)
    assert layers.canonical_params("batchnorm2d", {"num_features": 24})["affine"] is True


@pytest.mark.parametrize("module,shape", [
    (nn.Conv2d(16, 32, 3, stride=2, padding=1), (2, 16, 15, 15)),
    (nn.Conv2d(32, 32, 5, padding=2, groups=32), (1, 32, 9, 9)),
    (nn.Conv2d(8, 16, 3, dilation=2, groups=2), (3, 8, 12, 12)),
    (nn.Linear(33, 17), (7, 33)),
])
def test_macs_agree_with_torch_flop_counter(module: nn.Module, shape: tuple[int, ...]) -> None:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(torch.randn(shape))
    assert 2 * _count(module, shape).macs == counter.get_total_flops()  # torch: 2 FLOPs / MAC


def test_registry_rejects_duplicates_and_unknown_names() -> None:
    with pytest.raises(ValueError, match="twice"):
        layers.register(layers.REGISTRY["relu"])
    with pytest.raises(ConfigError, match="unknown layer type 'conv3d'"):
        layers.get("conv3d")
    assert layers.lookup(nn.GroupNorm(1, 3)) is None  # unsupported: reported, never priced at 0


def test_step_macs_count_the_gradients_a_training_call_computes() -> None:
    import pandas as pd

    from energypred.features import step_macs

    # forward 1,000 MACs; training adds the weight gradient (1,000) and, when the input
    # requires grad, the input gradient (1,000): 1,000 / 3,000 / 2,000; a missing flag
    # counts as inside a network
    rows = pd.DataFrame({"macs": [1000] * 4,
                         "phase": ["inference", "training", "training", "training"],
                         "input_requires_grad": [False, True, False, None]})
    assert step_macs(rows).tolist() == [1000.0, 3000.0, 2000.0, 3000.0]
