"""Weights streamed from memory: the roofline per leaf, its fit, and its place in the context."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from synthetic import dataset

from energypred.configs import ArchConfig
from energypred.context import Context
from energypred.context_report import context_lines
from energypred.context_fit import fit_context
from energypred.dataset import network_leaves
from energypred.evaluation import leaf_rows, measured_context_j, predict_whole
from energypred.fitting import fit_models
from energypred.measurement import workloads as wl
from energypred.predictor import Predictor
from energypred.streaming import (GRID_J_PER_BYTE, MIN_PAIRS, POOLED, best_k, coefficient,
                                  evicted_pairs, fit_stream, streamed_j)

MIB = 2**20
LLC = 32 * MIB
K = float(GRID_J_PER_BYTE[140])  # 10^(-12 + 139/40) = 2.985e-9 J per weight byte, on the grid


def test_streamed_j_by_hand() -> None:
    k = 1e-9  # J per weight byte
    # 10 MiB of weights, 5 mJ alone: streaming costs 1e-9 x 10,485,760 = 10.49 mJ, 5.49 mJ more
    assert streamed_j(k, 10 * MIB, 5e-3, LLC) == pytest.approx(10 * MIB * 1e-9 - 5e-3)
    assert streamed_j(k, 10 * MIB, 20e-3, LLC) == 0.0  # compute-bound: nothing extra
    assert streamed_j(k, 100 * MIB, 1e-3, LLC) == 0.0  # >= 2 x LLC: alone already streams
    assert streamed_j(k, 100 * 1024, 0.0, LLC) == 0.0  # < 256 KiB: not measured, not priced
    assert streamed_j(k, 10 * MIB, float("nan"), LLC) == 0.0  # a leaf without a regressor
    assert streamed_j(0.0, 10 * MIB, 1e-3, LLC) == 0.0


def test_best_k_recovers_a_grid_coefficient_and_is_zero_when_nothing_streams() -> None:
    w = np.array([1, 2, 4, 8, 16]) * MIB
    alone = np.array([1e-3, 20e-3, 1e-3, 60e-3, 5e-3])  # 2nd and 4th compute-bound
    assert best_k(w, alone, np.maximum(alone, K * w)) == K
    assert best_k(w, alone, alone) == 0.0  # evicted = alone: the first best on the grid


def test_fit_stream_per_layer_type_with_a_pooled_fallback() -> None:
    n = MIN_PAIRS
    w = np.linspace(1, 16, n) * MIB
    alone = np.full(n, 1e-3)
    pairs = pd.DataFrame({
        "phase": "inference", "layer_type": ["linear"] * n + ["conv2d"] * 3,
        "architecture": "vgg11", "weight_bytes": np.r_[w, w[:3]],
        "alone_j": np.r_[alone, [1.0] * 3],  # the convolutions are compute-bound
        "evicted_j": np.r_[np.maximum(alone, K * w), [1.0] * 3]})
    ks = fit_stream(pairs, LLC)["inference"]
    assert ks["linear"] == K
    assert "conv2d" not in ks  # 3 pairs < MIN_PAIRS: the pooled coefficient applies
    assert coefficient(ks, "conv2d") == ks[POOLED] > 0
    assert coefficient({}, "linear") == 0.0
    assert fit_stream(pairs.iloc[:0], LLC) == {}


def test_context_prices_streamed_weights_and_round_trips() -> None:
    ctx = Context(LLC, {"inference": 0.0}, {}, {"inference": 1e-3},
                  {"inference": {"linear": 1e-9, POOLED: 0.0}}, {"inference": 12})
    # a Linear leaf with 10 MiB of weights, 5 mJ alone: 1 mJ per leaf + (10.49 - 5) mJ streamed;
    # a Conv2d leaf (pooled k = 0): 1 mJ per leaf only
    got = ctx.energy_j([10 * MIB, 10 * MIB], "inference", ["linear", "conv2d"], [5e-3, 5e-3])
    assert got == pytest.approx([1e-3 + 10 * MIB * 1e-9 - 5e-3, 1e-3])
    assert Context.from_dict(ctx.to_dict()) == ctx
    assert "linear 1.000" in context_lines(ctx)[0]


def test_fit_context_recovers_streaming_and_the_leaf_term() -> None:
    # the synthetic wholes cost their leaves in network conditions (Linear leaves of these
    # small networks are memory-bound: max(alone, K x weight bytes)) plus 2 mJ per leaf call
    df = dataset(n=2, archs=("alexnet", "vgg11", "vgg13"), stream_j_per_byte=K, leaf_j=2e-3)
    pairs = evicted_pairs(df)
    assert (pairs["evicted_j"] > pairs["alone_j"]).any()
    ctx = fit_context(df, LLC, stream=True)
    assert ctx.j_per_stream_byte["inference"]["linear"] == K
    assert ctx.j_per_byte["inference"] == 0.0  # streaming replaces the per-byte term
    assert ctx.j_per_leaf["inference"] == pytest.approx(2e-3, rel=1e-6)
    old = fit_context(df, LLC)  # the default: no streaming
    assert old.j_per_stream_byte == {} and old.j_per_byte["inference"] > 0
    # every whole = its measured leaves + their context (streamed part from the leaves' J),
    # and the predictor prices it from its own per-leaf predictions the same way
    predictor = Predictor(fit_models(df), metadata={"context": ctx.to_dict()})
    leaves = network_leaves(df)
    for _, w in df[df.row_kind == "architecture"].iterrows():
        mine = leaves[leaves.arch_hash == w.config_hash]
        assert mine.energy_j.sum() < 0.99 * w.energy_j  # alone they miss the context
        measured = mine.energy_j.sum() + measured_context_j(ctx, mine).sum()
        assert measured == pytest.approx(w.energy_j, rel=1e-6)
        rows = leaf_rows(wl.trace_arch(ArchConfig.from_json(w.config_json)))
        # exact: the regressors recover the law (the per-byte context misses these by up to 11 %)
        assert predict_whole(predictor, rows, "inference")[0] == pytest.approx(w.energy_j,
                                                                               rel=1e-3)


def test_weighted_median_by_hand() -> None:
    from energypred.streaming import _weighted_median

    # values 1, 2, 100 with weights 1, 3, 1: half of 5 is reached at 2 (cumulative 1, 4, 5);
    # a ratio of sums would be (1 + 6 + 100) / 5 = 21.4, pulled by the one outlier
    assert _weighted_median(np.array([100.0, 1.0, 2.0]), np.array([1.0, 1.0, 3.0])) == 2.0
    assert np.isnan(_weighted_median(np.array([]), np.array([])))


def test_a_streamed_context_refuses_to_price_without_the_leaves_alone() -> None:
    from energypred.errors import ConfigError

    ctx = Context(LLC, {}, {}, {"inference": 1e-3}, {"inference": {POOLED: 1e-9}})
    with pytest.raises(ConfigError, match="J per call alone"):
        ctx.energy_j([10 * MIB], "inference")  # would silently drop the streamed part
    assert ctx.energy_j([10 * MIB], "training") == [0.0]  # no streamed terms in this phase
