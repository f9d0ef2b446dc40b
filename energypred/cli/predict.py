"""``energypred predict``: predicted joules (and carbon) of a model, before running it."""

from __future__ import annotations

import argparse

from energypred.cli.options import add_model_arguments, add_report_arguments, predict_kwargs
from energypred.prediction import predict
from energypred.reporting import report_lines


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``predict``."""
    p.add_argument("model", help="built-in name (vgg16, alexnet, ...), path/to/net.py:Class, "
                                 "or package.module:factory")
    add_model_arguments(p)
    add_report_arguments(p)
    p.add_argument("--json", action="store_true", help="same as --format json")


def run(args: argparse.Namespace) -> int:
    """Predict and print (table, markdown or JSON); optionally plot."""
    report = predict(args.model, **predict_kwargs(args))
    fmt = "json" if args.json else args.format
    print("\n".join(report_lines(report, args.model, fmt)))
    if args.plot:
        from energypred.plots import layers_plot

        path = layers_plot(report, args.model, args.plot)
        if fmt != "json":
            print(f"wrote {path}")
    return 0
