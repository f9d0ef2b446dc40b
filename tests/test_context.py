"""The network-context term: recovered from whole-model rows, applied per layer by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from synthetic import dataset
from torch import nn

from energypred.artifacts import load_default
from energypred.context import Context, cached_weight_bytes, network_weight_bytes
from energypred.context_report import context_lines
from energypred import context_fit
from energypred.context_fit import fit_context, llc_for
from energypred.dataset import network_leaves
from energypred.configs import ArchConfig
from energypred.errors import ConfigError
from energypred.evaluation import evaluate
from energypred.prediction import predict
from energypred.measurement import workloads as wl

MIB = 2**20


def test_cached_bytes_cap_each_layer_at_the_llc() -> None:
    # a 40 MiB layer counts 32 MiB, a 1,000-byte layer counts 1,000 bytes
    assert cached_weight_bytes([40 * MIB, 1000], 32 * MIB) == 32 * MIB + 1000
    ctx = Context(32 * MIB, {"inference": 1e-9}, {})
    assert ctx.energy_j([40 * MIB, 1000], "inference") == pytest.approx([32 * MIB * 1e-9, 1e-6])
    assert ctx.energy_j([40 * MIB], "training") == [0.0]  # no coefficient: no correction
    # training keeps weights, gradients and momenta hot alone: a 40 MiB layer counts
    # min(40, 32 / 3) MiB, a 1,000-byte layer 1,000 bytes; x 1e-9 J/B
    trained = Context(32 * MIB, {"training": 1e-9}, {}, state_copies={"training": 3})
    assert trained.energy_j([40 * MIB, 1000], "training") == pytest.approx(
        [32 * MIB / 3 * 1e-9, 1e-6])
    assert Context.from_dict(trained.to_dict()) == trained


def test_fit_recovers_a_known_coefficient() -> None:
    df = dataset(n=2, archs=("alexnet", "vgg11"))
    k = 1.2e-9  # J per cached weight byte
    for i in df.index[df.row_kind == "architecture"]:
        traced = wl.trace_arch(ArchConfig.from_json(df.at[i, "config_json"]))
        w = [r.counts.weight_elements * 4 for r in traced]
        df.at[i, "energy_j"] += k * cached_weight_bytes(w, 32 * MIB)
    ctx = fit_context(df, 32 * MIB)
    assert ctx.j_per_byte["inference"] == pytest.approx(k, rel=1e-6)
    assert ctx.n_rows["inference"] == 6
    held_out = fit_context(df, 32 * MIB, exclude_architectures=["vgg11"])
    assert held_out.n_rows["inference"] == 3
    round_trip = Context.from_dict(ctx.to_dict())
    assert round_trip == ctx


def _add_context(df: pd.DataFrame, k_byte: float, k_leaf: float) -> None:
    """Add k_byte × cached weight bytes + k_leaf per leaf call to every whole-model row."""
    for i in df.index[df.row_kind == "architecture"]:
        traced = wl.trace_arch(ArchConfig.from_json(df.at[i, "config_json"]))
        w = [r.counts.weight_elements * 4 for r in traced]
        df.at[i, "energy_j"] += k_byte * cached_weight_bytes(w, 32 * MIB) + k_leaf * len(traced)


def test_fit_recovers_both_terms_and_applies_them_per_leaf() -> None:
    df = dataset(n=2, archs=("alexnet", "vgg11"))
    k_byte, k_leaf = 0.8e-9, 2e-3  # J per cached weight byte, J per leaf call
    _add_context(df, k_byte, k_leaf)
    ctx = fit_context(df, 32 * MIB)
    assert ctx.j_per_byte["inference"] == pytest.approx(k_byte, rel=1e-6)
    assert ctx.j_per_leaf["inference"] == pytest.approx(k_leaf, rel=1e-6)
    # two leaves, 40 MiB and 1,000 bytes of weights: 0.8e-9 x (32 MiB + 1,000) + 2 x 2e-3 J
    assert sum(ctx.energy_j([40 * MIB, 1000], "inference")) == pytest.approx(
        0.8e-9 * (32 * MIB + 1000) + 4e-3)
    assert Context.from_dict(ctx.to_dict()) == ctx
    weights_only = fit_context(df, 32 * MIB, terms=("bytes",))  # the model before this one
    assert weights_only.j_per_leaf["inference"] == 0.0 < weights_only.j_per_byte["inference"]
    with pytest.raises(ConfigError, match="subset"):
        fit_context(df, 32 * MIB, terms=("gradients",))


def test_fit_recovers_the_activation_term_when_asked() -> None:
    df = dataset(n=2, archs=("alexnet", "vgg11", "vgg13"))
    k_byte, k_leaf, k_act = 0.8e-9, 2e-3, 5e-11  # J per weight byte, per call, per act. byte
    _add_context(df, k_byte, k_leaf)
    for i in df.index[df.row_kind == "architecture"]:
        traced = wl.trace_arch(ArchConfig.from_json(df.at[i, "config_json"]))
        df.at[i, "energy_j"] += k_act * 4 * sum(r.counts.input_elements
                                                + r.counts.output_elements for r in traced)
    ctx = fit_context(df, 32 * MIB, terms=("bytes", "leaf", "activations"))
    assert ctx.j_per_byte["inference"] == pytest.approx(k_byte, rel=1e-5)
    assert ctx.j_per_leaf["inference"] == pytest.approx(k_leaf, rel=1e-5)
    assert ctx.j_per_act_byte["inference"] == pytest.approx(k_act, rel=1e-5)
    assert Context.from_dict(ctx.to_dict()) == ctx
    # one leaf, 1,000 weight bytes, 10 + 20 float32 activations: 0.8e-9 x 1,000 + 2e-3
    # + 5e-11 x 120 J
    assert ctx.energy_j([1000], "inference", act_bytes=[120]) == pytest.approx(
        [0.8e-6 + 2e-3 + 6e-9])
    with pytest.raises(ConfigError, match="activation"):
        ctx.energy_j([1000], "inference")
    assert fit_context(df, 32 * MIB).j_per_act_byte == {}  # the default leaves it out


def test_fit_recovers_the_linear_term_and_prices_only_linear_leaves() -> None:
    df = dataset(n=2, archs=("alexnet", "vgg11", "vgg13"))
    k_byte, k_leaf, k_lin = 0.8e-9, 2e-3, 0.4  # J per weight byte, per call, per J alone
    _add_context(df, k_byte, k_leaf)
    leaves = network_leaves(df)
    linear_j = leaves[leaves.layer_type == "linear"].groupby(["arch_hash", "phase"])[
        "energy_j"].sum()
    for i in df.index[df.row_kind == "architecture"]:
        df.at[i, "energy_j"] += k_lin * linear_j[(df.at[i, "config_hash"], df.at[i, "phase"])]
    ctx = fit_context(df, 32 * MIB, terms=("bytes", "leaf", "linear"))
    assert ctx.j_per_byte["inference"] == pytest.approx(k_byte, rel=1e-5)
    assert ctx.j_per_leaf["inference"] == pytest.approx(k_leaf, rel=1e-5)
    assert ctx.j_per_linear_j["inference"] == pytest.approx(k_lin, rel=1e-5)
    assert Context.from_dict(ctx.to_dict()) == ctx
    # a Linear leaf (1,000 weight bytes, 0.01 J alone) and a Conv2d leaf (the same): each pays
    # 0.8e-9 x 1,000 + 2e-3 J, the Linear one 0.4 x 0.01 J more
    got = ctx.energy_j([1000, 1000], "inference", ["linear", "conv2d"], [0.01, 0.01])
    assert got == pytest.approx([0.8e-6 + 2e-3 + 4e-3, 0.8e-6 + 2e-3])
    with pytest.raises(ConfigError, match="alone"):
        ctx.energy_j([1000], "inference")
    assert fit_context(df, 32 * MIB, terms=("bytes", "leaf")).j_per_linear_j == {}


def test_fit_recovers_the_batch_term_and_prices_each_call_by_its_batch() -> None:
    df = dataset(n=2, archs=("alexnet", "vgg11", "vgg13"))  # batches 1, 2 and 4
    k_byte, k_leaf, k_sample = 0.8e-9, 2e-3, 3e-4  # J per weight byte, per call, per sample
    _add_context(df, k_byte, k_leaf)
    for i in df.index[df.row_kind == "architecture"]:
        traced = wl.trace_arch(ArchConfig.from_json(df.at[i, "config_json"]))
        df.at[i, "energy_j"] += k_sample * sum(r.input_shape[0] for r in traced)
    ctx = fit_context(df, 32 * MIB, terms=("bytes", "leaf", "batch"))
    assert ctx.j_per_byte["inference"] == pytest.approx(k_byte, rel=1e-5)
    assert ctx.j_per_leaf["inference"] == pytest.approx(k_leaf, rel=1e-5)
    assert ctx.j_per_leaf_sample["inference"] == pytest.approx(k_sample, rel=1e-5)
    assert Context.from_dict(ctx.to_dict()) == ctx
    # two leaves of 1,000 weight bytes, at batch 8 and batch 1: each pays 0.8e-9 x 1,000
    # + 2e-3 J, plus 3e-4 J per sample: 2.4e-3 and 3e-4 J
    got = ctx.energy_j([1000, 1000], "inference", batch_sizes=[8, 1])
    assert got == pytest.approx([0.8e-6 + 2e-3 + 2.4e-3, 0.8e-6 + 2e-3 + 3e-4])
    with pytest.raises(ConfigError, match="batch"):
        ctx.energy_j([1000], "inference")
    leaves = network_leaves(df).head(3)  # the dataset's layout: batch_size is a column
    by_rows = ctx.rows_energy_j(leaves, "inference", leaves["energy_j"])
    assert by_rows == pytest.approx(ctx.energy_j(
        list(leaves["weight_elements"].astype(float).fillna(0.0) * 4), "inference",
        batch_sizes=list(leaves["batch_size"])))
    assert fit_context(df, 32 * MIB).j_per_leaf_sample == {}  # the default leaves it out


def test_the_linear_batch_term_prices_only_linear_leaves_by_bytes_times_batch() -> None:
    # LLC 32 MiB, no fitted cache: every byte of a small layer is re-read. 2e-12 J per re-read
    # Linear weight byte per sample: a Linear leaf of 1,000 bytes at batch 8 pays
    # 1e-9 x 1,000 + 2e-12 x 1,000 x 8 J, a Conv2d leaf of 1,000 bytes only 1e-9 x 1,000
    ctx = Context(32 * MIB, {"inference": 1e-9}, {}, j_per_linear_byte_sample={"inference": 2e-12})
    got = ctx.energy_j([1000, 1000], "inference", ["linear", "conv2d"], [0.1, 0.1],
                       batch_sizes=[8, 8])
    assert got == pytest.approx([1e-6 + 16e-9, 1e-6])
    with pytest.raises(ConfigError, match="batch"):
        ctx.energy_j([1000], "inference", ["linear"], [0.1])
    assert Context.from_dict(ctx.to_dict()) == ctx and ctx.opt_in_terms == ("linear_batch",)
    # recovered from synthetic wholes (batches 1, 2 and 4) beside the default terms
    df = dataset(n=2, archs=("alexnet", "vgg11", "vgg13"))
    _add_context(df, 0.8e-9, 2e-3)
    for i in df.index[df.row_kind == "architecture"]:
        traced = wl.trace_arch(ArchConfig.from_json(df.at[i, "config_json"]))
        df.at[i, "energy_j"] += 3e-11 * sum(
            cached_weight_bytes([r.counts.weight_elements * 4], 32 * MIB) * r.input_shape[0]
            for r in traced if r.layer_type == "linear")
    fitted = fit_context(df, 32 * MIB, terms=("bytes", "leaf", "linear_batch"), spill=False)
    assert fitted.j_per_linear_byte_sample["inference"] == pytest.approx(3e-11, rel=1e-5)
    assert fitted.j_per_byte["inference"] == pytest.approx(0.8e-9, rel=1e-5)


def test_the_batch_terms_count_samples_up_to_a_fitted_cap() -> None:
    # capped at 8 samples: a leaf of 1,000 weight bytes at batch 32 pays 1e-9 x 1,000 J plus
    # 3e-4 J per sample for 8 samples (2.4e-3 J), the same as at batch 8; at batch 2, 6e-4 J
    ctx = Context(32 * MIB, {"inference": 1e-9}, {}, j_per_leaf_sample={"inference": 3e-4},
                  batch_cap=8)
    got = ctx.energy_j([1000, 1000, 1000], "inference", batch_sizes=[32, 8, 2])
    assert got == pytest.approx([1e-6 + 2.4e-3, 1e-6 + 2.4e-3, 1e-6 + 6e-4])
    # the Linear-by-batch bytes are capped alike: 1,000 re-read bytes x min(32, 8) samples
    assert ctx.linear_batch_bytes([1000], "inference", ["linear"], [32]) == [8000.0]
    assert Context.from_dict(ctx.to_dict()) == ctx
    assert Context.from_dict({**ctx.to_dict(), "batch_cap": None}).batch_cap is None
    # recovered from synthetic wholes at batches 1-64 whose per-sample cost stops at 8
    df = dataset(n=2, archs=("alexnet", "vgg11", "vgg13"),
                 variants=((1, 64), (4, 64), (16, 64), (32, 64), (64, 64)))
    _add_context(df, 0.8e-9, 2e-3)
    for i in df.index[df.row_kind == "architecture"]:
        traced = wl.trace_arch(ArchConfig.from_json(df.at[i, "config_json"]))
        df.at[i, "energy_j"] += 3e-4 * sum(min(r.input_shape[0], 8) for r in traced)
    fitted = fit_context(df, 32 * MIB, terms=("bytes", "leaf", "batch"), spill=False)
    assert fitted.batch_cap == 8
    assert fitted.j_per_leaf_sample["inference"] == pytest.approx(3e-4, rel=1e-5)
    # a per-sample cost that never stops keeps every sample: no cap
    linear = dataset(n=2, archs=("alexnet", "vgg11", "vgg13"),
                     variants=((1, 64), (4, 64), (16, 64), (32, 64), (64, 64)))
    _add_context(linear, 0.8e-9, 2e-3)
    for i in linear.index[linear.row_kind == "architecture"]:
        traced = wl.trace_arch(ArchConfig.from_json(linear.at[i, "config_json"]))
        linear.at[i, "energy_j"] += 3e-4 * sum(r.input_shape[0] for r in traced)
    assert fit_context(linear, 32 * MIB, terms=("bytes", "leaf", "batch"),
                       spill=False).batch_cap is None


def test_the_fresh_term_credits_weightless_leaves_that_stream_their_data_alone() -> None:
    # LLC 1 MiB, no fitted cache, 2e-3 J per leaf call, 0.2 J given back per J alone: a
    # max-pooling leaf (no weights) with 2 MiB of input + output, 0.5 J alone, streams alone
    # and pays 2e-3 - 0.2 x 0.5 = -0.098 J; a ReLU with 0.5 MiB fits the cache, a convolution
    # with 2 MiB has weights: both pay only the 2e-3 J
    ctx = Context(MIB, {}, {}, {"inference": 2e-3}, j_per_fresh_j={"inference": 0.2})
    got = ctx.energy_j([0, 0, 1000], "inference", ["maxpool2d", "relu", "conv2d"],
                       [0.5, 0.5, 0.5], act_bytes=[2 * MIB, MIB // 2, 2 * MIB])
    assert got == pytest.approx([2e-3 - 0.1, 2e-3, 2e-3])
    with pytest.raises(ConfigError, match="weightless"):
        ctx.energy_j([0], "inference", ["maxpool2d"], [0.5])
    assert Context.from_dict(ctx.to_dict()) == ctx and ctx.opt_in_terms == ("fresh",)
    assert "0.200 J per J a weightless leaf" in context_lines(ctx)[0]
    # rows in the dataset's layout: act bytes from input_elements + output_elements (float32)
    rows = pd.DataFrame({"weight_elements": [0.0, 0.0], "input_elements": [MIB / 4, MIB / 8],
                         "output_elements": [MIB / 4, MIB / 8], "layer_type": ["relu"] * 2})
    assert list(ctx.rows_energy_j(rows, "inference", [0.5, 0.5])) == pytest.approx(
        [2e-3 - 0.1, 2e-3])
    # recovered from synthetic wholes at batch 1-32 beside the per-leaf term: 2 MiB LLC,
    # each whole pays 2e-3 J per leaf call and gets back 0.3 x the J alone of its weightless
    # leaves with over 2 MiB of input + output (VGG's early ReLUs and max-pooling at 8 and 32)
    df = dataset(n=2, archs=("alexnet", "vgg11", "vgg13"), variants=((1, 64), (8, 64), (32, 64)))
    leaves = network_leaves(df)
    act = 4 * (leaves["input_elements"] + leaves["output_elements"])
    fresh = leaves[(leaves["weight_elements"].fillna(0) == 0) & (act > 2 * MIB)]
    given_back = fresh.groupby(["arch_hash", "phase"])["energy_j"].sum()
    assert len(given_back) >= 4  # some networks have such leaves, others none
    _add_context(df, 0.0, 2e-3)
    for i in df.index[df.row_kind == "architecture"]:
        key = (df.at[i, "config_hash"], df.at[i, "phase"])
        df.at[i, "energy_j"] -= 0.3 * given_back.get(key, 0.0)
    fitted = fit_context(df, 2 * MIB, terms=("leaf", "fresh"))
    assert fitted.j_per_fresh_j["inference"] == pytest.approx(0.3, rel=1e-5)
    assert fitted.j_per_leaf["inference"] == pytest.approx(2e-3, rel=1e-5)
    assert fit_context(df, 2 * MIB, terms=("leaf",)).j_per_fresh_j == {}
    # wholes that give back 1.5x their leaves' J alone: the credit stops at all of it (1.0)
    for i in df.index[df.row_kind == "architecture"]:
        key = (df.at[i, "config_hash"], df.at[i, "phase"])
        df.at[i, "energy_j"] -= 1.2 * given_back.get(key, 0.0)
    bounded = fit_context(df, 2 * MIB, terms=("leaf", "fresh"))
    assert bounded.j_per_fresh_j["inference"] == 1.0 and bounded.j_per_leaf["inference"] > 0


def test_the_step_term_adds_a_constant_per_training_step_spread_over_its_leaves() -> None:
    # 2e-3 J per leaf call and 0.06 J per training step: a 3-leaf network pays 0.06 / 3 = 0.02
    # J more on each leaf call in training (0.022 J each); at inference only the 2e-3 J
    ctx = Context(32 * MIB, {}, {}, {"inference": 2e-3, "training": 2e-3},
                  j_per_step={"training": 0.06})
    assert ctx.energy_j([0, 1000, 0], "training") == pytest.approx([0.022] * 3)
    assert ctx.energy_j([0, 1000, 0], "inference") == pytest.approx([2e-3] * 3)
    assert ctx.energy_j([], "training") == []
    assert Context.from_dict(ctx.to_dict()) == ctx and ctx.opt_in_terms == ("step",)
    lines = context_lines(ctx)  # inference first, then training
    assert "per network call" not in lines[0] and "60.000 mJ per network call" in lines[1]
    # recovered from synthetic wholes that pay 2e-3 J per leaf call and 0.07 J per call in
    # both phases: the training constant exactly, none at inference (the term is fitted in
    # training only, context_fit.STEP_PHASES)
    df = dataset(n=2, archs=("alexnet", "vgg11", "vgg13"), phases=("inference", "training"))
    _add_context(df, 0.0, 2e-3)
    df.loc[df.row_kind == "architecture", "energy_j"] += 0.07
    fitted = fit_context(df, 32 * MIB, terms=("leaf", "step"))
    assert fitted.j_per_step["training"] == pytest.approx(0.07, rel=1e-5)
    assert fitted.j_per_leaf["training"] == pytest.approx(2e-3, rel=1e-5)
    assert fitted.j_per_step["inference"] == 0.0
    assert fit_context(df, 32 * MIB, terms=("leaf",)).j_per_step == {}


def test_spill_prices_only_the_weights_beyond_the_cache() -> None:
    # cache 16 MiB, 1e-9 J per byte; a network of a 20 MiB and a 12 MiB layer: 32 MiB of
    # weights, so half of them are re-read per pass (1 - 16 / 32): each layer pays
    # 0.5 x 1e-9 x min(w, 16 MiB), i.e. 16 and 12 MiB x 0.5e-9 J
    ctx = Context(32 * MIB, {"inference": 1e-9, "training": 1e-9}, {},
                  state_copies={"inference": 1, "training": 3}, cache_bytes=16 * MIB)
    assert ctx.energy_j([20 * MIB, 12 * MIB], "inference") == pytest.approx(
        [0.5e-9 * 16 * MIB, 0.5e-9 * 12 * MIB])
    assert ctx.energy_j([10 * MIB, 6 * MIB], "inference") == [0.0, 0.0]  # fits: no re-read
    # training keeps 3 copies: state 96 MiB, 1 - 16 / 96 = 5/6 re-read; each layer capped at
    # 16 / 3 MiB
    assert ctx.energy_j([20 * MIB, 12 * MIB], "training") == pytest.approx(
        [5 / 6 * 1e-9 * 16 / 3 * MIB] * 2)
    assert Context.from_dict(ctx.to_dict()) == ctx
    assert Context.from_dict({**ctx.to_dict(), "cache_bytes": None}).spill([1e9], "training") == 1


def test_a_module_called_twice_holds_its_weights_once() -> None:
    # cache 16 MiB, 1e-9 J per byte; one 12 MiB Linear called twice and a 4 MiB one: 16 MiB
    # held, so nothing spills (summing the calls, 28 MiB, would re-read 1 - 16 / 28 of them)
    assert network_weight_bytes([12 * MIB, 12 * MIB, 4 * MIB], ["fc", "fc", "head"]) == 16 * MIB
    ctx = Context(32 * MIB, {"inference": 1e-9}, {}, state_copies={"inference": 1},
                  cache_bytes=16 * MIB)
    calls = [12 * MIB, 12 * MIB, 4 * MIB]
    assert ctx.energy_j(calls, "inference", state_bytes=16 * MIB) == [0.0, 0.0, 0.0]
    assert ctx.energy_j(calls, "inference")[0] == pytest.approx(12 / 28 * 1e-9 * 12 * MIB)
    rows = pd.DataFrame({"weight_elements": [c / 4 for c in calls], "module": ["fc", "fc", "head"],
                         "layer_type": ["linear"] * 3, "batch_size": [1] * 3})
    assert list(ctx.rows_energy_j(rows, "inference", [1.0] * 3)) == [0.0, 0.0, 0.0]
    # without the module column each call counts (rows measured leaf by leaf)
    assert ctx.rows_energy_j(rows.drop(columns="module"), "inference", [1.0] * 3)[0] > 0


class _Twice(nn.Module):
    """One 16 MiB Linear (2048 x 2048 float32 weights) called twice."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2048, 2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.fc(x))


