"""Samplers: determinism, published ranges, realistic shapes, and exact sharding."""

from __future__ import annotations

import pytest

from energypred import sampling
from energypred.configs import LayerConfig
from energypred.errors import ConfigError
from energypred.layers import SAMPLED_LAYER_TYPES, output_shape, get


def _plan(seed: int = 0) -> list[sampling.Task]:
    return sampling.build_plan(list(SAMPLED_LAYER_TYPES), ["alexnet", "vgg11"],
                               ["uniform", "realistic"], ["inference", "training"], 6, 2, seed)


def test_same_seed_same_configurations() -> None:
    a, b = _plan(3), _plan(3)
    assert [t.layer or t.arch for t in a] == [t.layer or t.arch for t in b]
    assert [t.layer or t.arch for t in a] != [t.layer or t.arch for t in _plan(4)]


def test_sequence_does_not_depend_on_other_layer_types() -> None:
    alone = sampling.sample_layer("realistic", "conv2d", 7, 5)
    plan = sampling.build_plan(["relu", "conv2d"], [], ["realistic"], ["inference"], 6, 0, 7)
    assert [t.layer for t in plan if t.layer.layer_type == "conv2d"][5] == alone


def test_architecture_space_defaults_to_the_shipped_draws_and_follows_the_options() -> None:
    # the default draws what every shipped run drew, so their variants (and resume) stay put
    shipped = sampling.ArchSpace((1, 1, 2, 4, 8, 16), (64, 96, 128, 160, 192, 224),
                                 (0.25, 0.5, 0.75, 1.0))
    for i in range(40):
        assert (sampling.sample_architecture("vgg16", 0, i)
                == sampling.sample_architecture("vgg16", 0, i, shipped))
    plan = sampling.build_plan([], ["alexnet", "vgg11"], ["realistic"], ["inference"], 0, 30, 1,
                               sampling.ArchSpace(batch_sizes=(32, 64)))
    assert len(plan) == 60 and {t.arch.batch_size for t in plan} == {32, 64}
    assert len({t.arch.resolution for t in plan}) > 1
    full = sampling.build_plan([], ["vgg16"], ["realistic"], ["training"], 0, 12, 1,
                               sampling.ArchSpace((64, 128), (224,), (1.0,)))
    assert {(t.arch.resolution, t.arch.width_mult) for t in full} == {(224, 1.0)}
    assert {t.arch.batch_size for t in full} == {64, 128}


