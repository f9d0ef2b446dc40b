"""``fit`` and ``evaluate`` end to end on a synthetic dataset written as Parquet shards."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_cli, run_in_process
from synthetic import dataset

from energypred.dataset import ShardWriter
from energypred.schema import SCHEMA_VERSION

MACHINE = {"schema_version": SCHEMA_VERSION, "hardware_id": "a1", "cpu_model": "test cpu",
           "cpu_cores": 2, "ram_gb": 8.0, "gpu_model": "", "os": "Linux", "threads": 2,
           "torch_version": "2.13.0+cpu", "codecarbon_version": "3.3.2", "meter": "fake",
           "cpu_method": "synthetic law", "ram_method": "none", "gpu_method": "none",
           "is_estimate": True, "timestamp": datetime(2026, 1, 1, tzinfo=timezone.utc),
           "allocator": "padded", "run_id": "r0"}


def _write(directory: Path, prefix: str, n: int = 12, llc: bool = True) -> pd.DataFrame:
    """A synthetic dataset of one machine, its page faults and three reference readings;
    ``llc=False``: rows that do not record the machine's LLC (as before schema 6)."""
    w = ShardWriter(directory, prefix=prefix, flush_rows=10_000)
    df = dataset(n=n)
    if not llc:
        df = df.drop(columns="llc_bytes")
    for i, row in enumerate(df.to_dict("records")):
        # three equal windows: the steady windows give the same energy; two rows page-faulted
        w.append({**MACHINE, **{k: v for k, v in row.items() if v == v},
                  "energy_j_repeats": [row["energy_j"]] * 3,
                  "minor_faults_per_call": 300.0 if i < 2 else 0.0})
    for i, seconds in enumerate([999.0, 1000.0, 1001.0]):  # reference readings, s per call
        w.append({**MACHINE, "row_kind": "reference", "status": "ok", "layer_type": "conv2d",
                  "phase": "inference", "config_hash": "ref", "energy_j": 28.0 * seconds,
                  "duration_s": seconds, "run_id": "r0", "sample_index": i,
                  "energy_j_repeats": [28.0 * seconds] * 3})
    w.close()
    return df


def test_fit_then_evaluate_from_the_cli(tmp_path: Path) -> None:
    df = _write(tmp_path / "ds", "t")
    res = run_cli("fit", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "m"))
    assert res.returncode == 0, res.stderr
    assert "inference/conv2d" in res.stdout and "saved predictor" in res.stdout
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["steady_state"] is True and meta["hardware"]["hardware_id"] == "a1"
    assert meta["dataset"]["rows"] == len(df) + 3 and meta["allocator"] == "padded"
    # the rule fit left faulted rows out by, recorded; these rows have no duration to weigh
    # their faults against, so none is left out
    assert meta["left_out_faulted"] == {"rows": 0, "fault_s": 3.1e-06, "max_share": 0.02}
    assert "2 of " in res.stderr and "still took page faults (median 300 per call" in res.stderr
    assert meta["reference"]["duration_s"] == 1000.0 and meta["reference"]["readings"] == 3
    assert "mJ per leaf call" in res.stdout
    # a machine 1,000 s per reference call slow is not this one: exit 1, and the check says so
    res = run_cli("check", "--predictor", str(tmp_path / "m"), "--seconds", "0.2")
    assert res.returncode == 1, res.stderr
    assert "1000000.00 ms in the predictor's data" in res.stdout and "differs" in res.stdout
    res = run_cli("evaluate", "--data", str(tmp_path / "ds"), "--predictor", str(tmp_path / "m"))
    assert res.returncode == 0, res.stderr
    assert "steady windows" in res.stdout and "alexnet" in res.stdout
    assert "with each run's offset taken out" in res.stdout
    assert "batch    4  n " in res.stdout  # the errors by batch size


