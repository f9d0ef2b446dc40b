"""Additivity of the measurements under each allocator setting (measurement/allocator.py).

For a fixed list of architecture variants, measures (CodeCarbon, the generate protocol: 0.5 s
windows x 3) the whole network, then every leaf alone, then the whole network again (a bracket),
once per allocator setting, each setting in a fresh process (``padded`` cannot be undone; its
process starts with ``MKL_ENV``).
Prints per variant the measured J per call of the whole (mean of the bracket) and of the sum of
its leaves, additivity (leaves / whole - 1), the bracket's drift and the minor page faults per
call, then per (allocator, phase) the mean |additivity|. Run it on a quiet machine: nothing else
may use the CPU while it measures. Takes about 15 minutes on the project's 2-core VM.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from statistics import fmean

import torch

from energypred.measurement.allocator import MKL_ENV, PADDED

#: (architecture, batch, resolution, width, classes, phase): small enough for ~1 min each
VARIANTS = [
    ("alexnet", 8, 224, 0.5, 100, "inference"),
    ("alexnet", 4, 128, 1.0, 1000, "inference"),
    ("vgg11", 4, 128, 0.75, 1000, "inference"),
    ("vgg13", 2, 96, 0.5, 100, "inference"),
    ("vgg16", 1, 160, 1.0, 10, "inference"),
    ("alexnet", 8, 224, 0.5, 100, "training"),
    ("vgg11", 2, 64, 1.0, 1000, "training"),
    ("vgg13", 4, 64, 0.5, 100, "training"),
    ("vgg16", 1, 96, 0.5, 10, "training"),
]


def worker(allocator_name: str, window_s: float, repeats: int, limit: int) -> None:
    """Measure every variant in this process under one allocator; one JSON line each."""
    from energypred.configs import ArchConfig
    from energypred.measurement import CodeCarbonMeter, measure
    from energypred.measurement import allocator
    from energypred.measurement import workloads as wl
    from energypred.measurement.in_network import arch_leaves
    from energypred.measurement.protocol import Measurement

    allocator.configure(allocator_name)
    torch.set_num_threads(2)
    meter = CodeCarbonMeter()

    def run(module: torch.nn.Module, shape: tuple[int, ...], phase: str,
            grad: bool) -> Measurement:
        with wl.workload(module, shape, phase, grad) as step:
            return measure(step, meter, window_s, repeats)

    ref = wl.build_layer(wl.REFERENCE)
    for _ in range(3):  # settle the VM (the first minute of a run is slower)
        run(ref, wl.REFERENCE.input_shape, "inference", False)
    ref_m = run(ref, wl.REFERENCE.input_shape, "inference", False)
    for arch, b, res, w, c, phase in VARIANTS[:limit]:
        cfg = ArchConfig(arch, b, res, w, c)
        net = wl.build_arch(cfg)
        before = run(net, cfg.input_shape, phase, False)
        leaves = [run(wl.build_layer(leaf), leaf.input_shape, phase, leaf.input_requires_grad)
                  for leaf in arch_leaves(cfg, wl.trace_arch(cfg), phase)]
        after = run(net, cfg.input_shape, phase, False)
        whole_j = (before.energy_j + after.energy_j) / 2
        leaves_j = sum(m.energy_j for m in leaves)
        print(json.dumps({
            "allocator": allocator_name, "variant": f"{arch} b{b} {res}px w{w} c{c}",
            "phase": phase, "whole_j": whole_j, "leaves_j": leaves_j,
            "additivity": leaves_j / whole_j - 1, "drift": after.energy_j / before.energy_j - 1,
            "whole_faults": (before.minor_faults_per_call + after.minor_faults_per_call) / 2,
            "leaves_faults": sum(m.minor_faults_per_call for m in leaves),
            "whole_s": (before.duration_s + after.duration_s) / 2,
            "reference_j": ref_m.energy_j, "method": meter.methods.describe()}), flush=True)


def main() -> None:
    """Run one worker per allocator setting and print the comparison."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--allocators", default="system,padded")
    ap.add_argument("--window-s", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, default=len(VARIANTS), help="first N variants only")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.window_s, args.repeats, args.limit)
        return
    rows = []
    for name in args.allocators.split(","):
        env = {**os.environ, **(MKL_ENV if name == PADDED else {})}
        out = subprocess.run([sys.executable, __file__, "--worker", name, "--window-s",
                              str(args.window_s), "--repeats", str(args.repeats),
                              "--limit", str(args.limit)],
                             capture_output=True, text=True, check=True, env=env)
        rows += [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    print(f"energy from {rows[0]['method']}" if rows else "no rows")
    print(f"{'allocator':<9}{'variant':<28}{'phase':<10}{'whole J':>9}{'leaves J':>10}"
          f"{'additiv.':>9}{'drift':>8}{'faults whole':>13}{'leaves':>8}{'ref mJ':>8}")
    for r in rows:
        print(f"{r['allocator']:<9}{r['variant']:<28}{r['phase']:<10}{r['whole_j']:>9.4f}"
              f"{r['leaves_j']:>10.4f}{100 * r['additivity']:>8.1f}%{100 * r['drift']:>7.1f}%"
              f"{r['whole_faults']:>13.0f}{r['leaves_faults']:>8.0f}"
              f"{1e3 * r['reference_j']:>8.1f}")
    print("\nmean |additivity| (mean signed) per allocator and phase:")
    for name in args.allocators.split(","):
        for phase in ("inference", "training"):
            a = [r["additivity"] for r in rows if r["allocator"] == name and r["phase"] == phase]
            if a:
                print(f"  {name:<8}{phase:<10} n={len(a)}  {100 * fmean(abs(x) for x in a):.1f} % "
                      f"({100 * fmean(a):+.1f} %)")


if __name__ == "__main__":
    main()
