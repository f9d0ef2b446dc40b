"""``energypred generate``: measure a layer-energy dataset on this machine."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from energypred.architectures import ARCHITECTURES
from energypred.errors import ConfigError
from energypred.layers import SAMPLED_LAYER_TYPES
from energypred.sampling import (ARCH_BATCH_SIZES, ARCH_RESOLUTIONS, ARCH_WIDTHS, PHASES,
                                 SAMPLERS, ArchSpace, parse_shard)
from energypred.schema import ALLOCATORS


def parse_duration(text: str) -> float:
    """``"45m"``, ``"1h30m"``, ``"90s"``, ``"2h"`` or plain seconds -> seconds."""
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError(f"cannot read duration {text!r}; use e.g. 45m, 1h30m, 90s")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def _names(text: str, known: tuple[str, ...] | list[str], what: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"unknown {what} {', '.join(unknown)}; use any of {','.join(known)}")
    return names


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``generate``."""
    p.add_argument("--out", required=True, type=Path, help="dataset directory (created or resumed)")
    p.add_argument("--layers", default=",".join(SAMPLED_LAYER_TYPES),
                   help="comma-separated layer types (default: all); '' for none")
    p.add_argument("--architectures", default="",
                   help=f"comma-separated, from {','.join(ARCHITECTURES)} (default: none)")
    p.add_argument("--sampler", default="realistic",
                   help="uniform, realistic, scaled (realistic layers in slimmed, "
                   "low-resolution network variants), or several (comma)")
    p.add_argument("--phase", default="inference", help="inference, training, or both (comma)")
    p.add_argument("--samples", type=int, default=100, help="configurations per layer type, "
                   "sampler and phase (default 100)")
    p.add_argument("--arch-samples", type=int, default=None,
                   help="variants per architecture and phase (default: samples // 10, >= 1)")
    p.add_argument("--arch-batches", default=",".join(map(str, ARCH_BATCH_SIZES)),
                   help="batch sizes architecture variants draw from, comma list (default "
                        f"{','.join(map(str, ARCH_BATCH_SIZES))}; a repeat weighs a size twice)")
    p.add_argument("--arch-resolutions", default=",".join(map(str, ARCH_RESOLUTIONS)),
                   help="input resolutions (px) architecture variants draw from, comma list "
                        f"(default {','.join(map(str, ARCH_RESOLUTIONS))})")
    p.add_argument("--arch-widths", default=",".join(map(str, ARCH_WIDTHS)),
                   help="width multipliers architecture variants draw from, comma list "
                        f"(default {','.join(map(str, ARCH_WIDTHS))}; 1 is the full network)")
    p.add_argument("--max-time", default=None, help="stop after this long, e.g. 45m (resumable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shard", default="0/1", help="i/N: measure the i-th of N disjoint slices")
    p.add_argument("--window-s", type=float, default=0.5, help="seconds per measurement window")
    p.add_argument("--repeats", type=int, default=3, help="windows per configuration")
    p.add_argument("--max-call-s", type=float, default=2.0,
                   help="skip configurations estimated slower than this per call (s)")
    p.add_argument("--max-memory-gb", type=float, default=None,
                   help="skip configurations estimated larger (default: half the free RAM)")
    p.add_argument("--reference-every-s", type=float, default=60.0,
                   help="measure the reference workload this often (s)")
    p.add_argument("--whole-every-s", type=float, default=4.0,
                   help="measure a whole network again between its leaves this often (s; "
                        "default 4; 0: only before and after them)")
    p.add_argument("--max-whole-share", type=float, default=0.5,
                   help="largest share of a network's time spent measuring it whole: a "
                        "measurement that took T s waits T x (1 - share) / share s of leaves "
                        "before the next (default 0.5; 1: no limit beyond --whole-every-s)")
    p.add_argument("--probe-s", type=float, default=0.0,
                   help="time the reference convolution this long between measurements, so "
                        "each row records the machine's speed right then (s; e.g. 0.3; "
                        "default 0: no probe, measured not to pay for its time: "
                        "measurement/probe.py)")
    p.add_argument("--settle-s", type=float, default=120.0,
                   help="at most this long running the reference until the machine is steady")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--flush-rows", type=int, default=64,
                   help="rows per Parquet shard (a kill loses at most this many)")
    p.add_argument("--no-evicted-leaves", action="store_true",
                   help="measure a network's leaves only alone, not again with their weights "
                        "evicted from the cache as inside the network")
    p.add_argument("--max-reference-shift", type=float, default=0.25,
                   help="resuming: refuse when the reference workload costs more than this "
                        "fraction more or less than in the dataset so far (default 0.25; 0: "
                        "no check)")
    p.add_argument("--allocator", choices=ALLOCATORS, default=ALLOCATORS[0],
                   help="malloc state to measure in: padded (default; glibc keeps freed memory "
                        "mapped, so calls take no page faults after warm-up and a network "
                        "costs what its leaves do) or system (the C library as configured by "
                        "default; datasets measured before schema 3 used it)")
    p.add_argument("--redo-faulted", action="store_true",
                   help="measure again the dataset's faulted measurements (page faults over 2 %% "
                        "of a call under the padded allocator; fit leaves them out) instead of "
                        "a sampled plan; the sampling options are then ignored")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _numbers(text: str, kind: type, option: str) -> tuple:
    try:
        return tuple(kind(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"{option} must be a comma list of {kind.__name__}s, got "
                          f"{text!r}") from None


def parse_arch_space(batches: str, resolutions: str, widths: str) -> ArchSpace:
    """``"32,64"``, ``"224"``, ``"1"`` -> the :class:`~energypred.sampling.ArchSpace` variants
    draw from: batch sizes (samples per call), resolutions (px), width multipliers."""
    return ArchSpace(batch_sizes=_numbers(batches, int, "--arch-batches"),
                     resolutions=_numbers(resolutions, int, "--arch-resolutions"),
                     widths=_numbers(widths, float, "--arch-widths"))


def options_from_args(args: argparse.Namespace) -> "GenerateOptions":  # noqa: F821
    """Validate the arguments into :class:`energypred.generate.GenerateOptions`."""
    from energypred.generate import GenerateOptions

    if args.samples < 0 or (args.arch_samples is not None and args.arch_samples < 0):
        raise ConfigError("--samples and --arch-samples must be >= 0")
    if args.window_s <= 0 or args.repeats < 1:
        raise ConfigError("--window-s must be > 0 and --repeats >= 1")
    if not 0 < args.max_whole_share <= 1:
        raise ConfigError(f"--max-whole-share must be in (0, 1], got {args.max_whole_share}")
    layers = _names(args.layers, SAMPLED_LAYER_TYPES, "layer")
    archs = _names(args.architectures, list(ARCHITECTURES), "architecture")
    if not layers and not archs and not args.redo_faulted:
        raise ConfigError("nothing to measure: give --layers and/or --architectures")
    arch_samples = (max(1, args.samples // 10) if args.arch_samples is None
                    else args.arch_samples) if archs else 0
    return GenerateOptions(
        out=args.out, layers=layers, architectures=archs,
        samplers=_names(args.sampler, SAMPLERS, "sampler"),
        phases=_names(args.phase, PHASES, "phase"),
        samples=args.samples if layers else 0, arch_samples=arch_samples, seed=args.seed,
        arch_space=parse_arch_space(args.arch_batches, args.arch_resolutions, args.arch_widths),
        shard=parse_shard(args.shard), window_s=args.window_s, repeats=args.repeats,
        max_time_s=parse_duration(args.max_time) if args.max_time else None,
        max_memory_bytes=int(args.max_memory_gb * 1e9) if args.max_memory_gb else None,
        max_call_s=args.max_call_s, reference_every_s=args.reference_every_s,
        whole_every_s=max(0.0, args.whole_every_s), whole_max_share=args.max_whole_share,
        threads=args.threads, progress=not args.no_progress,
        flush_rows=max(1, args.flush_rows), settle_s=max(0.0, args.settle_s),
        evicted_leaves=not args.no_evicted_leaves,
        max_reference_shift=max(0.0, args.max_reference_shift), allocator=args.allocator,
        probe_s=max(0.0, args.probe_s), redo_faulted=args.redo_faulted)


def restart_for_allocator(allocator: str, args: argparse.Namespace) -> None:
    """Replace this process by the same command with ``allocator.MKL_ENV`` set, when
    ``allocator`` is ``padded``, the environment lacks it, and the process was started from the
    command line: MKL reads the setting only when it loads, which has happened by now
    (measurement/allocator.py). Called as an API, ``configure`` warns instead."""
    from energypred.measurement.allocator import MKL_ENV, PADDED, env_ready

    if allocator != PADDED or env_ready() or not getattr(args, "from_command_line", False):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], {**os.environ, **MKL_ENV})


def run(args: argparse.Namespace) -> int:
    """Run or resume the measurement; prints the summary. Exit 130 if interrupted."""
    from energypred.generate import generate

    opts = options_from_args(args)
    restart_for_allocator(opts.allocator, args)
    summary = generate(opts)
    print("\n".join(summary.lines()))
    return 130 if summary.stopped == "interrupted" else 0
