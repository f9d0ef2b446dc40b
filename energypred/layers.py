"""Registry of layer types: one entry per ``nn.Module`` class, pure functions of shapes.

Each entry knows how to read a module's hyper-parameters (``params_of``), how to rebuild the
module from them (``build``), and how much work one call does on a given input/output shape
(``count``). MACs are multiply-accumulates (1 MAC = 2 FLOPs, see :mod:`energypred.units`).
Layers with no multiply-accumulates (pooling, activations) report ``macs = 0`` and carry their
work in ``elements`` and ``window_ops``; a module type that is not registered is never priced at
zero: :func:`lookup` returns ``None`` and callers report it as unsupported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from energypred.errors import ConfigError

Shape = tuple[int, ...]
Params = dict[str, Any]


@dataclass(frozen=True)
class LayerCounts:
    """Work of one call of a layer on one input (the whole batch).

    Attributes:
        macs: multiply-accumulates (0 for layers without any).
        input_elements: elements read from the input tensor.
        output_elements: elements written to the output tensor.
        weight_elements: parameter elements (weights and biases).
        window_ops: elements visited by a sliding window (pooling: output × window size).
        bytes_read: input + weight bytes.
        bytes_written: output bytes.
    """

    macs: int
    input_elements: int
    output_elements: int
    weight_elements: int
    window_ops: int
    bytes_read: int
    bytes_written: int


@dataclass(frozen=True)
class LayerType:
    """One registered layer type."""

    name: str
    module_cls: type[nn.Module]
    params_of: Callable[[nn.Module], Params]
    macs_of: Callable[[Params, Shape, Shape], int]
    window_of: Callable[[Params, Shape, Shape], int]
    weights_of: Callable[[Params], int]

    def build(self, params: Params) -> nn.Module:
        """Build a fresh module of this type from its hyper-parameters."""
        return self.module_cls(**params)

    def count(self, params: Params, in_shape: Shape, out_shape: Shape,
              bytes_per_element: int = 4) -> LayerCounts:
        """Count MACs, elements and bytes (at ``bytes_per_element``) of one call."""
        n_in, n_out = math.prod(in_shape), math.prod(out_shape)
        n_w = self.weights_of(params)
        return LayerCounts(
            macs=int(self.macs_of(params, in_shape, out_shape)),
            input_elements=n_in,
            output_elements=n_out,
            weight_elements=n_w,
            window_ops=int(self.window_of(params, in_shape, out_shape)),
            bytes_read=(n_in + n_w) * bytes_per_element,
            bytes_written=n_out * bytes_per_element,
        )


REGISTRY: dict[str, LayerType] = {}
_BY_CLASS: dict[type[nn.Module], LayerType] = {}


def register(entry: LayerType) -> LayerType:
    """Add a layer type; registering a name or a module class twice is an error."""
    if entry.name in REGISTRY or entry.module_cls in _BY_CLASS:
        raise ValueError(f"layer type {entry.name!r} is registered twice")
    REGISTRY[entry.name] = entry
    _BY_CLASS[entry.module_cls] = entry
    return entry


def lookup(module: nn.Module) -> LayerType | None:
    """The registry entry for a module's exact class, or ``None`` if it has none."""
    return _BY_CLASS.get(type(module))


def get(name: str) -> LayerType:
    """The registry entry for a layer name such as ``"conv2d"``; unknown names raise ConfigError."""
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ConfigError(f"unknown layer type {name!r}; known: {known}") from None


def _pair(v: int | tuple[int, ...]) -> int:
    """Square hyper-parameters only: (3, 3) -> 3; non-square raises ConfigError."""
    if isinstance(v, tuple):
        if len(set(v)) != 1:
            raise ConfigError(f"non-square kernel/stride/padding {v} is not supported yet")
        return int(v[0])
    return int(v)


def _zero(params: Params, *shapes: Shape) -> int:
    return 0


def _no_weights(params: Params) -> int:
    return 0


# --- Conv2d -----------------------------------------------------------------------------------
def _conv_params(m: nn.Module) -> Params:
    assert isinstance(m, nn.Conv2d)
    if isinstance(m.padding, str):
        raise ConfigError(f"Conv2d padding={m.padding!r} is not supported; use integers")
    return {"in_channels": m.in_channels, "out_channels": m.out_channels,
            "kernel_size": _pair(m.kernel_size), "stride": _pair(m.stride),
            "padding": _pair(m.padding), "dilation": _pair(m.dilation), "groups": m.groups,
            "bias": m.bias is not None}


