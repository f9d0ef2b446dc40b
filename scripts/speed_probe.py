"""Does a short reference probe taken next to a measurement follow the machine's speed?

On the project's VMs a whole network measured five times within a minute varies by a median
4.8 % (CV of the measurements' means, ``datasets/zen4-2c-padded``), all of it in time per call
(the power CodeCarbon estimates moves by 0.2 %), while the reference workload that ``generate``
times once a minute correlates at 0.15 with that drift. This script asks whether a probe taken
right before and after each measurement would follow it::

    round r:  probe ─ workload A ─ probe ─ workload B ─ probe ─ ... (each timed, perf_counter)
    speed of a probe   = its s per call / median over all probes
    corrected workload = its s per call / mean speed of the probes on either side

and prints, per workload, the CV of its s per call over the rounds as measured, corrected by
the adjacent probes, and corrected by the probe taken ``--lag`` steps earlier (a stale probe,
like a reading once a minute), with the correlation of log workload time and log adjacent-probe
speed. Energy here is CodeCarbon's power × time at a nearly constant power, so a time CV is an
energy CV. Run it alone on a quiet machine; ``--allocator padded`` as ``generate`` measures.

Measured on the Zen 4 VM (2026-11-24, 1 s windows, padded, nothing else running), CV over the
rounds as measured / corrected by the adjacent probes / by the probe 10 steps earlier:

    probe 0.1 s (6 min, 65 rounds; consecutive probes differ by 7.1 %):
      AlexNet w1 b8 inference 7.2 / 6.2 / 8.5 %, VGG11 w0.5 b4 inference 7.1 / 6.2 / 9.4 %,
      AlexNet w0.5 b4 training 8.2 / 9.1 / 11.6 %, Linear 32.6 / 17.4 / 38.1 %, ReLU 25.0 / 24.2 / 26.4 %
    probe 0.3 s (5 min, 46 rounds; consecutive probes differ by 4.6 %):
      AlexNet 7.6 / 4.7 / 8.0 %, VGG11 6.3 / 4.2 / 8.5 %, AlexNet training 8.2 / 4.0 / 9.1 %,
      Linear 16.8 / 11.8 / 17.3 %, ReLU 32.1 / 28.7 / 34.0 %

A 0.3 s probe on either side takes out about 40 % of the spread of compute-bound workloads
(r = 0.77-0.87 between log time and log probe speed); a 0.1 s probe is too noisy itself, a
stale one adds noise, and memory-bound ReLU does not follow a convolution's speed (r = 0.15).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack

import numpy as np
import torch

from energypred.configs import ArchConfig, LayerConfig
from energypred.hardware import fingerprint
from energypred.measurement import workloads as wl
from energypred.measurement.allocator import configure
from energypred.measurement.probe import per_call_s

#: (name, phase, config): compute-bound and memory-bound, leaves and whole networks
WORKLOADS: tuple[tuple[str, str, ArchConfig | LayerConfig], ...] = (
    ("alexnet w1 b8 inference", "inference", ArchConfig("alexnet", 8, 224, 1.0, 1000)),
    ("vgg11 w0.5 b4 inference", "inference", ArchConfig("vgg11", 4, 128, 0.5, 1000)),
    ("alexnet w0.5 b4 training", "training", ArchConfig("alexnet", 4, 160, 0.5, 100)),
    ("linear 9216->4096 b8 inference", "inference",
     LayerConfig("linear", {"in_features": 9216, "out_features": 4096}, (8, 9216))),
    ("relu 8x64x112x112 inference", "inference",
     LayerConfig("relu", {"inplace": False}, (8, 64, 112, 112))),
)


def build(cfg: ArchConfig | LayerConfig, phase: str, stack: ExitStack) -> Callable[[], object]:
    """One call of a workload, allocated and warmed up (0.3 s)."""
    if isinstance(cfg, ArchConfig):
        module = wl.build_arch(cfg)
        step = stack.enter_context(wl.workload(module, cfg.input_shape, phase, False))
    else:
        module = wl.build_layer(cfg)
        step = stack.enter_context(wl.workload(module, cfg.input_shape, phase, True))
    if phase == "training":  # an inference workload's context keeps no_grad on while it is open
        inner = step

        def step() -> None:
            with torch.enable_grad():
                inner()
    per_call_s(step, 0.3)
    return step


def cv(x: np.ndarray) -> float:
    """Coefficient of variation (fraction)."""
    return float(np.std(x, ddof=1) / np.mean(x))


def main(argv: list[str] | None = None) -> None:
    """Run the rounds and print the CVs (fractions as %) and correlations."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="wall time of the rounds")
    ap.add_argument("--window-s", type=float, default=1.0, help="time per workload measurement")
    ap.add_argument("--probe-s", type=float, default=0.1, help="time per probe")
    ap.add_argument("--lag", type=int, default=10,
                    help="steps back for the stale-probe comparison")
    ap.add_argument("--allocator", default="padded", choices=("padded", "system"))
    args = ap.parse_args(argv)
    configure(args.allocator)
    torch.manual_seed(0)
    fp = fingerprint()
    print(f"machine: {fp['cpu_model']}, {fp['cpu_cores']} cores, threads {torch.get_num_threads()}, "
          f"allocator {args.allocator}; window {args.window_s} s, probe {args.probe_s} s")
    with ExitStack() as stack:
        probe = build(wl.REFERENCE, "inference", stack)
        steps = [(name, build(cfg, phase, stack)) for name, phase, cfg in WORKLOADS]
        probes: list[float] = [per_call_s(probe, args.probe_s)]
        runs: dict[str, list[tuple[int, float]]] = {name: [] for name, _ in steps}
        t_end = time.monotonic() + 60 * args.minutes
        while time.monotonic() < t_end:
            for name, step in steps:
                runs[name].append((len(probes) - 1, per_call_s(step, args.window_s)))
                probes.append(per_call_s(probe, args.probe_s))
    p = np.asarray(probes) / statistics.median(probes)
    print(f"probes: {len(p)}, CV {100 * cv(p):.1f} %, consecutive probes differ by "
          f"{100 * np.mean(np.abs(np.diff(np.log(p)))):.1f} % (mean |log ratio|)")
    print(f"{'workload':32s} {'n':>4s} {'CV raw':>7s} {'adjacent':>9s} {'lag ' + str(args.lag):>8s}"
          f" {'r(log)':>7s}")
    for name, rows in runs.items():
        idx = np.asarray([i for i, _ in rows])
        s = np.asarray([v for _, v in rows])
        around = (p[idx] + p[idx + 1]) / 2
        stale = p[np.clip(idx - args.lag, 0, None)]
        r = float(np.corrcoef(np.log(s), np.log(around))[0, 1])
        print(f"{name:32s} {len(s):4d} {100 * cv(s):6.1f}% {100 * cv(s / around):8.1f}% "
              f"{100 * cv(s / stale):7.1f}% {r:7.2f}")


if __name__ == "__main__":
    main()
