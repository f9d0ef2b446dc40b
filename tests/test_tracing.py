"""Tracing on meta tensors: call order, repeats, branches, functional work, no allocation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from energypred.errors import ConfigError
from energypred.tracing import trace


class Branchy(nn.Module):
    """conv -> relu, twice through the same block; a residual add; a concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.side = nn.Conv2d(8, 4, 1)
        self.bn = nn.GroupNorm(3, 12)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.block(x)
        y = self.block(y) + x          # the same block twice, then a residual addition
        z = torch.cat([y, self.side(y)], dim=1)
        return self.fc(torch.flatten(self.pool(self.bn(z)), 1))


def test_branching_network_with_repeated_modules() -> None:
    tr = trace(Branchy(), (2, 3, 16, 16))
    names = [r.name for r in tr.layers]
    assert names == ["stem", "block.0", "block.1", "block.0", "block.1", "side", "bn", "pool",
                     "fc"]
    assert tr.layers[5].input_shape == (2, 8, 16, 16) and tr.layers[5].output_shape == (2, 4, 16, 16)
    assert tr.layers[6].input_shape == (2, 12, 16, 16)  # after the concatenation
    # stem: 2 x 8 x 16 x 16 outputs x 27 = 110,592 MACs
    assert tr.layers[0].counts is not None and tr.layers[0].counts.macs == 110_592
    assert tr.layers[6].layer_type is None  # GroupNorm is not registered: unsupported
    ops = {op.op: op for op in tr.functional}
    assert set(ops) == {"add", "cat"}  # flatten is a view: free
    assert ops["add"].count == 1 and ops["add"].output_elements == 2 * 8 * 16 * 16


def test_tracing_leaves_the_model_untouched_and_allocates_nothing() -> None:
    model = Branchy()
    before = model.stem.weight.detach().clone()
    trace(model, (64, 3, 512, 512))  # real activations would need ~2 GB
    assert model.stem.weight.device.type == "cpu" and torch.equal(model.stem.weight, before)


def test_wrong_input_shape_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match=r"does not accept input shape \(2, 5, 16, 16\)"):
        trace(Branchy(), (2, 5, 16, 16))


class FrozenStem(nn.Module):
    """A frozen first conv, a pooling, then trainable layers."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3).requires_grad_(False)
        self.pool = nn.MaxPool2d(2)
        self.conv = nn.Conv2d(4, 4, 3)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(self.pool(self.stem(x))))


def test_input_gradient_is_needed_only_after_a_trainable_parameter() -> None:
    # Branchy: the stem's input is data; every later leaf sees a tensor that depends on a
    # parameter. FrozenStem: nothing before `conv` is trainable, so `conv` needs no input grad
    # either; only `act` (after conv's weights) does.
    assert [r.input_requires_grad for r in trace(Branchy(), (2, 3, 16, 16)).layers] == [
        False] + [True] * 8
    assert [r.input_requires_grad for r in trace(FrozenStem(), (1, 3, 12, 12)).layers] == [
        False, False, False, True]


def test_vgg11_bn_puts_a_batchnorm_between_each_convolution_and_its_relu() -> None:
    from energypred.architectures import ARCHITECTURES

    tr = trace(ARCHITECTURES["vgg11_bn"](num_classes=10, width_mult=0.25), (2, 3, 64, 64))
    types = [r.layer_type for r in tr.layers]
    # VGG11 has 8 convolutions; each is followed by BatchNorm2d, then ReLU
    convs = [i for i, t in enumerate(types) if t == "conv2d"]
    assert len(convs) == 8 and types.count("batchnorm2d") == 8
    assert all(types[i + 1 : i + 3] == ["batchnorm2d", "relu"] for i in convs)
    # the first: 64 x 0.25 = 16 channels at 64 px -> 2 x 16 x 64 x 64 = 131,072 elements,
    # 2 x 16 = 32 weights (scale and shift)
    bn = tr.layers[1].counts
    assert bn is not None and (bn.input_elements, bn.weight_elements) == (131_072, 32)
    # the same network without normalisation is VGG11
    plain = trace(ARCHITECTURES["vgg11"](num_classes=10, width_mult=0.25), (2, 3, 64, 64))
    assert [t for t in types if t != "batchnorm2d"] == [r.layer_type for r in plain.layers]
