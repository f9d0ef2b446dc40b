"""Trace a model without running it: every leaf call, in order, with the shapes it really sees.

The forward pass runs on ``meta`` tensors through ``torch.func.functional_call`` with meta
copies of the parameters and buffers: nothing is allocated, no arithmetic is done, and the
caller's model is left untouched. Forward hooks record every leaf-module call (a module called
twice is recorded twice; branches, residual additions and concatenations are followed because
the real ``forward`` runs). A dispatch mode sees every ATen operation: those run by a leaf
module give unregistered leaves a MAC count (from torch's FLOP registry); those outside any
leaf are *functional* work (``x + y``, ``torch.cat``, ``F.relu``...) and are reported, never
silently priced at zero.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from energypred import layers
from energypred.errors import ConfigError

Shape = tuple[int, ...]

#: ATen ops that only change metadata (views, shape queries) or allocate: no real work.
FREE_OPS = frozenset({
    "view", "_unsafe_view", "reshape", "flatten", "t", "transpose", "permute", "expand",
    "detach", "alias", "squeeze", "unsqueeze", "slice", "select", "as_strided", "empty",
    "empty_like", "empty_strided", "split", "split_with_sizes", "unbind", "chunk", "lift_fresh",
    "_reshape_alias", "unflatten", "view_as", "expand_as", "sym_size", "sym_stride", "numel",
    "size", "stride", "dim", "is_contiguous", "new_empty", "new_empty_strided", "squeeze_",
    "unsqueeze_", "t_", "transpose_", "_to_copy_meta", "lift", "contiguous",
})


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
    aten_macs: int = 0  # MACs of the ATen ops this call ran (torch FLOP registry / 2)
    #: whether training would compute this call's input gradient (False when the input
    #: depends on no trainable parameter, e.g. the first layer: its input is data)
    input_requires_grad: bool = True


@dataclass
class FunctionalOp:
    """ATen operations run outside any leaf module, grouped by operator."""

    op: str
    count: int
    macs: int
    output_elements: int


@dataclass
class Trace:
    """Result of tracing: leaf calls in order, and functional work outside leaves."""

    layers: list[TracedLayer]
    functional: list[FunctionalOp]


def _shape(t: Any) -> Shape:
    if isinstance(t, torch.Tensor):
        return tuple(int(d) for d in t.shape)
    if isinstance(t, (tuple, list)) and t and isinstance(t[0], torch.Tensor):
        return tuple(int(d) for d in t[0].shape)
    return ()


def _numel(out: Any) -> int:
    if isinstance(out, torch.Tensor):
        return out.numel()
    if isinstance(out, (tuple, list)):
        return sum(_numel(o) for o in out)
    return 0


class _OpRecorder(TorchDispatchMode):
    """Attributes every ATen op to the innermost running leaf call, or to 'functional'."""

    def __init__(self, stack: list[TracedLayer]) -> None:
        super().__init__()
        self.stack = stack
        self.functional: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None
                           ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        name = packet.__name__
        if name in FREE_OPS:
            return out
        macs = 0
        if packet in flop_registry:
            try:
                macs = int(flop_registry[packet](*args, **kwargs, out_val=out)) // 2
            except (TypeError, ValueError, RuntimeError):
                macs = 0  # counted by name and elements even when its FLOPs are unknown
        if self.stack:
            self.stack[-1].aten_macs += macs
        else:
            rec = self.functional[name]
            rec[0] += 1
            rec[1] += macs
            rec[2] += _numel(out)
        return out


def _meta(t: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(t, device="meta")
    return out.requires_grad_(t.requires_grad) if t.is_floating_point() else out


def _requires_grad(args: tuple[Any, ...]) -> bool:
    first = next((a for a in args if isinstance(a, torch.Tensor)), None)
    return bool(first is not None and first.requires_grad)


def _run(model: nn.Module, state: dict[str, torch.Tensor], input_shape: Shape) -> None:
    torch.func.functional_call(model, state, (torch.empty(input_shape, device="meta"),))


def trace(model: nn.Module, input_shape: Shape) -> Trace:
    """Leaf calls of ``model`` on an input of ``input_shape`` (batch included), in call order.

    Raises:
        ConfigError: the model does not accept an input of this shape, or cannot run on meta
            tensors.
    """
    records: list[TracedLayer] = []
    stack: list[TracedLayer] = []
    names = {m: n for n, m in model.named_modules()}

    def pre_hook(module: nn.Module, args: tuple[Any, ...]) -> None:
        rec = TracedLayer(len(records), names.get(module, "?"), type(module).__name__,
                          _shape(args), ())
        if grad_tracked:
            rec.input_requires_grad = _requires_grad(args)
        records.append(rec)
        stack.append(rec)

    def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        rec = stack.pop()
        rec.output_shape = _shape(output)
        entry = layers.lookup(module)
        if entry is not None:
            rec.layer_type = entry.name
            try:
                rec.params = entry.params_of(module)
            except ConfigError:
                rec.layer_type = None  # a registered type in an unsupported setting
                return
            rec.counts = entry.count(rec.params, rec.input_shape, rec.output_shape)

    handles = []
    for m in model.modules():
        if not any(True for _ in m.children()):
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(hook))
    state = {k: _meta(v) for k, v in model.named_parameters()}
    state.update({k: _meta(v) for k, v in model.named_buffers()})
    recorder = _OpRecorder(stack)
    errors = (RuntimeError, ValueError, IndexError, TypeError, NotImplementedError)
    grad_tracked = True
    try:
        # Autograd on meta tensors tells which inputs training would differentiate; a model
        # whose forward cannot run under autograd (in-place ops on leaves...) is traced again
        # without it, every input then counted as requiring grad (an upper bound).
        try:
            with torch.enable_grad(), recorder:
                _run(model, state, input_shape)
        except errors:
            grad_tracked = False
            records.clear()
            stack.clear()
            recorder = _OpRecorder(stack)
            with torch.no_grad(), recorder:
                _run(model, state, input_shape)
    except errors as err:
        text = str(err).strip()
        first = text.splitlines()[0] if text else type(err).__name__
        raise ConfigError(f"the model does not accept input shape {tuple(input_shape)}: "
                          f"{first}") from err
    finally:
        for h in handles:
            h.remove()
    functional = [FunctionalOp(op, c, macs, n) for op, (c, macs, n)
                  in sorted(recorder.functional.items())]
    return Trace(records, functional)