def _conv_macs(p: Params, in_shape: Shape, out_shape: Shape) -> int:
    # every output element is a dot product over (in_channels / groups) × k × k inputs
    return math.prod(out_shape) * (p["in_channels"] // p["groups"]) * p["kernel_size"] ** 2


def _conv_weights(p: Params) -> int:
    w = p["out_channels"] * (p["in_channels"] // p["groups"]) * p["kernel_size"] ** 2
    return w + (p["out_channels"] if p.get("bias", True) else 0)


register(LayerType("conv2d", nn.Conv2d, _conv_params, _conv_macs, _zero, _conv_weights))


# --- Linear -----------------------------------------------------------------------------------
def _linear_params(m: nn.Module) -> Params:
    assert isinstance(m, nn.Linear)
    return {"in_features": m.in_features, "out_features": m.out_features,
            "bias": m.bias is not None}


def _linear_macs(p: Params, in_shape: Shape, out_shape: Shape) -> int:
    return math.prod(in_shape[:-1]) * p["in_features"] * p["out_features"]


def _linear_weights(p: Params) -> int:
    return p["in_features"] * p["out_features"] + (p["out_features"] if p.get("bias", True) else 0)


register(LayerType("linear", nn.Linear, _linear_params, _linear_macs, _zero, _linear_weights))


# --- Pooling ----------------------------------------------------------------------------------
def _maxpool_params(m: nn.Module) -> Params:
    assert isinstance(m, nn.MaxPool2d)
    if m.ceil_mode or _pair(m.dilation) != 1:
        raise ConfigError("MaxPool2d with ceil_mode or dilation is not supported yet")
    return {"kernel_size": _pair(m.kernel_size), "stride": _pair(m.stride),
            "padding": _pair(m.padding)}


def _maxpool_window(p: Params, in_shape: Shape, out_shape: Shape) -> int:
    return math.prod(out_shape) * p["kernel_size"] ** 2


register(LayerType("maxpool2d", nn.MaxPool2d, _maxpool_params, _zero, _maxpool_window,
                   _no_weights))


def _adaptive_params(m: nn.Module) -> Params:
    assert isinstance(m, nn.AdaptiveAvgPool2d)
    size = m.output_size
    return {"output_size": _pair(size) if not isinstance(size, int) else size}


def _adaptive_window(p: Params, in_shape: Shape, out_shape: Shape) -> int:
    # each output averages about (H/out) × (W/out) inputs: every input is read about once
    return max(math.prod(in_shape), math.prod(out_shape))


register(LayerType("adaptiveavgpool2d", nn.AdaptiveAvgPool2d, _adaptive_params, _zero,
                   _adaptive_window, _no_weights))


# --- Element-wise and shape layers ------------------------------------------------------------
def _inplace_params(m: nn.Module) -> Params:
    return {"inplace": bool(getattr(m, "inplace", False))}


def _no_params(m: nn.Module) -> Params:
    return {}


register(LayerType("relu", nn.ReLU, _inplace_params, _zero, _zero, _no_weights))
register(LayerType("sigmoid", nn.Sigmoid, _no_params, _zero, _zero, _no_weights))
register(LayerType("tanh", nn.Tanh, _no_params, _zero, _zero, _no_weights))
register(LayerType("softmax", nn.Softmax, lambda m: {"dim": m.dim}, _zero, _zero, _no_weights))
register(LayerType("dropout", nn.Dropout, lambda m: {"p": m.p, "inplace": m.inplace}, _zero,
                   _zero, _no_weights))
register(LayerType("flatten", nn.Flatten, lambda m: {"start_dim": m.start_dim,
                                                     "end_dim": m.end_dim},
                   _zero, _zero, _no_weights))


# --- Normalisation ----------------------------------------------------------------------------
def _batchnorm_params(m: nn.Module) -> Params:
    return {"num_features": int(m.num_features), "eps": float(m.eps), "momentum": m.momentum,
            "affine": bool(m.affine), "track_running_stats": bool(m.track_running_stats)}


def _batchnorm_weights(p: Params) -> int:
    """Scale and shift per channel when affine (running mean and variance are buffers, not
    parameters, and are not counted)."""
    return 2 * int(p["num_features"]) if p.get("affine", True) else 0


# Element-wise work: at inference one multiply-add per element with folded statistics (counted
# as elements, like an activation, not as MACs); in training also a mean and variance per
# channel over the batch, whose cost the measurements carry.
register(LayerType("batchnorm2d", nn.BatchNorm2d, _batchnorm_params, _zero, _zero,
                   _batchnorm_weights))

#: Layer types a user can ask ``generate --layers`` for (the others occur inside architectures).
SAMPLED_LAYER_TYPES: tuple[str, ...] = ("conv2d", "linear", "maxpool2d", "relu", "sigmoid",
                                        "tanh", "softmax", "batchnorm2d")


def canonical_params(layer_type: str, params: Params) -> Params:
    """Every hyper-parameter of a layer, defaults included, as its module reports them."""
    entry = get(layer_type)
    with torch.device("meta"):
        return entry.params_of(entry.build(params))


def output_shape(entry: LayerType, params: Params, in_shape: Shape) -> Shape:
    """Output shape of one call, computed on meta tensors (no memory, no arithmetic)."""
    with torch.device("meta"):
        module = entry.build(params)
        out = module(torch.empty(in_shape))
    return tuple(out.shape)
