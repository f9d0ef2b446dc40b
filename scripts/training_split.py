"""Where a network's training step differs from its leaves alone: zero_grad, forward, backward,
optimiser step, and (``--profile``) which operators.

    python scripts/training_split.py --arch vgg16 --batch-size 1 --resolution 128 --width 1
                                     [--calls 20] [--profile] [--top 12]

Times (wall clock, perf_counter) one architecture variant's training step in its four
segments, as ``measurement/workloads.py`` runs it (SGD with momentum, a fixed output
gradient): the whole network (its input without a gradient), and each of its leaves alone on
the shape it sees inside (with the input gradient where the network computes one, as
``generate`` measures them). Prints per segment the leaves' sum against the network, in ms per
call, and per layer type the leaves' time alone. ``--profile`` also runs the network and the
leaves under ``torch.profiler`` and prints the operators whose self CPU time differs most
(leaves' sum minus network, ms per call; the profiler's own cost included on both sides).
Energy here is CodeCarbon's power x time, so time shares are energy shares to first order.
Run it on a quiet machine, in the allocator state you measure in.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from energypred.configs import ArchConfig, Shape
from energypred.measurement import workloads as wl
from energypred.measurement.in_network import arch_leaves

SEGMENTS = ("zero_grad", "forward", "backward", "step")


class Segmented:
    """One training workload whose step is timed in :data:`SEGMENTS` (seconds summed)."""

    def __init__(self, module: nn.Module, input_shape: Shape, input_requires_grad: bool):
        self.m = module.train()
        self.x = torch.empty(input_shape).uniform_(-1.0, 1.0)
        params = [p for p in module.parameters() if p.requires_grad]
        self.opt = torch.optim.SGD(params, lr=1e-9, momentum=0.9) if params else None
        with torch.no_grad():
            out_shape = tuple(module(self.x.clone()).shape)
        if input_requires_grad:
            self.x.requires_grad_(True)
        self.grad_out = torch.empty(out_shape).uniform_(-1.0, 1.0)
        self.s = dict.fromkeys(SEGMENTS, 0.0)
        self.calls = 0

    def step(self) -> None:
        """One call, its segments added to ``self.s``."""
        t0 = time.perf_counter()
        if self.opt is not None:
            self.opt.zero_grad(set_to_none=True)
        self.x.grad = None
        t1 = time.perf_counter()
        out = self.m(self.x)
        t2 = time.perf_counter()
        out.backward(self.grad_out)
        t3 = time.perf_counter()
        if self.opt is not None:
            self.opt.step()
        t4 = time.perf_counter()
        for k, a, b in zip(SEGMENTS, (t0, t1, t2, t3), (t1, t2, t3, t4), strict=True):
            self.s[k] += b - a
        self.calls += 1

    def run(self, calls: int, warmup: int) -> dict[str, float]:
        """Mean seconds per call of each segment over ``calls`` after ``warmup`` calls."""
        for _ in range(warmup):
            self.step()
        self.s = dict.fromkeys(SEGMENTS, 0.0)
        self.calls = 0
        for _ in range(calls):
            self.step()
        return {k: v / calls for k, v in self.s.items()}


def inside_ms(net: nn.Module, x: torch.Tensor, grad_out: torch.Tensor, calls: int
              ) -> list[tuple[float, float]]:
    """(forward, backward) ms per call of each leaf inside ``net`` in call order (hooks: a
    leaf's backward runs from its output's gradient to the gradient of the leaf before's
    output, the first leaf's until ``backward`` returns; the optimiser step is not split)."""
    leaves = [m for m in net.modules() if not list(m.children())]
    fwd = [0.0] * len(leaves)
    marks: list[float] = [0.0] * len(leaves)
    started = [0.0]

    def pre(i: int) -> Callable[..., None]:
        return lambda *_: started.__setitem__(0, time.perf_counter())

    def post(i: int) -> Callable[..., None]:
        def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
            fwd[i] += time.perf_counter() - started[0]
            if out.requires_grad:
                out.register_hook(lambda g: marks.__setitem__(i, time.perf_counter()))
        return hook

    handles = []
    for i, m in enumerate(leaves):
        handles += [m.register_forward_pre_hook(pre(i)), m.register_forward_hook(post(i))]
    bwd = [0.0] * len(leaves)
    fwd[:] = [0.0] * len(leaves)
    for _ in range(calls):
        net.zero_grad(set_to_none=True)
        out = net(x)
        out.backward(grad_out)
        end = time.perf_counter()
        for i in range(len(leaves)):
            stop = marks[i - 1] if i > 0 else end
            bwd[i] += stop - marks[i] if marks[i] else 0.0
        marks[:] = [0.0] * len(leaves)
    for h in handles:
        h.remove()
    return [(1e3 * f / calls, 1e3 * b / calls) for f, b in zip(fwd, bwd, strict=True)]


def op_ms(work: Segmented, calls: int) -> dict[str, float]:
    """Self CPU ms per call of each operator over ``calls`` profiled calls of ``work``."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            work.step()
    return {e.key: e.self_cpu_time_total / 1e3 / calls for e in prof.key_averages()}


def main() -> None:
    """Time and print (ms per call)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="vgg16")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--per-leaf", action="store_true",
                    help="each leaf's forward + backward inside the network against alone")
    ap.add_argument("--top", type=int, default=12, help="operators to print with --profile")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = ArchConfig(args.arch, args.batch_size, args.resolution, args.width, args.classes)
    net = Segmented(wl.build_arch(cfg), cfg.input_shape, False)
    whole = net.run(args.calls, args.warmup)
    alone = dict.fromkeys(SEGMENTS, 0.0)
    by_type: dict[str, float] = defaultdict(float)
    works = []
    leaf_rows = []
    for leaf in arch_leaves(cfg, wl.trace_arch(cfg), "training"):
        work = Segmented(wl.build_layer(leaf), leaf.input_shape, leaf.input_requires_grad)
        seg = work.run(args.calls, args.warmup)
        for k in SEGMENTS:
            alone[k] += seg[k]
        by_type[leaf.layer_type] += sum(seg.values())
        works.append(work)
        leaf_rows.append((leaf.context["layer_name"], leaf.layer_type, seg))
    total_w, total_a = sum(whole.values()), sum(alone.values())
    print(f"{args.arch} batch {args.batch_size}, {args.resolution} px, width {args.width}, "
          f"training, {args.threads} threads, {args.calls} calls, {len(works)} leaves:")
    print(f"  {'segment':<10}{'network':>10}{'leaves':>10}{'diff':>10}   (ms per call)")
    for k in SEGMENTS:
        print(f"  {k:<10}{1e3 * whole[k]:>10.3f}{1e3 * alone[k]:>10.3f}"
              f"{1e3 * (alone[k] - whole[k]):>+10.3f}")
    print(f"  {'total':<10}{1e3 * total_w:>10.3f}{1e3 * total_a:>10.3f}"
          f"{1e3 * (total_a - total_w):>+10.3f}   leaves / network - 1 = "
          f"{100 * (total_a / total_w - 1):+.1f} %")
    print("  leaves alone by type: " + ", ".join(
        f"{t} {1e3 * v:.3f} ms" for t, v in sorted(by_type.items(), key=lambda kv: -kv[1])))
    if args.per_leaf:
        inside = inside_ms(net.m, net.x, net.grad_out, args.calls)
        print(f"  {'leaf':<16}{'type':<19}{'fwd in':>8}{'alone':>8}{'bwd in':>8}{'alone':>8}"
              f"{'step alone':>11}   (ms per call)")
        for (name, lt, seg), (f, b) in zip(leaf_rows, inside, strict=True):
            print(f"  {name:<16}{lt:<19}{f:>8.3f}{1e3 * seg['forward']:>8.3f}{b:>8.3f}"
                  f"{1e3 * seg['backward']:>8.3f}{1e3 * seg['step']:>11.3f}")
    if not args.profile:
        return
    in_net = op_ms(net, args.calls)
    summed: dict[str, float] = defaultdict(float)
    for work in works:
        for k, v in op_ms(work, args.calls).items():
            summed[k] += v
    keys = sorted(set(in_net) | set(summed),
                  key=lambda k: -abs(summed.get(k, 0.0) - in_net.get(k, 0.0)))
    print(f"  profiled (self CPU): network {sum(in_net.values()):.3f} ms, leaves "
          f"{sum(summed.values()):.3f} ms per call; largest differences:")
    for k in keys[:args.top]:
        a, n = summed.get(k, 0.0), in_net.get(k, 0.0)
        print(f"    {k:<44}{n:>9.3f}{a:>9.3f}{a - n:>+9.3f}")


if __name__ == "__main__":
    main()
