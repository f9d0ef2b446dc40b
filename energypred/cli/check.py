"""``energypred check``: is this machine in the state the predictor's data was measured in?"""

from __future__ import annotations

import argparse

from energypred import artifacts
from energypred.machine_check import DEFAULT_TOLERANCE, check_machine


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``check``."""
    p.add_argument("--predictor", default=None, help="predictor directory (default: shipped)")
    p.add_argument("--seconds", type=float, default=2.0,
                   help="how long to time the reference workload (default 2 s)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"largest accepted |time ratio - 1| (default {DEFAULT_TOLERANCE:g})")


def run(args: argparse.Namespace) -> int:
    """Print the comparison; exit 0 when the states match, 1 when they do not."""
    from energypred.cli.generate import restart_for_allocator

    predictor = artifacts.load(args.predictor) if args.predictor else artifacts.load_default()
    restart_for_allocator(str(predictor.metadata.get("allocator")), args)
    result = check_machine(predictor, seconds=max(0.1, args.seconds), tolerance=args.tolerance)
    print(f"predictor: {predictor.source}")
    print("\n".join(result.lines()))
    return 0 if result.ok else 1
