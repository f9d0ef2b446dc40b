"""Configurations: what one measurement runs (a layer on an input shape, or a whole network)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]


def _hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


#: keys of a layer's payload that are not part of its context (:meth:`LayerConfig.payload`)
_LAYER_PAYLOAD_KEYS = ("kind", "layer_type", "params", "input_shape", "input_requires_grad")


@dataclass(frozen=True)
class LayerConfig:
    """One layer type, its constructor hyper-parameters, and the input shape it is called on."""

    layer_type: str
    params: dict[str, Any]
    input_shape: Shape
    #: set for leaves of an architecture: (architecture config hash, layer index, module path)
    context: dict[str, Any] = field(default_factory=dict)
    #: training only: whether the step computes the input's gradient (not for a network's first
    #: layer, whose input is data). Stored in the payload only when False, so configurations
    #: measured before this field existed keep their hash.
    input_requires_grad: bool = True

    def __post_init__(self) -> None:
        from energypred.layers import canonical_params

        object.__setattr__(self, "params", canonical_params(self.layer_type, self.params))
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))

    def payload(self) -> dict[str, Any]:
        """The JSON-able description stored in ``config_json``."""
        extra = {} if self.input_requires_grad else {"input_requires_grad": False}
        return {"kind": "layer", "layer_type": self.layer_type, "params": self.params,
                "input_shape": list(self.input_shape), **self.context, **extra}

    def config_hash(self) -> str:
        """Stable hash of the configuration (with phase, the resume key)."""
        return _hash(self.payload())

    @classmethod
    def from_json(cls, config_json: str) -> LayerConfig:
        """The configuration a layer row's ``config_json`` stores (:meth:`payload` read back)."""
        p = json.loads(config_json)
        return cls(p["layer_type"], p["params"], tuple(p["input_shape"]),
                   {k: v for k, v in p.items() if k not in _LAYER_PAYLOAD_KEYS},
                   bool(p.get("input_requires_grad", True)))

    def for_phase(self, phase: str, input_requires_grad: bool = True) -> LayerConfig:
        """The configuration as run in ``phase``.

        Training runs activations out of place: an in-place activation on an input that
        requires grad (a layer inside a network being trained) cannot be reproduced on a leaf
        tensor. ``input_requires_grad=False`` (training only) skips the input's gradient, as
        for the first layer of a network. Inference ignores it.
        """
        if phase != "training":
            return self
        params = {**self.params, "inplace": False} if self.params.get("inplace") else self.params
        return LayerConfig(self.layer_type, params, self.input_shape, self.context,
                           input_requires_grad)


@dataclass(frozen=True)
class ArchConfig:
    """One variant of a built-in architecture."""

    architecture: str
    batch_size: int
    resolution: int
    width_mult: float
    num_classes: int

    @property
    def input_shape(self) -> Shape:
        """Input of the whole network: batch × 3 × resolution × resolution."""
        return (self.batch_size, 3, self.resolution, self.resolution)

    def payload(self) -> dict[str, Any]:
        """The JSON-able description stored in ``config_json``."""
        return {"kind": "architecture", "architecture": self.architecture,
                "batch_size": self.batch_size, "resolution": self.resolution,
                "width_mult": self.width_mult, "num_classes": self.num_classes}

    def config_hash(self) -> str:
        """Stable hash of the configuration (with phase, the resume key)."""
        return _hash(self.payload())

    @classmethod
    def from_json(cls, config_json: str) -> ArchConfig:
        """The variant stored in a whole-model row's ``config_json``."""
        p = json.loads(config_json)
        return cls(p["architecture"], int(p["batch_size"]), int(p["resolution"]),
                   float(p["width_mult"]), int(p["num_classes"]))


def shape_str(shape: Shape) -> str:
    """``(16, 3, 56, 56)`` -> ``"16x3x56x56"``."""
    return "x".join(str(int(d)) for d in shape)
