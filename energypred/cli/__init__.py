"""Command line: ``energypred <command> ...``; ``main(argv=None) -> int`` for tests.

Each command module has ``add_arguments(parser)`` and ``run(args) -> int``. Errors that
energypred raises on purpose become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

from energypred import __version__
from energypred.cli import check, compare, countries, evaluate, fit, generate, predict
from energypred.errors import EnergypredError

COMMANDS: dict[str, tuple[ModuleType, str]] = {
    "generate": (generate, "measure a local layer-energy dataset with CodeCarbon"),
    "fit": (fit, "fit per-layer-type regressors on a dataset"),
    "predict": (predict, "predict the joules of a model before running it"),
    "evaluate": (evaluate, "whole-model error with architectures held out, and additivity"),
    "check": (check, "is this machine in the state the predictor's data was measured in?"),
    "compare": (compare, "several models side by side: J/sample, kWh and g CO2e per 1M"),
    "countries": (countries, "list the country codes --country accepts"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """One line and exit code 2, as argparse does, without the usage block."""
        self.exit(2, f"energypred: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    parser = _Parser(prog="energypred", description="Predict the energy of PyTorch models "
                     "from a dataset measured on your own hardware.")
    parser.add_argument("--version", action="version", version=f"energypred {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    args.from_command_line = argv is None  # the process's own argv: it may be restarted
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                        format="energypred: %(levelname)s: %(message)s")
    if not args.verbose:  # reports print their own warnings; the log would repeat them
        logging.getLogger("energypred.prediction").setLevel(logging.ERROR)
    try:
        return int(args._run(args))
    except EnergypredError as err:
        print(f"energypred: error: {err}", file=sys.stderr)
        return 2
