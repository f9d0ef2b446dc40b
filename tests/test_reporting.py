"""Readable reports: formats, plots with the expected size, compare JSON round trip."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from conftest import run_cli
from synthetic import dataset

from energypred.carbon import Intensity
from energypred.fitting import fit_models
from energypred.plots import compare_plot, layers_plot
from energypred.prediction import predict
from energypred.predictor import Predictor
from energypred.reporting import (compare_lines, compare_record, expected_error_line,
                                  report_lines)


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(fit_models(dataset(n=12, archs=("alexnet",))),
                     metadata={"measurement_method": "synthetic"})


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_report_formats_and_plot(predictor: Predictor, tmp_path: Path) -> None:
    r = predict("alexnet", (3, 64, 64), 2, predictor=predictor, pue=1.6,
                intensity=Intensity(100.0, "test grid"), theory_costs=True,
                kwargs={"width_mult": 0.25})
    text = "\n".join(report_lines(r, "alexnet"))
    assert "PUE 1.6" in text and "test grid" in text and "theory J" in text and " J per" in text
    md = report_lines(r, "alexnet", "markdown")
    assert md[0].startswith("### alexnet") and any(line.startswith("| #") for line in md)
    js = json.loads(report_lines(r, "alexnet", "json")[0])
    assert js["facility_energy_j"] == pytest.approx(1.6 * js["compute_energy_j"])
    assert js["theory_energy_j"] > 0 and js["flops_per_j"] > 0
    assert _png_size(layers_plot(r, "alexnet", tmp_path / "l.png")) == (800, 450)


def test_expected_error_line_quotes_the_recorded_figures(predictor: Predictor) -> None:
    import dataclasses

    r = predict("alexnet", (3, 64, 64), 2, predictor=predictor, kwargs={"width_mult": 0.25})
    assert "not measured" in expected_error_line(r)
    rec = {"n": 40, "mape_held_out": 0.062, "within_10_held_out": 0.83,
           "mape_by_architecture": {"alexnet": 0.08, "vgg11": 0.051}, "n_precise": 12,
           "mape_precise": 0.045, "precise_sem": 0.02, "evaluated_utc": "2026-11-24T17:00"}
    line = expected_error_line(dataclasses.replace(r, expected_error=rec))
    assert line.startswith("expected error: 6.2 % mean absolute on 40 measured inference")
    assert "alexnet 8.0, vgg11 5.1 %" in line and "83 % within ±10 %" in line
    assert "4.5 % on the 12 measured to within 2 %" in line and "2026-11-24" in line
    # a record from before the precise split still reads
    old = {k: v for k, v in rec.items() if "precise" not in k}
    assert "measured to within" not in expected_error_line(dataclasses.replace(r, expected_error=old))
    assert "at batch" not in line  # and one from before the per-batch errors
    # r is at batch 2: its batch's error when recorded; beyond the largest batch, a warning
    by_batch = {**rec, "mape_by_batch": {"1": 0.07, "2": 0.041, "16": 0.05}}
    assert "; at batch 2: 4.1 %; energypred evaluate" in line_at(r, by_batch)
    big = dataclasses.replace(r, batch_size=64)
    assert "measured up to batch 16, none at 64: expect more;" in line_at(big, by_batch)
    # priced above the costliest measured whole: a warning; at or below it, none
    assert "costliest" not in line
    small = {**rec, "max_measured_j": r.energy_j / 2}
    assert "beyond what was checked, its error is not known;" in line_at(r, small)
    assert "costliest" not in line_at(r, {**rec, "max_measured_j": r.energy_j})


def line_at(r: object, rec: dict[str, object]) -> str:
    """The expected-error line of ``r`` with ``rec`` as its predictor's recorded errors."""
    import dataclasses

    return expected_error_line(dataclasses.replace(r, expected_error=rec))  # type: ignore


def test_compare_json_round_trip(predictor: Predictor, tmp_path: Path) -> None:
    recs = [compare_record(m, predict(m, (3, 64, 64), 4, predictor=predictor, pue=1.2,
                                      kwargs={"width_mult": 0.25}))
            for m in ("alexnet", "vgg11")]
    back = json.loads(compare_lines(recs, "json")[0])
    assert back == json.loads(json.dumps(recs))
    for rec in back:  # J/sample x 1e6 x PUE / 3.6e6 J/kWh
        assert rec["kwh_per_million"] == pytest.approx(rec["energy_j_per_sample"] * 1.2 / 3.6)
    assert "g CO2e per 1M" in "\n".join(compare_lines(recs))
    assert _png_size(compare_plot(recs, tmp_path / "c.png")) == (800, 450)


def test_compare_cli_with_the_shipped_predictor(tmp_path: Path) -> None:
    res = run_cli("compare", "alexnet", "vgg11", "--input-shape", "3,64,64", "--country", "FRA",
                  "--format", "json")
    assert res.returncode == 0, res.stderr
    recs = json.loads(res.stdout)
    assert [r["model"] for r in recs] == ["alexnet", "vgg11"]
    assert recs[1]["energy_j_per_sample"] > recs[0]["energy_j_per_sample"]
    assert "France" in recs[0]["carbon_intensity_source"]
    assert "codecarbon" in recs[0]["measurement_method"]