def test_evaluate_records_the_errors_that_predict_then_shows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = partial(run_in_process, capsys)  # in process: no start-up per call
    _write(tmp_path / "ds", "t")
    assert run("fit", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "m")
               ).returncode == 0
    ask = ["predict", "alexnet", "--predictor", str(tmp_path / "m"), "--batch-size", "1",
           "--input-shape", "3,64,64", "--kwargs", '{"width_mult": 0.25}']
    assert "expected error: not measured" in run(*ask).stdout
    # no predictor directory named, or data it was not fitted on: one line, exit 2, no write
    res = run("evaluate", "--data", str(tmp_path / "ds"), "--record")
    assert res.returncode == 2 and "--predictor" in res.stderr
    shutil.copytree(tmp_path / "ds", tmp_path / "other")
    _write(tmp_path / "other", "u", n=3)
    res = run("evaluate", "--data", str(tmp_path / "other"), "--predictor",
              str(tmp_path / "m"), "--record")
    assert res.returncode == 2 and "fitted on other data" in res.stderr
    assert "evaluation" not in json.loads((tmp_path / "m" / "metadata.json").read_text())
    res = run("evaluate", "--data", str(tmp_path / "ds"), "--predictor", str(tmp_path / "m"),
              "--record")
    assert res.returncode == 0, res.stderr
    phases = json.loads((tmp_path / "m" / "metadata.json").read_text())["evaluation"]["phases"]
    assert phases["inference"]["n"] > 0 and 0 <= phases["inference"]["mape_held_out"] < 1
    assert set(phases["inference"]["mape_by_architecture"]) == {"alexnet", "vgg11"}
    # the synthetic variants are at batches 1, 2 and 4; predict at batch 1 quotes its own
    assert set(phases["inference"]["mape_by_batch"]) == {"1", "2", "4"}
    assert "; at batch 1: " in run(*ask).stdout
    out = json.loads(run(*ask, "--json").stdout)
    assert out["expected_error"]["mape_held_out"] == phases["inference"]["mape_held_out"]
    assert "mean absolute on" in run(*ask).stdout  # the recorded predictor still loads


def test_fit_takes_the_context_terms_that_evaluate_then_refits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = partial(run_in_process, capsys)  # in process: no start-up per call
    _write(tmp_path / "ds", "t")
    # an unknown term: one line, exit 2, before any regressor is fitted, nothing written
    res = run("fit", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "bad"),
              "--context-terms", "bytes,gradients")
    assert res.returncode == 2 and "subset of bytes,leaf" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad").exists()
    # --llc-mib overrides the 32 MiB the rows record; the context is fitted up to it
    res = run("fit", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "m"),
              "--context-terms", "bytes,leaf,batch", "--llc-mib", "48")
    assert res.returncode == 0, res.stderr
    assert "per leaf call per sample" in res.stdout
    ctx = json.loads((tmp_path / "m" / "metadata.json").read_text())["context"]
    assert set(ctx["j_per_leaf_sample"]) == {"inference"}
    assert ctx["llc_bytes"] == 48 * 2**20
    res = run("evaluate", "--data", str(tmp_path / "ds"), "--predictor", str(tmp_path / "m"))
    assert res.returncode == 0, res.stderr
    assert "(network context: bytes, leaf, batch)" in res.stdout


def test_fit_refuses_data_measured_elsewhere_that_records_no_llc(tmp_path: Path) -> None:
    # machine "a1" is not this one, and its rows say nothing of its cache: the context's
    # cache would depend on where the fit runs, so it is a one-line error before any fitting
    _write(tmp_path / "ds", "t", n=3, llc=False)
    res = run_cli("fit", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "m"))
    assert res.returncode == 2 and "--llc-mib" in res.stderr and "test cpu" not in res.stdout
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "m").exists()


def test_fit_records_a_median_pool_and_refuses_an_unknown_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = partial(run_in_process, capsys)  # in process: no start-up per call
    _write(tmp_path / "ds", "t")
    res = run("fit", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "m"),
              "--whole-pool", "median")
    assert res.returncode == 0, res.stderr
    assert json.loads((tmp_path / "m" / "metadata.json").read_text())["whole_pool"] == "median"
    res = run("fit", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "n"),
              "--whole-pool", "mode")
    assert res.returncode == 2 and "invalid choice" in res.stderr
    assert not (tmp_path / "n").exists()
    # the median pools steady windows: with every window kept there is nothing to pool
    res = run("fit", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "o"),
              "--whole-pool", "median", "--all-windows")
    assert res.returncode == 2 and "--all-windows" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()
