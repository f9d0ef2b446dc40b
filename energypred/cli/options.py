"""Options shared by ``predict`` and ``compare``: input, predictor, carbon, theory, format."""

from __future__ import annotations

import argparse
from typing import Any

from energypred.carbon import Intensity, resolve_intensity
from energypred.loading import parse_shape
from energypred.reporting import FORMATS


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """Batch, input shape, kwargs, predictor, phase, strictness."""
    p.add_argument("--batch-size", type=int, default=1, help="samples per call (default 1)")
    p.add_argument("--input-shape", default="3,224,224",
                   help="one sample, without the batch (default 3,224,224)")
    p.add_argument("--kwargs", default=None, help="JSON object of arguments for the class/factory")
    p.add_argument("--predictor", default=None, help="predictor directory (default: shipped)")
    p.add_argument("--phase", default="inference", choices=["inference", "training"])
    p.add_argument("--strict", action="store_true", help="fail if any work cannot be priced")


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    """Carbon intensity, PUE, the theoretical baseline, output format and plot."""
    g = p.add_argument_group("carbon (at most one source; default: world average 475 g/kWh)")
    g.add_argument("--country", default=None, help="ISO3 code, e.g. DEU, FRA, USA")
    g.add_argument("--energy-mix", default=None,
                   help="e.g. coal=0.25,petroleum=0.35,natural_gas=0.26,nuclear=0.14")
    g.add_argument("--carbon-intensity", type=float, default=None, help="g CO2e per kWh")
    g.add_argument("--pue", type=float, default=1.0,
                   help="power usage effectiveness: facility/compute energy (default 1.0)")
    p.add_argument("--theory", action="store_true",
                   help="add the theoretical estimate from elementary operations (Horowitz)")
    p.add_argument("--op-costs", default=None,
                   help="CSV of pJ per operation (operation,8,16,32) for --theory")
    p.add_argument("--format", default="table", choices=FORMATS)
    p.add_argument("--plot", default=None, help="write a PNG figure here")


def intensity_from(args: argparse.Namespace) -> Intensity:
    """The carbon intensity the options ask for."""
    return resolve_intensity(args.country, args.energy_mix, args.carbon_intensity)


def predict_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for :func:`energypred.predict` from parsed options."""
    theory: str | bool | None = args.op_costs or (True if args.theory else None)
    return {"input_shape": parse_shape(args.input_shape), "batch_size": args.batch_size,
            "predictor": args.predictor, "phase": args.phase, "strict": args.strict,
            "kwargs": args.kwargs, "pue": args.pue, "intensity": intensity_from(args),
            "theory_costs": theory}
