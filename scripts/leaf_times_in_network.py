"""Where a network's extra time over its leaves goes: each leaf timed inside the network.

Times (wall clock, perf_counter) one architecture variant at inference three ways: the whole
network per call; each leaf inside it (forward pre/post hooks, summed per leaf over the calls);
each leaf alone on the shape it sees inside, called over and over; and each leaf that
``generate`` measures again with evicted weights, the same way (copies called in turn,
``measurement/in_network.py``). Prints the totals and every leaf whose in-network time differs
from its time alone by more than ``--min-diff-ms``.
The time between leaves is whole minus in-network leaf time (hooks included). Energy here is
CodeCarbon's power x time, so time shares are energy shares to first order. Run it on a quiet
machine, with the allocator state you measure in (e.g. the environment that
``energypred.measurement.allocator.describe("padded")`` prints).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from energypred.configs import ArchConfig, LayerConfig
from energypred.measurement import workloads as wl
from energypred.hardware import DEFAULT_LLC_BYTES, fingerprint
from energypred.measurement.in_network import arch_leaves, evicted_leaves


def per_call_s(fn: Callable[[torch.Tensor], object], x: torch.Tensor, calls: int,
               warmup: int = 50) -> float:
    """Mean seconds per call of ``fn(x)`` after ``warmup`` warm-up calls."""
    with torch.no_grad():
        for _ in range(warmup):
            fn(x)
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(x)
    return (time.perf_counter() - t0) / calls


def evicted_call_s(leaf: LayerConfig, copies: int, calls: int, warmup: int = 50) -> float:
    """Mean seconds per call of ``leaf`` with ``copies`` copies called in turn (``warmup``
    calls after each copy's first), as ``generate`` measures evicted-weight leaves."""
    with wl.workload(wl.build_layer(leaf), leaf.input_shape, "inference", False,
                     copies) as step:
        for _ in range(warmup):
            step()
        t0 = time.perf_counter()
        for _ in range(calls):
            step()
    return (time.perf_counter() - t0) / calls


def main() -> None:
    """Time and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="alexnet")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--resolution", type=int, default=96)
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=50,
                    help="calls before each timing (fewer for full-size networks)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-diff-ms", type=float, default=0.05)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = ArchConfig(args.arch, args.batch_size, args.resolution, args.width, args.classes)
    net = wl.build_arch(cfg).eval()
    leaves = [m for m in net.modules() if not list(m.children())]
    inside = {id(m): 0.0 for m in leaves}
    started: dict[int, float] = {}
    for m in leaves:
        m.register_forward_pre_hook(lambda mod, _: started.__setitem__(id(mod),
                                                                        time.perf_counter()))
        m.register_forward_hook(lambda mod, _i, _o: inside.__setitem__(
            id(mod), inside[id(mod)] + time.perf_counter() - started[id(mod)]))
    x = torch.randn(cfg.input_shape)
    with torch.no_grad():
        for _ in range(args.warmup):
            net(x)
    inside = dict.fromkeys(inside, 0.0)
    whole = per_call_s(net, x, args.calls, args.warmup)
    # per_call_s ran its warm-up calls through the hooks too: divide by all of them
    n_hooked = args.calls + args.warmup
    rows = []
    configs = arch_leaves(cfg, wl.trace_arch(cfg), "inference")
    llc = int(fingerprint().get("llc_bytes") or DEFAULT_LLC_BYTES)
    copies = {lf.context["layer_index"]: n for lf, n in evicted_leaves(configs, llc)}
    for leaf, m in zip(configs, leaves, strict=True):
        alone = per_call_s(wl.build_layer(leaf).eval(), torch.randn(leaf.input_shape),
                           args.calls, args.warmup)
        n = copies.get(leaf.context["layer_index"])
        evicted = evicted_call_s(leaf, n, args.calls, args.warmup) if n else alone
        rows.append((leaf.context["layer_name"], leaf.layer_type, alone,
                     inside[id(m)] / n_hooked, evicted, n))
    total_alone = sum(r[2] for r in rows)
    total_inside = sum(r[3] for r in rows)
    total_evicted = sum(r[4] for r in rows)
    print(f"{args.arch} batch {args.batch_size}, {args.resolution} px, width {args.width}, "
          f"{args.classes} classes, inference, {args.threads} threads, {args.calls} calls:")
    print(f"  whole network {1e3 * whole:.3f} ms per call; its leaves inside it "
          f"{1e3 * total_inside:.3f} ms; the same leaves alone {1e3 * total_alone:.3f} ms "
          f"(alone / whole - 1 = {100 * (total_alone / whole - 1):+.1f} %)")
    print(f"  with the evicted-weight protocol where generate applies it "
          f"({sum(1 for r in rows if r[5])} leaves): {1e3 * total_evicted:.3f} ms "
          f"({100 * (total_evicted / whole - 1):+.1f} %)")
    for name, lt, alone, ins, evicted, n in rows:
        if abs(ins - alone) * 1e3 > args.min_diff_ms:
            ev = f", evicted ({n} copies) {1e3 * evicted:.3f} ms" if n else ""
            print(f"  {name:<14}{lt:<12} alone {1e3 * alone:.3f} ms, inside {1e3 * ins:.3f} ms"
                  f"{ev}")


if __name__ == "__main__":
    main()
