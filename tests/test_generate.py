"""generate end to end with real CodeCarbon: summary, resume after SIGKILL, guard, errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pyarrow as pa
import pytest
import pyarrow.parquet as pq
from conftest import ROOT, TINY, run_cli, run_in_process

from energypred.dataset import read_dataset, shard_paths


def test_generate_writes_rows_with_methods_and_a_summary(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    res = run_cli("generate", "--out", str(out), "--layers", "relu,linear", "--samples", "3",
                  "--sampler", "realistic,uniform", *TINY)
    assert res.returncode == 0, res.stderr
    assert "rows written" in res.stdout and "median repeat CV" in res.stdout
    df = read_dataset(out)
    layer = df[df.row_kind == "layer"]
    assert len(layer) == 2 * 2 * 3  # layer types x samplers x samples
    assert set(df.row_kind) >= {"idle", "reference", "layer"}
    ok = layer[layer.status == "ok"]
    assert len(ok) > 0 and (ok.energy_j > 0).all() and (ok.duration_s > 0).all()
    assert ok.cpu_method.notna().all() and ok.meter.eq("codecarbon").all()
    assert ok.reference_energy_j.notna().all() and df.idle_power_w.notna().all()
    # every row records the machine's LLC as sysfs gives it (context_fit.llc_for reads it)
    from energypred.hardware import fingerprint
    llc = fingerprint().get("llc_bytes")
    assert df.llc_bytes.isna().all() if llc is None else (df.llc_bytes == llc).all()
    skipped = layer[layer.status == "skipped"]
    assert skipped.error.str.match(r"estimated (memory \S+ GB|\S+ s per call) > limit").all()
    # a second run with the same arguments has nothing left to do
    again = run_cli("generate", "--out", str(out), "--layers", "relu,linear", "--samples", "3",
                    "--sampler", "realistic,uniform", *TINY)
    assert again.returncode == 0 and "(0 measured, 0 skipped, 0 failed; 12 already" in again.stdout


def test_sigkill_then_resume_leaves_no_duplicates_and_no_corrupt_shard(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    args = [sys.executable, "-m", "energypred", "generate", "--out", str(out), "--layers",
            "relu,sigmoid,linear", "--samples", "12", "--flush-rows", "3", *TINY]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(shard_paths(out) if out.exists() else []) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = read_dataset(out)
    assert partial.attrs["bad_shards"] == []
    n_partial = int((partial.row_kind == "layer").sum())
    assert 0 < n_partial < 36, "the kill must land in the middle of the run"
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr
    df = read_dataset(out)
    layer = df[df.row_kind == "layer"]
    assert df.attrs["bad_shards"] == []
    assert len(layer) == 36 and not layer.duplicated(["config_hash", "phase"]).any()
    assert f"{n_partial} already in the dataset" in res.stdout


def test_budget_guard_skips_before_allocating(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    res = run_cli("generate", "--out", str(out), "--layers", "conv2d", "--samples", "2",
                  "--sampler", "uniform", "--max-memory-gb", "0.000001", *TINY)
    assert res.returncode == 0, res.stderr
    layer = read_dataset(out).query("row_kind == 'layer'")
    assert (layer.status == "skipped").all() and layer.energy_j.isna().all()
    assert layer.error.str.contains("estimated memory").all()


def test_corrupt_shard_is_reported_on_resume(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    base = ["generate", "--out", str(out), "--layers", "relu", "--samples", "2", *TINY]
    assert run_cli(*base).returncode == 0
    shard = shard_paths(out)[0]
    shard.write_bytes(b"PAR1 not really parquet")
    res = run_cli(*base)
    assert res.returncode == 0
    assert f"skipped unreadable shard {shard.name}" in res.stdout


def test_resume_on_another_machine_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    base = ["generate", "--out", str(out), "--layers", "relu", "--samples", "1", *TINY]
    assert run_cli(*base).returncode == 0
    for shard in shard_paths(out):  # as if the shards had been measured on another machine
        table = pq.read_table(shard)
        col = table.schema.get_field_index("hardware_id")
        pq.write_table(table.set_column(col, "hardware_id",
                                        pa.array(["0ther"] * len(table), pa.string())), shard)
    before = len(read_dataset(out))
    res = run_cli(*base, "--samples", "2")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "was measured on 0ther" in lines[0], res.stderr
    assert "generate into a new --out" in lines[0]
    assert len(read_dataset(out)) == before  # nothing appended


def test_resume_in_another_machine_state_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    base = ["generate", "--out", str(out), "--layers", "relu", "--samples", "1", *TINY]
    assert run_cli(*base).returncode == 0
    for shard in shard_paths(out):  # as if the dataset had been measured 10x faster
        df = pq.read_table(shard).to_pandas()
        ref = df.row_kind == "reference"
        df.loc[ref, "energy_j"] = df.loc[ref, "energy_j"] / 10
        pq.write_table(pa.Table.from_pandas(df, schema=pq.read_schema(shard)), shard)
    layers_before = int((read_dataset(out).row_kind == "layer").sum())
    shards_before = shard_paths(out)
    res = run_cli(*base, "--samples", "2", "--max-reference-shift", "0.5")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "the reference workload costs" in lines[0] and "not in the state" in lines[0]
    assert int((read_dataset(out).row_kind == "layer").sum()) == layers_before  # none measured
    # not even the refused run's idle and reference rows: the dataset is as it was
    assert shard_paths(out) == shards_before and "nothing was written" in lines[0]
    # turned off, the same resume measures
    assert run_cli(*base, "--samples", "2").returncode == 0


def test_bad_arguments_give_one_line_errors(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["--layers", "conv3d"], "unknown layer conv3d"),
        (["--architectures", "resnet50"], "unknown architecture resnet50"),
        (["--shard", "4/4"], "--shard 4/4"),
        (["--max-time", "soon"], "cannot read duration"),
        (["--sampler", "gaussian"], "unknown sampler gaussian"),
        (["--samples", "x"], "invalid int value"),
        (["--arch-batches", "32,big"], "comma list of ints"),
        (["--arch-resolutions", "224px"], "comma list of ints"),
        (["--arch-widths", "full"], "comma list of floats"),
        (["--arch-resolutions", "32"], "resolutions must be >= 64 px"),
        (["--arch-batches", "0,64"], "batch sizes must be >= 1"),
        (["--max-whole-share", "0"], "--max-whole-share must be in (0, 1]"),
        (["--max-whole-share", "1.5"], "--max-whole-share must be in (0, 1]"),
    ]
    for i, (extra, message) in enumerate(cases):  # the first in a process of its own
        run = run_cli if i == 0 else partial(run_in_process, capsys)
        res = run("generate", "--out", str(tmp_path / "x"), *extra)
        assert res.returncode == 2, (extra, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (extra, res.stderr)
        assert lines[0].startswith("energypred: error:")


@pytest.mark.parametrize("whole_every_s", [0.0, 1e-12])
def test_whole_network_brackets_its_leaves_and_the_stem_skips_the_input_gradient(
        tmp_path: Path, whole_every_s: float, monkeypatch: pytest.MonkeyPatch) -> None:
    from energypred.generate import GenerateOptions, generate
    from energypred.hardware import DEFAULT_LLC_BYTES, fingerprint
    from energypred.measurement import FakeMeter, in_network
    from energypred.measurement import workloads as wl
    from energypred.sampling import sample_architecture

    if whole_every_s == 0:  # every evicted-weight leaf's weights now count as lost in traffic
        monkeypatch.setattr(in_network, "MIN_WEIGHT_SHARE", 1e9)
    opts = GenerateOptions(out=tmp_path / "ds", layers=[], architectures=["alexnet"],
                           phases=["inference", "training"], samples=0, arch_samples=1,
                           window_s=0.01, repeats=2, max_call_s=5.0, settle_s=0.1,
                           progress=False, whole_every_s=whole_every_s, probe_s=0.002,
                           whole_max_share=1.0)  # every call of between() due (bracket.py)
    summary = generate(opts, FakeMeter())
    assert summary.failed == 0
    assert len(summary.whole_measurements) == 2  # one whole network per phase
    assert any(line.startswith("  whole networks: 2, median") for line in summary.lines())
    llc = int(fingerprint().get("llc_bytes") or DEFAULT_LLC_BYTES)
    df = read_dataset(opts.out)
    for phase in ("inference", "training"):
        whole = df[(df.row_kind == "architecture") & (df.phase == phase)]
        leaves = df[(df.row_kind == "arch_layer") & (df.phase == phase)]
        assert len(whole) == 1 and len(leaves) == 22  # AlexNet has 22 leaf calls
        row = whole.iloc[0]
        evicted = df[(df.row_kind == in_network.ROW_KIND) & (df.phase == phase)]
        assert row.status == "ok"
        if whole_every_s == 0:
            assert row.arch_protocol == "bracketed" and row.whole_measurements == 2
        else:  # always due: once before, then before every leaf, once after
            assert row.arch_protocol == "interleaved"
            assert row.whole_measurements == 1 + len(leaves) + len(evicted) + 1
        # two windows per measurement
        assert row.repeats == len(row.energy_j_repeats) == 2 * row.whole_measurements
        # drift = the last measurement's mean window over the first's, minus 1 (its size follows
        # the wall clock under FakeMeter, so only its definition is checked: a 15x drift was
        # seen under heavy CPU contention)
        reps = list(row.energy_j_repeats)
        first, last = sum(reps[:2]) / 2, sum(reps[-2:]) / 2
        assert row.bracket_drift == pytest.approx(last / first - 1, rel=1e-9)
        assert not bool(row.input_requires_grad)
        # every measurement sits between two speed probes (measurement/probe.py)
        assert row.probe_s_per_call > 0 and (leaves.probe_s_per_call > 0).all()
        assert row.timestamp >= leaves.timestamp.max()  # written after its last leaf
        grads = leaves.sort_values("layer_index").input_requires_grad.tolist()
        if phase == "training":
            assert grads == [False] + [True] * 21  # the stem's input is data
        else:
            assert not any(grads)
        # the leaves whose weights fit the cache, again with their weights evicted, inside the
        # bracket; the copy count is part of the configuration
        cfg = sample_architecture("alexnet", 0, 0)
        expected = in_network.evicted_leaves(
            in_network.arch_leaves(cfg, wl.trace_arch(cfg), phase), llc)
        if phase == "training":  # copies would bring their own gradients: not measured
            assert evicted.empty
            continue
        assert len(expected) > 0 and len(evicted) == len(expected)
        assert sorted(json.loads(c)["weight_copies"] for c in evicted.config_json) == sorted(
            n for _, n in expected)
        # those whose weights are lost in their activations' traffic are written as skipped
        lost = {c.config_hash(): why for c, _ in expected
                if (why := in_network.weights_lost_in_traffic(wl.layer_counts(c)[1]))}
        assert len(lost) == (len(expected) if whole_every_s == 0 else 0)
        for h, status, error in zip(evicted.config_hash, evicted.status, evicted.error):
            assert (status, error) == ("skipped", lost[h]) if h in lost else status == "ok"
        assert row.timestamp >= evicted.timestamp.max()