@pytest.mark.parametrize("space, message", [
    (dict(batch_sizes=(0,)), "batch sizes must be >= 1"),
    (dict(batch_sizes=()), "batch sizes must be >= 1"),
    (dict(resolutions=(32, 224)), "resolutions must be >= 64 px"),
    (dict(widths=(0.0,)), r"width multipliers must be in \(0, 4\]"),
])
def test_architecture_space_refuses_what_no_network_can_be(space: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sampling.ArchSpace(**space)


@pytest.mark.parametrize("count", [1, 3, 7])
def test_shards_cover_the_sequence_exactly_once(count: int) -> None:
    plan = _plan()
    positions = [t.position for i in range(count) for t in sampling.shard(plan, i, count)]
    assert sorted(positions) == list(range(len(plan)))


def test_uniform_draws_lie_in_the_published_ranges_and_are_valid() -> None:
    for i in range(200):
        c = sampling.sample_layer("uniform", "conv2d", 0, i)
        b, cin, h, w = c.input_shape
        p = c.params
        assert 1 <= b < 256 and 4 <= h < 224 and h == w and 1 <= cin < 512
        assert 1 <= p["kernel_size"] < 11 and 1 <= p["stride"] < 5 and 0 <= p["padding"] < 3
        assert p["kernel_size"] <= h + 2 * p["padding"]
        m = sampling.sample_layer("uniform", "maxpool2d", 0, i)
        assert m.params["padding"] <= m.params["kernel_size"] / 2
        a = sampling.sample_layer("uniform", "softmax", 0, i)
        assert 1 <= a.input_shape[0] < 512 and 50_000 <= a.input_shape[1] < 5_000_000


def test_realistic_conv_looks_like_real_layers() -> None:
    drawn = [sampling.sample_layer("realistic", "conv2d", 0, i) for i in range(300)]
    stems = [c for c in drawn if not c.input_requires_grad]
    convs = [c for c in drawn if c.input_requires_grad]
    # stems: RGB input, a kernel of 3-11 with its usual stride, no input gradient in training
    assert 0.2 < len(stems) / len(drawn) < 0.4
    assert all(c.params["in_channels"] == 3 for c in stems)
    assert {c.params["kernel_size"] for c in stems} == {3, 5, 7, 11}
    assert all(c.params["stride"] == 4 for c in stems if c.params["kernel_size"] == 11)
    assert stems[0].for_phase("training", False).payload()["input_requires_grad"] is False
    assert {c.params["kernel_size"] for c in convs} <= {1, 3, 5, 7}
    assert all(c.params["padding"] == c.params["kernel_size"] // 2 for c in convs)
    assert all(c.params["stride"] in (1, 2) for c in convs)
    assert any(c.params["groups"] == c.params["in_channels"] > 1 for c in convs)  # depthwise
    # wide layers at low resolution: median channels at 7x7 above those at 112x112
    low = sorted(c.params["in_channels"] for c in convs if c.input_shape[2] <= 8)
    high = sorted(c.params["in_channels"] for c in convs if c.input_shape[2] >= 100)
    assert low and high and low[len(low) // 2] > high[len(high) // 2]
    relu = sampling.sample_layer("realistic", "relu", 0, 1)
    assert relu.params["inplace"] is True and relu.for_phase("training").params["inplace"] is False


def test_every_sampled_configuration_runs_on_meta_tensors() -> None:
    for sampler in sampling.SAMPLERS:
        for lt in SAMPLED_LAYER_TYPES:
            for i in range(20):
                c = sampling.sample_layer(sampler, lt, 1, i)
                assert all(d > 0 for d in output_shape(get(lt), c.params, c.input_shape))


def test_bad_names_and_shards_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown layer"):
        sampling.sample_layer("uniform", "conv3d", 0, 0)
    with pytest.raises(ConfigError, match="unknown sampler"):
        sampling.build_plan(["relu"], [], ["gaussian"], ["inference"], 1, 0, 0)
    for bad in ("3/3", "x/2", "1"):
        with pytest.raises(ConfigError, match="--shard"):
            sampling.parse_shard(bad)


def test_the_plan_runs_stems_without_an_input_gradient() -> None:
    plan = sampling.build_plan(["conv2d"], [], ["realistic"], ["training"], 40, 0, 0)
    flags = {t.layer.input_requires_grad for t in plan if t.layer.params["in_channels"] == 3}
    assert False in flags


def test_scaled_draws_narrow_layers_at_low_resolution_that_realistic_never_draws() -> None:
    # realistic pairs 7-14 px with >= 128 channels (the census); scaled slims the width
    # (x0.25-1) and shrinks the spatial size (x64/224-1), as in AlexNet at width 0.25 and
    # 64 px: 64 channels at 3x3
    def narrow_low(c: LayerConfig) -> bool:
        return c.input_shape[2] <= 14 and c.params["in_channels"] < 128

    real = [sampling.sample_layer("realistic", "conv2d", 0, i) for i in range(300)]
    scaled = [sampling.sample_layer("scaled", "conv2d", 0, i) for i in range(300)]
    assert not any(narrow_low(c) for c in real)
    assert sum(narrow_low(c) for c in scaled) >= 15
    assert min(c.input_shape[2] for c in scaled) <= 3
    assert all(c.params["out_channels"] % 8 == 0 for c in scaled if c.params["in_channels"] != 3)
    # depthwise stays depthwise; RGB-input layers keep their drawn shape (the image), and the
    # stems among them take no input gradient in training
    assert any(c.params["groups"] == c.params["in_channels"] > 1 for c in scaled)
    assert all(c.params["groups"] in (1, c.params["in_channels"]) for c in scaled)
    stems = [c for c in scaled if c.params["in_channels"] == 3]
    assert stems and all(c.input_shape[2] >= 64 for c in stems)
    assert any(not c.input_requires_grad for c in stems)


def test_scaled_linear_and_softmax() -> None:
    lin = [sampling.sample_layer("scaled", "linear", 2, i) for i in range(50)]
    assert all(c.input_shape[1] == c.params["in_features"] >= 8 for c in lin)
    # softmax's input is a class count, not features a width multiplier slims
    soft = [sampling.sample_layer("scaled", "softmax", 2, i) for i in range(50)]
    assert any(c.input_shape[1] % 8 for c in soft)


def test_batchnorm_draws_normalise_the_channels_of_a_feature_map() -> None:
    # every sampler: a 4-D input whose channels are the layer's num_features (scaled slims
    # both together), so the module runs on it
    for sampler in sampling.SAMPLERS:
        bns = [sampling.sample_layer(sampler, "batchnorm2d", 3, i) for i in range(40)]
        assert all(len(c.input_shape) == 4 for c in bns)
        assert all(c.params["num_features"] == c.input_shape[1] for c in bns)
