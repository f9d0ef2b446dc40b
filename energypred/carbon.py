"""From joules to carbon: grid carbon intensity, facility overhead (PUE), grams of CO2e.

Carbon intensity (g CO2e per kWh) comes, in this order of precedence, from:
    ``--carbon-intensity G``   given directly;
    ``--energy-mix a=x,b=y``   a share-weighted average of per-source intensities (below);
    ``--country ISO3``         the country's grid, from the data files shipped inside the
                               installed codecarbon package (no network);
    none of them               the world average, 475 g/kWh, and the report says so.
Facility energy = PUE × compute energy (PUE 1.0 = no overhead; data centres average ~1.6).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from energypred.errors import ConfigError
from energypred.units import j_to_kwh

WORLD_AVERAGE_G_PER_KWH = 475.0

#: Life-cycle intensity per generation source, g CO2e per kWh.
SOURCE_G_PER_KWH: dict[str, float] = {
    "coal": 995.0, "petroleum": 816.0, "natural_gas": 743.0, "geothermal": 38.0,
    "hydroelectricity": 26.0, "nuclear": 29.0, "solar": 48.0, "wind": 26.0,
}


@dataclass(frozen=True)
class Intensity:
    """A grid carbon intensity and where it came from."""

    g_per_kwh: float
    source: str


@dataclass(frozen=True)
class Footprint:
    """Compute energy, facility energy and emissions of one quantity of work."""

    compute_energy_j: float
    pue: float
    intensity: Intensity

    @property
    def facility_energy_j(self) -> float:
        """PUE × compute energy, J."""
        return self.pue * self.compute_energy_j

    @property
    def facility_energy_kwh(self) -> float:
        """Facility energy, kWh."""
        return j_to_kwh(self.facility_energy_j)

    @property
    def gco2e(self) -> float:
        """Grams of CO2e: facility kWh × intensity."""
        return self.facility_energy_kwh * self.intensity.g_per_kwh

    def factors(self) -> str:
        """Every factor used, in one line."""
        return (f"PUE {self.pue:g}; carbon intensity {self.intensity.g_per_kwh:.2f} g CO2e/kWh "
                f"({self.intensity.source})")


@lru_cache(maxsize=1)
def _country_table() -> dict[str, dict[str, object]]:
    import codecarbon

    path = Path(codecarbon.__file__).parent / "data" / "private_infra" / "global_energy_mix.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"cannot read codecarbon's country data {path}: {err}") from err


def country_codes() -> dict[str, str]:
    """ISO3 code -> country name, for every country codecarbon has data for."""
    return {k: str(v.get("country_name", k)) for k, v in sorted(_country_table().items())}


def country_intensity(iso3: str) -> Intensity:
    """The grid intensity of a country (ISO 3166-1 alpha-3 code, e.g. ``DEU``)."""
    code = iso3.strip().upper()
    row = _country_table().get(code)
    if row is None or "carbon_intensity" not in row:
        raise ConfigError(f"unknown country code {iso3!r}: use an ISO 3166-1 alpha-3 code "
                          "such as DEU, FRA or USA (`energypred countries` lists all)")
    year = row.get("year", "?")
    return Intensity(float(row["carbon_intensity"]),  # type: ignore[arg-type]
                     f"{row.get('country_name', code)} grid {year}, codecarbon data")


def parse_mix(text: str) -> dict[str, float]:
    """``"coal=0.25,nuclear=0.75"`` -> {source: share}; shares must sum to 1 (±1e-6)."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not sep:
            raise ConfigError(f"--energy-mix part {part!r} is not source=share")
        if name not in SOURCE_G_PER_KWH:
            raise ConfigError(f"unknown energy source {name!r}; use any of "
                              f"{', '.join(SOURCE_G_PER_KWH)}")
        try:
            share = float(value)
        except ValueError:
            raise ConfigError(f"--energy-mix share {value!r} for {name} is not a number") from None
        if not 0 <= share <= 1 or name in mix:
            raise ConfigError(f"--energy-mix: {name} must appear once with a share in [0, 1]")
        mix[name] = share
    total = sum(mix.values())
    if not mix or abs(total - 1.0) > 1e-6:
        raise ConfigError(f"--energy-mix shares must sum to 1, they sum to {total:.6g}")
    return mix


def mix_intensity(mix: dict[str, float]) -> Intensity:
    """Share-weighted average of the per-source intensities."""
    g = sum(share * SOURCE_G_PER_KWH[src] for src, share in mix.items())
    desc = ", ".join(f"{s} {100 * v:g} %" for s, v in mix.items())
    return Intensity(g, f"energy mix: {desc}")


def resolve_intensity(country: str | None = None, energy_mix: str | None = None,
                      carbon_intensity: float | None = None) -> Intensity:
    """Pick the intensity from the options given (see module doc for precedence)."""
    given = [x is not None for x in (country, energy_mix, carbon_intensity)]
    if sum(given) > 1:
        raise ConfigError("give at most one of --country, --energy-mix, --carbon-intensity")
    if carbon_intensity is not None:
        if not math.isfinite(carbon_intensity) or carbon_intensity < 0:
            raise ConfigError("--carbon-intensity must be a non-negative number of g/kWh")
        return Intensity(float(carbon_intensity), "given with --carbon-intensity")
    if energy_mix is not None:
        return mix_intensity(parse_mix(energy_mix))
    if country is not None:
        return country_intensity(country)
    return Intensity(WORLD_AVERAGE_G_PER_KWH, "world average; no --country, --energy-mix or "
                     "--carbon-intensity given")


def footprint(compute_energy_j: float, pue: float = 1.0,
              intensity: Intensity | None = None) -> Footprint:
    """Facility energy and emissions of ``compute_energy_j`` joules of compute."""
    if not math.isfinite(pue) or pue < 1.0:
        raise ConfigError(f"--pue must be >= 1.0 (1.0 = no facility overhead), got {pue:g}")
    return Footprint(compute_energy_j, pue, intensity or resolve_intensity())
