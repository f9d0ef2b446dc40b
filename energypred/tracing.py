"""Trace a model without running it: every leaf call, in order, with its real shapes.

The model is moved to (or built on) the ``meta`` device, so no weights or activations are
allocated and no arithmetic is done; forward hooks on leaf modules record each call (a module
called twice is recorded twice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from energypred import layers
from energypred.errors import ConfigError

Shape = tuple[int, ...]


@dataclass
class TracedLayer:
    """One call of a leaf module seen during tracing."""

    index: int
    name: str
    module_type: str
    input_shape: Shape
    output_shape: Shape
    layer_type: str | None = None  # registry name; None when the type is not registered
    params: dict[str, Any] = field(default_factory=dict)
    counts: layers.LayerCounts | None = None


def _shape(t: Any) -> Shape:
    if isinstance(t, torch.Tensor):
        return tuple(int(d) for d in t.shape)
    if isinstance(t, (tuple, list)) and t and isinstance(t[0], torch.Tensor):
        return tuple(int(d) for d in t[0].shape)
    return ()


def trace(model: nn.Module, input_shape: Shape) -> list[TracedLayer]:
    """Leaf calls of ``model`` on an input of ``input_shape`` (batch included), in call order.

    The model is moved to the meta device in place (its weights are dropped).

    Raises:
        ConfigError: the model does not accept an input of this shape.
    """
    model = model.to("meta")
    records: list[TracedLayer] = []
    names = {m: n for n, m in model.named_modules()}
    handles = []

    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        entry = layers.lookup(module)
        in_shape, out_shape = _shape(args), _shape(output)
        rec = TracedLayer(len(records), names.get(module, "?"), type(module).__name__,
                          in_shape, out_shape)
        if entry is not None:
            rec.layer_type = entry.name
            rec.params = entry.params_of(module)
            rec.counts = entry.count(rec.params, in_shape, out_shape)
        records.append(rec)

    for m in model.modules():
        if not any(True for _ in m.children()):
            handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(torch.empty(input_shape, device="meta"))
    except (RuntimeError, ValueError, IndexError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"the model does not accept input shape {tuple(input_shape)}: "
                          f"{first}") from err
    finally:
        for h in handles:
            h.remove()
    return records
