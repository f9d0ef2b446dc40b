"""``generate --redo-faulted``: the plan taken from a dataset's faulted rows, run end to end
with the test meter (no CodeCarbon, no timing asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import TINY, run_cli

from energypred.dataset import ShardWriter, done_keys, read_dataset
from energypred.errors import ConfigError, DatasetError
from energypred.faulted import faulted
from energypred.generate import GenerateOptions, generate
from energypred.measurement import FakeMeter
from energypred.redo import layer_from_json, redo_plan


def _opts(out: Path, **kw: object) -> GenerateOptions:
    base = dict(out=out, layers=["relu", "linear"], architectures=["alexnet"], samples=2,
                arch_samples=1, window_s=0.01, repeats=2, max_call_s=5.0, settle_s=0.1,
                progress=False, max_reference_shift=0.0)
    return GenerateOptions(**{**base, **kw})  # type: ignore[arg-type]


def _faulted_copy(src: Path, dst: Path, picks: list[int]) -> pd.DataFrame:
    """``src``'s rows in one shard of ``dst``, rows ``picks`` given faults costing their call:
    1 s per call / 3.1 µs per fault = 322,581 faults, 100 % of the call."""
    df = read_dataset(src)
    df.loc[picks, "minor_faults_per_call"] = df.loc[picks, "duration_s"] / 3.1e-6
    w = ShardWriter(dst, prefix="copy", flush_rows=100_000)
    for row in df.to_dict("records"):
        w.append({k: v for k, v in row.items() if not (isinstance(v, float) and v != v)})
    w.close()
    return read_dataset(dst)


def test_redo_measures_each_faulted_configuration_once_more(tmp_path: Path) -> None:
    generate(_opts(tmp_path / "ds"), FakeMeter())
    df = read_dataset(tmp_path / "ds")
    ok = df[df.status == "ok"]
    layer = ok.index[ok.row_kind == "layer"][0]
    leaf = ok.index[ok.row_kind == "arch_layer"][3]
    copy = _faulted_copy(tmp_path / "ds", tmp_path / "re", [layer, leaf])
    assert faulted(copy).sum() == 2
    plan = redo_plan(copy)
    # the layer first, then the leaf's network, rebuilt from its whole row
    assert [t.layer is not None for t in plan] == [True, False]
    assert plan[0].layer.config_hash() == df.loc[layer, "config_hash"]
    leaf_json = json.loads(df.loc[leaf, "config_json"])
    assert plan[1].arch.config_hash() == leaf_json["architecture_hash"]
    summary = generate(_opts(tmp_path / "re", redo_faulted=True), FakeMeter())
    assert summary.planned == 2 and summary.failed == 0
    # one row more for the layer, one for the leaf (its whole and other leaves are done)
    after = read_dataset(tmp_path / "re")
    new = after.iloc[len(copy):]
    measured = new[new.row_kind.isin(["layer", "arch_layer"])]
    assert sorted(measured.config_hash) == sorted(df.loc[[layer, leaf], "config_hash"])
    assert done_keys(after) >= done_keys(copy) | {
        (df.loc[i, "config_hash"], df.loc[i, "phase"]) for i in (layer, leaf)}
    # nothing left to do: the plan is empty and a second redo measures nothing
    assert redo_plan(after) == []
    again = generate(_opts(tmp_path / "re", redo_faulted=True), FakeMeter())
    assert again.planned == 0 and again.measured == 0


def test_a_configuration_read_differently_now_or_without_its_network_is_refused() -> None:
    payload = {"kind": "layer", "layer_type": "relu", "params": {"inplace": False},
               "input_shape": [2, 8]}
    cfg = layer_from_json(json.dumps(payload), _hash_of(payload))
    assert cfg.layer_type == "relu" and cfg.input_shape == (2, 8)
    with pytest.raises(DatasetError, match="rebuilds to .*cannot be measured again"):
        layer_from_json(json.dumps(payload), "0123456789abcdef0123")
    orphan = pd.DataFrame([{
        "allocator": "padded", "status": "ok", "row_kind": "arch_layer", "phase": "inference",
        "sampler": "architecture", "sample_index": 0, "config_hash": "leaf",
        "config_json": json.dumps({**payload, "architecture_hash": "gone"}),
        "minor_faults_per_call": 1e6, "duration_s": 1.0}])
    with pytest.raises(DatasetError, match="network gone, which has no whole-network row"):
        redo_plan(orphan)


def _hash_of(payload: dict[str, object]) -> str:
    from energypred.configs import _hash
    return _hash(payload)


def test_redo_needs_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--redo-faulted: .* holds no dataset"):
        generate(_opts(tmp_path / "none", redo_faulted=True), FakeMeter())
    res = run_cli("generate", "--out", str(tmp_path / "none"), "--redo-faulted", *TINY)
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1].endswith("holds no dataset to measure again")


def test_the_summary_counts_faulted_measurements_and_says_what_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from energypred import runner
    from energypred.faulted import FaultRule

    # a rule under which every measured row is faulted (any share is over -1), so the count
    # does not depend on how many faults this machine's calls take
    monkeypatch.setattr(runner, "FaultRule", lambda: FaultRule(max_share=-1.0))
    summary = generate(_opts(tmp_path / "ds", architectures=[]), FakeMeter())
    assert summary.measured > 0 and summary.faulted == summary.measured
    line = [x for x in summary.lines() if "faulted" in x]
    assert line == [f"  {summary.measured} measurements faulted (page faults over 2 % of their "
                    f"call): fit leaves them out; generate --redo-faulted measures them again"]


def test_a_layer_configuration_reads_back_from_its_payload() -> None:
    from energypred.configs import LayerConfig

    # a network's first convolution in training: context keys and input_requires_grad=False
    cfg = LayerConfig("conv2d", {"in_channels": 3, "out_channels": 8, "kernel_size": 3},
                      (2, 3, 16, 16), {"architecture_hash": "a", "layer_index": 0,
                                       "layer_name": "features.0"}, input_requires_grad=False)
    back = LayerConfig.from_json(json.dumps(cfg.payload()))
    assert back == cfg and back.config_hash() == cfg.config_hash()
