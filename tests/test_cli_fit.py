"""``fit`` and ``evaluate`` end to end on a synthetic dataset written as Parquet shards."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from conftest import run_cli
from synthetic import dataset

from energypred.dataset import ShardWriter
from energypred.schema import SCHEMA_VERSION

MACHINE = {"schema_version": SCHEMA_VERSION, "hardware_id": "a1", "cpu_model": "test cpu",
           "cpu_cores": 2, "ram_gb": 8.0, "gpu_model": "", "os": "Linux", "threads": 2,
           "torch_version": "2.13.0+cpu", "codecarbon_version": "3.3.2", "meter": "fake",
           "cpu_method": "synthetic law", "ram_method": "none", "gpu_method": "none",
           "is_estimate": True, "timestamp": datetime(2026, 1, 1, tzinfo=timezone.utc),
           "allocator": "padded", "run_id": "r0"}


def test_fit_then_evaluate_from_the_cli(tmp_path: Path) -> None:
    w = ShardWriter(tmp_path / "ds", prefix="t", flush_rows=10_000)
    df = dataset(n=12)
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
    res = run_cli("fit", "--data", str(tmp_path / "ds"), "--out", str(tmp_path / "m"))
    assert res.returncode == 0, res.stderr
    assert "inference/conv2d" in res.stdout and "saved predictor" in res.stdout
    meta = json.loads((tmp_path / "m" / "metadata.json").read_text())
    assert meta["steady_state"] is True and meta["hardware"]["hardware_id"] == "a1"
    assert meta["dataset"]["rows"] == len(df) + 3 and meta["allocator"] == "padded"
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
