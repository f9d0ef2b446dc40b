"""Parquet store: schema round trip, atomic shards, corrupt shards skipped by name."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from energypred.dataset import ShardWriter, done_keys, read_dataset, shard_paths
from energypred.errors import DatasetError
from energypred.schema import COLUMN_NAMES, SCHEMA_VERSION, to_table


def _row(i: int, status: str = "ok") -> dict[str, object]:
    return {"schema_version": SCHEMA_VERSION, "row_kind": "layer", "status": status,
            "layer_type": "relu", "phase": "inference", "config_hash": f"h{i}",
            "timestamp": datetime(2026, 1, 1, tzinfo=timezone.utc), "energy_j": 0.5 * i,
            "energy_j_repeats": [0.5 * i, 0.5 * i], "batch_size": i, "inplace": True}


def test_every_column_carries_a_unit_or_is_dimensionless() -> None:
    # energy, time, power and memory columns must say their unit in their name
    for name in COLUMN_NAMES:
        if "energy" in name and name not in ("energy_cv", "energypred_version"):
            assert name.endswith(("_j", "_j_repeats")), name
        if "duration" in name or name.endswith("window_s"):
            assert "_s" in name, name


def test_round_trip_keeps_values_and_types(tmp_path: Path) -> None:
    w = ShardWriter(tmp_path, "t", flush_rows=2)
    for i in range(5):
        w.append(_row(i))
    w.close()
    assert len(shard_paths(tmp_path)) == 3  # 2 + 2 + 1 rows
    df = read_dataset(tmp_path)
    assert list(df.columns) == list(COLUMN_NAMES)
    assert sorted(df["energy_j"]) == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert list(df.loc[df["batch_size"] == 3, "energy_j_repeats"].iloc[0]) == [1.5, 1.5]
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_unknown_column_is_refused() -> None:
    with pytest.raises(KeyError, match="not in the schema"):
        to_table([{"energy_kwh": 1.0}])


def test_corrupt_shard_is_skipped_by_name(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    w = ShardWriter(tmp_path, "t", flush_rows=2)
    for i in range(4):
        w.append(_row(i))
    w.close()
    first, second = shard_paths(tmp_path)
    first.write_bytes(first.read_bytes()[: len(first.read_bytes()) // 2])  # truncate
    with caplog.at_level(logging.WARNING, logger="energypred"):
        df = read_dataset(tmp_path)
    assert len(df) == 2  # the other shard stays usable
    assert [name for name, _ in df.attrs["bad_shards"]] == [first.name]
    assert first.name in caplog.text


def test_done_keys_take_ok_and_skipped_but_not_failed(tmp_path: Path) -> None:
    w = ShardWriter(tmp_path, "t")
    for i, status in enumerate(["ok", "skipped", "failed"]):
        w.append(_row(i, status))
    w.close()
    assert done_keys(read_dataset(tmp_path)) == {("h0", "inference"), ("h1", "inference")}


def test_missing_directory_and_other_schema_version(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        read_dataset(tmp_path / "nope")
    w = ShardWriter(tmp_path, "t")
    w.append({**_row(0), "schema_version": SCHEMA_VERSION + 1})
    w.close()
    with pytest.raises(DatasetError, match="regenerate"):
        read_dataset(tmp_path)


def test_version_1_rows_are_read_with_what_their_runs_did(tmp_path: Path) -> None:
    w = ShardWriter(tmp_path, "v1", flush_rows=10)
    w.append({**_row(1), "schema_version": 1, "phase": "training"})
    w.append({**_row(2), "schema_version": 1})
    w.append({**_row(3), "schema_version": 1, "phase": "training", "row_kind": "architecture"})
    w.append({**_row(4), "input_requires_grad": False, "phase": "training",
              "row_kind": "arch_layer"})
    w.close()
    df = read_dataset(tmp_path).set_index("batch_size")
    # v1 measured training layers with an input gradient, whole networks without one
    assert df.loc[1, "input_requires_grad"] and not df.loc[2, "input_requires_grad"]
    assert not df.loc[3, "input_requires_grad"] and not df.loc[4, "input_requires_grad"]
    assert df.loc[3, "arch_protocol"] == "whole_before_leaves"


def test_network_leaves_take_the_stem_as_the_network_runs_it(tmp_path: Path) -> None:
    from energypred.dataset import network_leaves

    def leaf(i: int, index: int, grad: bool | None, version: int = SCHEMA_VERSION) -> dict:
        cfg = '{"architecture_hash": "A", "layer_index": %d}' % index
        return {**_row(i), "schema_version": version, "row_kind": "arch_layer",
                "phase": "training", "layer_index": index, "config_json": cfg,
                "input_requires_grad": grad}

    w = ShardWriter(tmp_path, "t", flush_rows=10)
    w.append(leaf(1, 0, None, version=1))   # schema 1: the stem with an input gradient
    w.append(leaf(2, 1, None, version=1))
    w.append(leaf(3, 0, False))             # the stem again, as the network runs it
    w.close()
    got = network_leaves(read_dataset(tmp_path))
    assert sorted(got["batch_size"]) == [2, 3] and set(got["arch_hash"]) == {"A"}


def test_rows_of_two_machines_are_never_mixed_silently() -> None:
    import pandas as pd

    from energypred.dataset import check_same_machine, machines, one_machine
    from energypred.fitting import fit_models

    rows = [{**_row(i), "hardware_id": hw, "cpu_model": cpu}
            for i, (hw, cpu) in enumerate([("a1", "AMD EPYC")] * 3 + [("b2", "Intel Xeon")] * 2)]
    df = pd.DataFrame(rows)
    m = machines(df)
    assert list(m.hardware_id) == ["a1", "b2"] and list(m.rows) == [3, 2]
    with pytest.raises(DatasetError, match=r"mixes measurements from 2 machines: a1 \(AMD EPYC, "
                                           r"3 rows\), b2 \(Intel Xeon, 2 rows\); pass "
                                           r"--hardware-id"):
        one_machine(df, where="ds")
    with pytest.raises(DatasetError, match="mixes measurements from 2 machines"):
        fit_models(df)  # the Python API refuses too
    assert len(one_machine(df, "b2")) == 2
    with pytest.raises(DatasetError, match="no rows from machine c3"):
        one_machine(df, "c3")
    assert len(one_machine(df[df.hardware_id == "a1"])) == 3
    check_same_machine(df[df.hardware_id == "a1"], "a1", "AMD EPYC")  # same machine: fine
    with pytest.raises(DatasetError, match=r"measured on b2 \(Intel Xeon, 2 rows\); this machine "
                                           r"is a1 \(AMD EPYC\)"):
        check_same_machine(df, "a1", "AMD EPYC")


def test_fit_and_evaluate_refuse_a_dataset_of_two_machines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import run_cli, run_in_process

    w = ShardWriter(tmp_path / "ds", prefix="t")
    for i, hw in enumerate(["a1", "a1", "b2"]):
        w.append({**_row(i + 1), "hardware_id": hw, "cpu_model": "cpu " + hw})
    w.close()
    for cmd in (["fit", "--out", str(tmp_path / "m")], ["evaluate"]):
        res = run_cli(*cmd, "--data", str(tmp_path / "ds"))
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1, res.stderr
        assert "mixes measurements from 2 machines" in lines[0]
        res = run_in_process(capsys, *cmd, "--data", str(tmp_path / "ds"), "--hardware-id", "c3")
        assert res.returncode == 2 and "no rows from machine c3" in res.stderr
    assert not (tmp_path / "m").exists()


def test_runs_in_another_machine_state_are_found() -> None:
    import pandas as pd

    from energypred.dataset import shifted_runs

    # three runs read the reference at 0.030 J/call, one at 0.075 (2.5x the median of medians)
    refs = [("a", 0.029), ("a", 0.031), ("b", 0.030), ("c", 0.030), ("d", 0.075), ("d", 0.075)]
    df = pd.DataFrame([{**_row(i), "row_kind": "reference", "run_id": run, "energy_j": e}
                       for i, (run, e) in enumerate(refs)])
    found = shifted_runs(df)
    assert list(found.run_id) == ["d"] and found.ratio[0] == pytest.approx(2.5)
    assert shifted_runs(df[df.run_id != "d"]).empty


def test_rows_before_schema_3_were_measured_with_the_system_allocator(tmp_path: Path) -> None:
    w = ShardWriter(tmp_path, "v2", flush_rows=10)
    w.append({**_row(1), "schema_version": 2})
    w.append({**_row(2), "allocator": "padded"})
    w.close()
    df = read_dataset(tmp_path).set_index("batch_size")
    assert df.loc[1, "allocator"] == "system" and df.loc[2, "allocator"] == "padded"


def test_whole_networks_before_schema_4_pooled_two_measurements_if_bracketed(
        tmp_path: Path) -> None:
    w = ShardWriter(tmp_path, "s")
    whole = {"row_kind": "architecture", "schema_version": 3}
    w.append({**_row(1), **whole, "arch_protocol": "bracketed"})
    w.append({**_row(2), **whole, "schema_version": 1})
    w.append({**_row(3), **whole, "arch_protocol": "interleaved", "schema_version": 4,
              "whole_measurements": 5})
    w.append({**_row(4), "schema_version": 3})  # a layer row: no whole network to count
    w.close()
    df = read_dataset(tmp_path).set_index("config_hash")
    assert df.loc["h1", "whole_measurements"] == 2
    assert df.loc["h2", "arch_protocol"] == "whole_before_leaves"
    assert df.loc["h2", "whole_measurements"] == 1
    assert df.loc["h3", "whole_measurements"] == 5  # recorded: kept
    assert pd.isna(df.loc["h4", "whole_measurements"])
