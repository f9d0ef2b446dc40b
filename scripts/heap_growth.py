"""How far a whole-network measurement grows the heap, against the budget guard's estimates.

    python scripts/heap_growth.py --arch vgg16 --batch 128 [--resolution 224] [--width 1]
        [--phase inference] [--calls 3] [--allocator padded]

Runs the network as a measurement does (``workloads.workload``: a warm-up call, then
``--calls`` calls) in this process, under ``--allocator`` (set before anything is allocated),
and prints, in GB (1e9 bytes): the resident memory before, its peak after, the growth, and the
two estimates of ``workloads.estimate_arch`` (the live pair of tensors at inference, and every
output of the call, which the guard uses under ``padded``), with the ratio of the growth to
each. Run it alone: a second process's memory does not show here, but its load slows the
calls. The growth is what the guard must keep below ``--max-memory-gb``: a measurement that
outgrows the machine is ended by the kernel's OOM killer, not by the guard.
"""

from __future__ import annotations

import argparse
import time

import torch

from energypred.configs import ArchConfig
from energypred.measurement import allocator
from energypred.measurement import workloads as wl


def main() -> None:
    """Measure and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="vgg16")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--phase", default="inference", choices=["inference", "training"])
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--allocator", default=allocator.PADDED)
    args = ap.parse_args()
    allocator.configure(args.allocator)
    cfg = ArchConfig(args.arch, args.batch, args.resolution, args.width, args.classes)
    traced = wl.trace_arch(cfg)
    rates = wl.MachineRates(1.0, 1.0)  # memory only: the rates do not enter it
    live = wl.estimate_arch(traced, args.phase, rates, heap_kept=False).memory_bytes
    every = wl.estimate_arch(traced, args.phase, rates, heap_kept=True).memory_bytes
    before = allocator.resident_bytes()
    t0 = time.perf_counter()
    with wl.workload(wl.build_arch(cfg), cfg.input_shape, args.phase, False) as step:
        step()  # warm-up, as every measurement starts
        for _ in range(args.calls):
            step()
    seconds = (time.perf_counter() - t0) / (args.calls + 1)
    peak = allocator.peak_resident_bytes()
    grew = peak - before
    print(f"{args.arch} {args.phase}, batch {args.batch}, {args.resolution} px, width "
          f"{args.width:g}, allocator {args.allocator}, torch threads {torch.get_num_threads()}: "
          f"{args.calls + 1} calls, {seconds:.2f} s per call")
    print(f"  resident before {before / 1e9:.2f} GB, peak {peak / 1e9:.2f} GB: grew "
          f"{grew / 1e9:.2f} GB")
    print(f"  estimate, live tensors: {live / 1e9:.2f} GB (growth {grew / live:.2f}x)")
    print(f"  estimate, every output: {every / 1e9:.2f} GB (growth {grew / every:.2f}x)")


if __name__ == "__main__":
    main()
