"""Workloads: turn a configuration and a phase into a ``step()`` callable, and price it first.

``inference``: ``eval()`` + ``torch.no_grad()`` forward of the whole batch.
``training``: forward, backward with a fixed random output gradient, SGD-with-momentum step.
A single layer's input requires grad in training (as for a layer inside a network); a whole
network's input (data) does not.

The budget guard (:func:`estimate`) works on meta tensors: nothing is allocated before a
configuration is known to fit in memory and time.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from energypred import architectures, layers, tracing
from energypred.configs import ArchConfig, LayerConfig, Shape

Step = Callable[[], object]
_BYTES = 4  # float32


@dataclass(frozen=True)
class MachineRates:
    """Rough throughput of this machine, measured once per run (for the budget guard only)."""

    macs_per_s: float
    bytes_per_s: float


@dataclass(frozen=True)
class Estimate:
    """What a configuration would cost: peak memory (bytes) and time per call (s)."""

    memory_bytes: int
    call_s: float


def build_layer(cfg: LayerConfig) -> nn.Module:
    """A fresh module for a layer configuration."""
    return layers.get(cfg.layer_type).build(cfg.params)


def build_arch(cfg: ArchConfig) -> nn.Module:
    """A fresh network for an architecture variant."""
    return architectures.build(cfg)


def _fill(shape: Shape) -> torch.Tensor:
    return torch.empty(shape).uniform_(-1.0, 1.0)


@contextmanager
def workload(module: nn.Module, input_shape: Shape, phase: str,
             input_requires_grad: bool, copies: int = 1) -> Iterator[Step]:
    """Allocate inputs and yield one call of the workload in ``phase`` (see module doc).

    ``copies > 1`` calls that many independent copies of ``module`` in turn on the same input,
    so that each call finds its weights evicted from the cache by the other copies' (as inside
    a network, where every other layer runs between two calls of this one). Each copy is
    called once before the step is yielded, so no measured call is a copy's first.
    """
    x = _fill(input_shape)
    modules = [module] + [copy.deepcopy(module) for _ in range(copies - 1)]
    if phase == "inference":
        for m in modules:
            m.eval()
        turn = itertools.cycle(modules)
        with torch.no_grad():
            for _ in range(copies if copies > 1 else 0):
                next(turn)(x)
            yield lambda: next(turn)(x)
        return
    if input_requires_grad:
        x.requires_grad_(True)
    optimisers = []
    for m in modules:
        m.train()
        params = [p for p in m.parameters() if p.requires_grad]
        optimisers.append(torch.optim.SGD(params, lr=1e-9, momentum=0.9) if params else None)
    with torch.no_grad():
        out_shape = tuple(module(x.detach()).shape)
    grad_out = _fill(out_shape)
    pairs = itertools.cycle(list(zip(modules, optimisers, strict=True)))

    def step() -> None:
        m, opt = next(pairs)
        if opt is not None:
            opt.zero_grad(set_to_none=True)
        x.grad = None
        m(x).backward(grad_out)
        if opt is not None:
            opt.step()

    for _ in range(copies if copies > 1 else 0):
        step()
    yield step


def layer_counts(cfg: LayerConfig) -> tuple[Shape, layers.LayerCounts]:
    """Output shape and work of one call of a layer configuration (meta tensors only)."""
    entry = layers.get(cfg.layer_type)
    out = layers.output_shape(entry, cfg.params, cfg.input_shape)
    return out, entry.count(cfg.params, cfg.input_shape, out)


def trace_arch(cfg: ArchConfig) -> list[tracing.TracedLayer]:
    """Leaf calls of an architecture variant, traced on meta tensors."""
    with torch.device("meta"):
        model = build_arch(cfg)
    return tracing.trace(model, cfg.input_shape).layers


def estimate_layer(cfg: LayerConfig, phase: str, rates: MachineRates) -> Estimate:
    """Peak memory and time per call of one layer configuration."""
    _, c = layer_counts(cfg)
    w, i, o = c.weight_elements * _BYTES, c.input_elements * _BYTES, c.output_elements * _BYTES
    if phase == "inference":
        mem = w + i + (0 if cfg.params.get("inplace") else o)
        factor = 1.0
    else:  # input + its grad + saved tensors, output grad and output, weights + grad + momentum
        mem = 3 * i + 2 * o + 3 * w
        factor = 3.0
    return Estimate(int(mem), factor * _call_s(c, rates))


#: Irregular shapes run well below the reference convolution's speed: price them 2x slower.
_SAFETY = 2.0


def _call_s(c: layers.LayerCounts, rates: MachineRates) -> float:
    moved = c.bytes_read + c.bytes_written + c.window_ops * _BYTES
    return _SAFETY * (c.macs / rates.macs_per_s + moved / rates.bytes_per_s)


#: What a whole network's call grows a ``padded`` heap to, over its weights, input and every
#: output it allocates: measured on the Zen 5 VM (``scripts/heap_growth.py``, inference, 224 px,
#: width 1, four calls): AlexNet at batch 256 0.79x, VGG11 at 64 0.79x, VGG16 at 64 1.19x and
#: at 128 1.25x (10.5 GB, where the live tensors alone are 3.8 GB); the excess follows the
#: convolutions at full resolution (their workspaces are not outputs). Rounded up to 1.3.
HEAP_KEPT_FACTOR = 1.3


def estimate_arch(traced: list[tracing.TracedLayer], phase: str, rates: MachineRates,
                  heap_kept: bool = False) -> Estimate:
    """Peak memory (bytes) and time per call (s) of a whole network, from its traced leaves.

    At inference only a leaf's input and output are alive at once. ``heap_kept`` (the
    ``padded`` allocator, which keeps every freed page: allocator.py) counts every output
    the call allocates instead (in-place leaves allocate none): blocks of gigabytes freed and
    allocated again in other sizes do not land where they were, so the heap grows to hold
    about all of them, and more (:data:`HEAP_KEPT_FACTOR`). Training keeps every output for
    the backward pass either way.
    """
    counts = [r.counts for r in traced if r.counts is not None]
    w = sum(c.weight_elements for c in counts) * _BYTES
    if phase == "inference":
        mem = w + max((c.input_elements + c.output_elements) * _BYTES for c in counts)
        if heap_kept:  # never less than what is alive at once
            allocated = sum(r.counts.output_elements for r in traced
                            if r.counts is not None and not r.params.get("inplace"))
            mem = max(mem, HEAP_KEPT_FACTOR * (w + (counts[0].input_elements + allocated)
                                               * _BYTES))
        factor = 1.0
    else:
        mem = 3 * w + 3 * sum(c.output_elements for c in counts) * _BYTES
        factor = 3.0
    return Estimate(int(mem), factor * sum(_call_s(c, rates) for c in counts))


#: The fixed reference workload measured at intervals: a 3×3 convolution, 64→64 channels,
#: 8 × 28 × 28 input (231 M MACs per call).
REFERENCE = LayerConfig("conv2d", {"in_channels": 64, "out_channels": 64, "kernel_size": 3,
                                   "padding": 1}, (8, 64, 28, 28))


def machine_rates() -> MachineRates:
    """Time the reference convolution and a large copy to get MAC/s and bytes/s (~0.2 s)."""
    conv = build_layer(REFERENCE)
    _, c = layer_counts(REFERENCE)
    with workload(conv, REFERENCE.input_shape, "inference", False) as step:
        step()
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < 0.1:
            step()
            n += 1
        conv_s = (time.perf_counter() - t0) / n
    src = torch.ones(1 << 24)
    dst = torch.empty_like(src)
    dst.copy_(src)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < 0.05:
        dst.copy_(src)
        n += 1
    copy_s = (time.perf_counter() - t0) / n
    return MachineRates(macs_per_s=c.macs / conv_s,
                        bytes_per_s=2 * src.numel() * _BYTES / copy_s)
