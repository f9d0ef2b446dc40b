"""``energypred compare``: several models side by side (J/sample, kWh and g CO2e per 1M)."""

from __future__ import annotations

import argparse

from tqdm import tqdm

from energypred.artifacts import load, load_default
from energypred.cli.options import add_model_arguments, add_report_arguments, predict_kwargs
from energypred.prediction import predict
from energypred.reporting import compare_lines, compare_record


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``compare``."""
    p.add_argument("models", nargs="+", help="built-in names or path/net.py:Class specs")
    add_model_arguments(p)
    add_report_arguments(p)


def run(args: argparse.Namespace) -> int:
    """Predict every model with the same settings and print one row each."""
    kw = predict_kwargs(args)
    kw["predictor"] = load(kw["predictor"]) if kw["predictor"] else load_default()
    records = []
    for spec in tqdm(args.models, desc="predicting", unit="model", leave=False,
                     disable=len(args.models) < 3):
        records.append(compare_record(spec, predict(spec, **kw)))
    print("\n".join(compare_lines(records, args.format)))
    if args.plot:
        from energypred.plots import compare_plot

        path = compare_plot(records, args.plot)
        if args.format != "json":
            print(f"wrote {path}")
    return 0