class _TwoLayers(nn.Module):
    """Two such Linears, one call each: 32 MiB of weights."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(2048, 2048), nn.Linear(2048, 2048)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x))


def test_predict_counts_a_shared_module_once_in_the_network_state() -> None:
    # the shipped predictor with a C = 20 MiB cache and 1e-9 J per re-read byte, no leaf term;
    # one Linear holds w = (2048 x 2048 + 2048) x 4 = 16,785,408 B. Called twice it holds w
    # < C: nothing spills, no context. Two of them hold 2w: spill 1 - C / 2w, each re-reads
    # spill x w, in all (2w - C) x 1e-9 = (33,570,816 - 20,971,520) x 1e-9 J = 12.599 mJ
    pred = load_default()
    pred.metadata = {**pred.metadata, "context": Context(
        32 * MIB, {"inference": 1e-9}, {}, state_copies={"inference": 1},
        cache_bytes=20 * MIB).to_dict()}
    twice = predict(_Twice(), input_shape=(2048,), batch_size=1, predictor=pred)
    two = predict(_TwoLayers(), input_shape=(2048,), batch_size=1, predictor=pred)
    assert len(twice.layers) == 2 and twice.context_energy_j == 0.0
    assert two.context_energy_j == pytest.approx(12_599_296e-9, rel=1e-9)


def test_fit_finds_the_cache_of_a_spilling_machine() -> None:
    df = dataset(n=2, archs=("alexnet", "vgg11", "vgg13", "vgg16"))
    truth = Context(32 * MIB, {"inference": 0.8e-9}, {}, {"inference": 2e-3},
                    state_copies={"inference": 1}, cache_bytes=16 * MIB)
    for i in df.index[df.row_kind == "architecture"]:
        traced = wl.trace_arch(ArchConfig.from_json(df.at[i, "config_json"]))
        df.at[i, "energy_j"] += sum(truth.energy_j(
            [r.counts.weight_elements * 4 for r in traced], "inference"))
    ctx = fit_context(df, 32 * MIB)
    assert ctx.cache_bytes == 16 * MIB
    assert ctx.j_per_byte["inference"] == pytest.approx(0.8e-9, rel=1e-5)
    assert ctx.j_per_leaf["inference"] == pytest.approx(2e-3, rel=1e-5)
    assert fit_context(df, 32 * MIB, spill=False).cache_bytes is None
    # a machine without spill: the LLC model is kept (test_fit_recovers_a_known_coefficient)


def test_negative_gaps_fit_no_correction() -> None:
    # wholes cheaper than their leaves: both coefficients stay at 0, never negative
    df = dataset(n=2, archs=("alexnet", "vgg11"))
    _add_context(df, -0.5e-9, -1e-3)
    ctx = fit_context(df, 32 * MIB)
    assert ctx.j_per_byte["inference"] == 0.0
    assert ctx.j_per_leaf["inference"] == 0.0


def test_predictors_without_the_leaf_term_still_load() -> None:
    old = {"llc_bytes": 32 * MIB, "j_per_byte": {"inference": 1e-9}, "n_rows": {"inference": 4}}
    ctx = Context.from_dict(old)
    assert ctx.j_per_leaf == {}
    assert ctx.energy_j([1000], "inference") == pytest.approx([1e-6])


def test_evaluate_adds_the_held_out_context_to_the_measured_leaves() -> None:
    # three architectures, so that each one held out leaves two distinct (bytes, calls) points
    df = dataset(n=2, archs=("alexnet", "vgg11", "vgg13"))
    _add_context(df, 0.8e-9, 2e-3)
    ev = evaluate(df)
    assert (ev.rows.additivity < -0.01).all()  # the leaves alone miss the context
    assert np.allclose(ev.rows.additivity_context, 0.0, atol=1e-6)
    assert ev.summary().loc[("inference", "ALL"), "additivity_context_mean_abs"] < 1e-6


def test_the_llc_comes_from_the_rows_or_this_machine_never_from_a_guess(
        monkeypatch: pytest.MonkeyPatch) -> None:
    here = {"hardware_id": "h", "cpu_signature": "family 25 model 17 stepping 1",
            "llc_bytes": 32 * MIB}
    monkeypatch.setattr(context_fit, "fingerprint", lambda: here)
    rows = pd.DataFrame({"hardware_id": ["x", "x"], "cpu_signature": ["family 6 model 167"] * 2,
                         "llc_bytes": [480 * MIB, None]})
    assert llc_for(rows) == 480 * MIB  # recorded by the machine that measured it
    assert llc_for(rows, 64 * MIB) == 64 * MIB  # given (--llc-mib) beats recorded
    old = rows.drop(columns="llc_bytes")  # before schema 6, measured elsewhere: refused
    with pytest.raises(ConfigError, match="--llc-mib"):
        llc_for(old)
    assert llc_for(old, 480 * MIB) == 480 * MIB
    # measured here (same hardware id, same or no recorded signature): this machine's
    mine = pd.DataFrame({"hardware_id": ["h"], "cpu_signature": [here["cpu_signature"]]})
    assert llc_for(mine) == 32 * MIB
    assert llc_for(mine.assign(cpu_signature=None)) == 32 * MIB
    # the same hardware id on another CPU (the project's VMs share one) is not this machine
    with pytest.raises(ConfigError, match="family 23"):
        llc_for(mine.assign(cpu_signature="family 23 model 49 stepping 0"))
    with pytest.raises(ConfigError, match="several LLC sizes"):
        llc_for(rows.assign(llc_bytes=[480 * MIB, 32 * MIB]))
    with pytest.raises(ConfigError, match="positive"):
        llc_for(rows, 0)
