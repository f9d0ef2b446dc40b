"""Carbon intensity, energy mix, PUE arithmetic, and their CLI errors."""

from __future__ import annotations

import pytest
from conftest import run_cli, run_in_process

from energypred.carbon import (
    WORLD_AVERAGE_G_PER_KWH,
    Intensity,
    country_intensity,
    footprint,
    mix_intensity,
    parse_mix,
    resolve_intensity,
)
from energypred.errors import ConfigError


def test_energy_mix_example() -> None:
    # 0.25 x 995 + 0.35 x 816 + 0.26 x 743 + 0.14 x 29 = 248.75 + 285.6 + 193.18 + 4.06
    mix = parse_mix("coal=0.25,petroleum=0.35,natural_gas=0.26,nuclear=0.14")
    assert mix_intensity(mix).g_per_kwh == pytest.approx(731.59, abs=1e-9)


@pytest.mark.parametrize("text,message", [
    ("coal=0.5,nuclear=0.4", "sum to 1"),
    ("coal=0.5,uranium=0.5", "unknown energy source 'uranium'"),
    ("coal", "is not source=share"),
    ("coal=x", "is not a number"),
])
def test_malformed_mix(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_mix(text)


def test_pue_arithmetic() -> None:
    # 3.6 MJ = 1 kWh of compute; PUE 1.5 -> 1.5 kWh at the meter; at 100 g/kWh -> 150 g
    fp = footprint(3.6e6, pue=1.5, intensity=Intensity(100.0, "test"))
    assert fp.facility_energy_j == pytest.approx(5.4e6)
    assert fp.facility_energy_kwh == pytest.approx(1.5)
    assert fp.gco2e == pytest.approx(150.0)
    with pytest.raises(ConfigError, match="--pue"):
        footprint(1.0, pue=0.5)


def test_country_and_fallback() -> None:
    fra, deu = country_intensity("fra"), country_intensity("DEU")
    assert 0 < fra.g_per_kwh < deu.g_per_kwh  # nuclear-heavy France below Germany
    fallback = resolve_intensity()
    assert fallback.g_per_kwh == WORLD_AVERAGE_G_PER_KWH and "world average" in fallback.source
    with pytest.raises(ConfigError, match="at most one"):
        resolve_intensity("FRA", carbon_intensity=10)


def test_cli_errors_and_fallback_are_stated(capsys: pytest.CaptureFixture[str]) -> None:
    bad = run_cli("predict", "alexnet", "--country", "XYZ")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "unknown country code 'XYZ'" in bad.stderr and "energypred countries" in bad.stderr
    mix = run_in_process(capsys, "predict", "alexnet", "--energy-mix", "coal=0.7")
    assert mix.returncode == 2 and "sum to 1" in mix.stderr
    ok = run_cli("predict", "alexnet", "--input-shape", "3,64,64")
    assert ok.returncode == 0 and "world average" in ok.stdout and "g CO2e" in ok.stdout
