"""``energypred countries``: the ISO3 codes ``--country`` accepts, with their intensity."""

from __future__ import annotations

import argparse

from energypred.carbon import country_codes, country_intensity


def add_arguments(p: argparse.ArgumentParser) -> None:
    """No options."""


def run(args: argparse.Namespace) -> int:
    """Print code, country and g CO2e/kWh, one per line."""
    for code, name in country_codes().items():
        print(f"{code}  {country_intensity(code).g_per_kwh:8.2f} g/kWh  {name}")
    return 0
