"""Where a network's training step differs from its leaves alone: zero_grad, forward, backward
and optimiser step, and (``--per-leaf``) each leaf's forward and backward inside it.

    python scripts/training_split.py --arch alexnet --batch-size 1 --resolution 96
                                     --width 0.25 [--calls 200] [--per-leaf]

Times (wall clock, perf_counter) one architecture variant's training step in its four
segments, as ``measurement/workloads.py`` runs it (SGD with momentum, a fixed output
gradient): the whole network (its input without a gradient), and each of its leaves alone on
the shape it sees inside (with the input gradient where the network computes one, as
``generate`` measures them). Prints per segment the leaves' sum against the network, in ms per
call, and per layer type the leaves' time alone. ``--per-leaf`` also times each leaf inside
the network with hooks (forward: pre/post hooks; backward: from the gradient of its output to
that of the leaf before's output; the optimiser step is not split; hooks cost a little on
every leaf) after as many warm-up steps. ``--copies N`` also times each leaf with weights as
``workloads.workload(copies=N)`` runs it: N copies called in turn, so each call finds its
weights, gradients and momenta evicted by the others' (as inside a network), against alone;
only leaves whose weights fit twice the LLC (above it a single copy streams them already, and
N copies only add allocation: ``measurement/in_network.py``).
Energy here is CodeCarbon's power x time, so time
shares are energy shares to first order. Run it on a quiet machine, in the allocator state you
measure in (``energypred.measurement.allocator.describe("padded")`` prints the environment).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from torch import nn

from energypred.configs import ArchConfig, LayerConfig, Shape
from energypred.hardware import DEFAULT_LLC_BYTES, fingerprint
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
        #: perf_counter when the last call's backward pass returned
        self.backward_end = 0.0

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
        t3 = self.backward_end = time.perf_counter()
        if self.opt is not None:
            self.opt.step()
        t4 = time.perf_counter()
        for k, a, b in zip(SEGMENTS, (t0, t1, t2, t3), (t1, t2, t3, t4), strict=True):
            self.s[k] += b - a

    def run(self, calls: int, warmup: int) -> dict[str, float]:
        """Mean seconds per call of each segment over ``calls`` after ``warmup`` calls."""
        for _ in range(warmup):
            self.step()
        self.s = dict.fromkeys(SEGMENTS, 0.0)
        for _ in range(calls):
            self.step()
        return {k: v / calls for k, v in self.s.items()}


def inside_ms(work: Segmented, calls: int, warmup: int) -> list[tuple[float, float]]:
    """(forward, backward) ms per call of each leaf inside ``work``'s network, in call order,
    over ``calls`` hooked steps after ``warmup`` (module doc)."""
    leaves = [m for m in work.m.modules() if not list(m.children())]
    fwd, bwd = [0.0] * len(leaves), [0.0] * len(leaves)
    marks = [0.0] * len(leaves)
    started = [0.0]

    def pre(_m: nn.Module, _i: object) -> None:
        started[0] = time.perf_counter()

    def post(i: int) -> Callable[[nn.Module, object, torch.Tensor], None]:
        def hook(_m: nn.Module, _i: object, out: torch.Tensor) -> None:
            fwd[i] += time.perf_counter() - started[0]
            if out.requires_grad:
                out.register_hook(lambda g: marks.__setitem__(i, time.perf_counter()))
        return hook

    handles = [h for i, m in enumerate(leaves)
               for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post(i)))]
    for n in range(warmup + calls):
        if n == warmup:
            fwd[:], bwd[:] = [0.0] * len(leaves), [0.0] * len(leaves)
        marks[:] = [0.0] * len(leaves)
        work.step()
        end = work.backward_end
        for i in range(len(leaves)):
            stop = marks[i - 1] if i > 0 and marks[i - 1] else end
            bwd[i] += stop - marks[i] if marks[i] else 0.0
    for h in handles:
        h.remove()
    return [(1e3 * f / calls, 1e3 * b / calls) for f, b in zip(fwd, bwd, strict=True)]


def copies_ms(leaf: LayerConfig, copies: int, calls: int, warmup: int) -> float:
    """ms per training call of ``leaf`` with ``copies`` copies called in turn
    (``workloads.workload``), over ``calls`` after ``warmup``."""
    with wl.workload(wl.build_layer(leaf), leaf.input_shape, "training",
                     leaf.input_requires_grad, copies) as step:
        for _ in range(warmup):
            step()
        t0 = time.perf_counter()
        for _ in range(calls):
            step()
    return 1e3 * (time.perf_counter() - t0) / calls


def main() -> None:
    """Time and print (ms per call)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="alexnet")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--resolution", type=int, default=96)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--per-leaf", action="store_true",
                    help="each leaf's forward and backward inside the network against alone")
    ap.add_argument("--copies", type=int, default=0,
                    help="also time each leaf with weights with this many copies in turn")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = ArchConfig(args.arch, args.batch_size, args.resolution, args.width, args.classes)
    net = Segmented(wl.build_arch(cfg), cfg.input_shape, False)
    whole = net.run(args.calls, args.warmup)
    alone = dict.fromkeys(SEGMENTS, 0.0)
    by_type: dict[str, float] = defaultdict(float)
    rows = []
    leaves = arch_leaves(cfg, wl.trace_arch(cfg), "training")
    for leaf in leaves:
        seg = Segmented(wl.build_layer(leaf), leaf.input_shape,
                        leaf.input_requires_grad).run(args.calls, args.warmup)
        for k in SEGMENTS:
            alone[k] += seg[k]
        by_type[leaf.layer_type] += sum(seg.values())
        rows.append((leaf.context["layer_name"], leaf.layer_type, seg))
    total_w, total_a = sum(whole.values()), sum(alone.values())
    print(f"{args.arch} batch {args.batch_size}, {args.resolution} px, width {args.width}, "
          f"training, {args.threads} threads, {args.calls} calls, {len(rows)} leaves:")
    print(f"  {'segment':<10}{'network':>10}{'leaves':>10}{'diff':>10}   (ms per call)")
    for k in SEGMENTS:
        print(f"  {k:<10}{1e3 * whole[k]:>10.3f}{1e3 * alone[k]:>10.3f}"
              f"{1e3 * (alone[k] - whole[k]):>+10.3f}")
    print(f"  {'total':<10}{1e3 * total_w:>10.3f}{1e3 * total_a:>10.3f}"
          f"{1e3 * (total_a - total_w):>+10.3f}   leaves / network - 1 = "
          f"{100 * (total_a / total_w - 1):+.1f} %")
    print("  leaves alone by type: " + ", ".join(
        f"{t} {1e3 * v:.3f} ms" for t, v in sorted(by_type.items(), key=lambda kv: -kv[1])))
    if args.copies > 1:
        llc = int(fingerprint().get("llc_bytes") or DEFAULT_LLC_BYTES)
        print(f"  leaves with weights up to 2 x LLC ({llc / 2**20:.0f} MiB), alone against "
              f"{args.copies} copies in turn (ms per call):")
        for leaf in leaves:
            weights = wl.layer_counts(leaf)[1].weight_elements * 4
            if 0 < weights <= 2 * llc:
                one = copies_ms(leaf, 1, args.calls, args.warmup)
                many = copies_ms(leaf, args.copies, args.calls, args.warmup)
                print(f"    {leaf.context['layer_name']:<8}{leaf.layer_type:<8}"
                      f"{weights / 2**20:>8.2f} MiB  {one:>9.3f}  {many:>9.3f}  "
                      f"({100 * (many / one - 1):+.0f} %)")
    if not args.per_leaf:
        return
    inside = inside_ms(net, args.calls, args.warmup)
    print(f"  {'leaf':<8}{'type':<19}{'fwd in':>8}{'alone':>8}{'bwd in':>8}{'alone':>8}"
          f"{'step alone':>11}   (ms per call)")
    for (name, lt, seg), (f, b) in zip(rows, inside, strict=True):
        print(f"  {name:<8}{lt:<19}{f:>8.3f}{1e3 * seg['forward']:>8.3f}{b:>8.3f}"
              f"{1e3 * seg['backward']:>8.3f}{1e3 * seg['step']:>11.3f}")


if __name__ == "__main__":
    main()
