"""Configuration samplers and the deterministic, shardable plan of a generate run.

Three layer samplers:
    ``uniform``    the published ranges (Getzner et al. 2023), every parameter independent,
                   upper bounds exclusive; invalid draws are redrawn.
    ``realistic``  layers that look like those of real CNNs (shared/reference/real-layer-stats):
                   kernels mostly 1/3/5/7, stride 1-2, "same" padding, channel counts paired with
                   the spatial size (wide layers at low resolution), depthwise groups, in-place
                   ReLU, log-uniform batch sizes; 30 % of convolutions are RGB stems (kernel
                   3-11, stride 1-4) whose input needs no gradient in training.
    ``scaled``     a realistic layer as it sits in a slimmed, low-resolution variant of its
                   network, the variants users price and ``generate`` measures networks at:
                   channels times a width multiplier (0.25-1), spatial size times an input
                   resolution over 224 px (64-224 px); so narrow layers at 2-14 px, which the
                   census-shaped ``realistic`` never draws. Stems keep their drawn shape.
Architecture variants draw batch size, resolution, width multiplier and class count from an
``ArchSpace``: by default ``ARCH_BATCH_SIZES``, ``ARCH_RESOLUTIONS`` and ``ARCH_WIDTHS``, unless
a run names others (``generate --arch-batches`` etc.: the shipped runs' variants reach batch 16,
while users price full-size networks at batch 32-256).

Every configuration comes from its own ``random.Random`` seeded by (seed, sampler, layer type,
index): the sequence does not depend on which other layer types or phases a run asks for.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from energypred.configs import ArchConfig, LayerConfig
from energypred.errors import ConfigError
from energypred.layers import SAMPLED_LAYER_TYPES

SAMPLERS: tuple[str, ...] = ("uniform", "realistic", "scaled")
PHASES: tuple[str, ...] = ("inference", "training")
#: batch sizes an architecture variant draws from (a repeat weighs a size twice); changing it
#: would change every variant drawn by an existing seed, so other sizes are an option
ARCH_BATCH_SIZES: tuple[int, ...] = (1, 1, 2, 4, 8, 16)
#: input resolutions (px) and width multipliers of architecture variants, and of the variants
#: the ``scaled`` sampler puts layers in
ARCH_RESOLUTIONS: tuple[int, ...] = (64, 96, 128, 160, 192, 224)
ARCH_WIDTHS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)
#: smallest input (px) the built-in architectures are defined for (architectures.py)
MIN_ARCH_RESOLUTION = 64
_MAX_REDRAWS = 1000


def _log_int(rng: random.Random, lo: int, hi: int) -> int:
    """Log-uniform integer in [lo, hi]."""
    return min(hi, max(lo, int(math.exp(rng.uniform(math.log(lo), math.log(hi + 1))))))


def _round8(channels: float) -> int:
    """A channel count rounded to a multiple of 8, at least 8."""
    return max(8, int(round(channels / 8)) * 8)


def _mult8(rng: random.Random, lo: int, hi: int) -> int:
    """Log-uniform channel count in [lo, hi], rounded to a multiple of 8."""
    return _round8(_log_int(rng, lo, hi))


# --- uniform: the published ranges ------------------------------------------------------------
def _uniform(layer_type: str, rng: random.Random) -> LayerConfig:
    if layer_type in ("conv2d", "maxpool2d"):
        for _ in range(_MAX_REDRAWS):
            b, img = rng.randrange(1, 256), rng.randrange(4, 224)
            k, cin = rng.randrange(1, 11), rng.randrange(1, 512)
            cout = rng.randrange(1, 512) if layer_type == "conv2d" else cin
            s, p = rng.randrange(1, 5), rng.randrange(0, 3)
            if k > img + 2 * p or s > img + 2 * p:
                continue
            if layer_type == "maxpool2d":
                if p > k / 2:
                    continue
                return LayerConfig("maxpool2d", {"kernel_size": k, "stride": s, "padding": p},
                                   (b, cin, img, img))
            return LayerConfig("conv2d", {"in_channels": cin, "out_channels": cout,
                                          "kernel_size": k, "stride": s, "padding": p},
                               (b, cin, img, img))
        raise ConfigError(f"could not draw a valid {layer_type} configuration")
    if layer_type == "linear":
        b, fin, fout = rng.randrange(1, 512), rng.randrange(1, 5000), rng.randrange(1, 5000)
        return LayerConfig("linear", {"in_features": fin, "out_features": fout}, (b, fin))
    if layer_type == "batchnorm2d":  # a feature map: channels and spatial size independent
        b, c, img = rng.randrange(1, 256), rng.randrange(1, 512), rng.randrange(4, 224)
        return LayerConfig("batchnorm2d", {"num_features": c}, (b, c, img, img))
    b, n = rng.randrange(1, 512), rng.randrange(50_000, 5_000_000)
    return LayerConfig(layer_type, _activation_params(layer_type, inplace=False), (b, n))


def _activation_params(layer_type: str, inplace: bool) -> dict[str, object]:
    if layer_type == "relu":
        return {"inplace": inplace}
    if layer_type == "softmax":
        return {"dim": 1}
    return {}


# --- realistic: shaped like real CNN layers ---------------------------------------------------
#: (input height, weight, channel range) from the torchvision CNN census.
_RESOLUTIONS: tuple[tuple[int, float, tuple[int, int]], ...] = (
    (7, 0.20, (240, 2048)), (14, 0.25, (128, 2048)), (28, 0.18, (48, 768)),
    (56, 0.15, (32, 512)), (112, 0.12, (16, 128)), (224, 0.10, (16, 64)),
)


def _spatial_and_channels(rng: random.Random) -> tuple[int, int]:
    h, _, (lo, hi) = rng.choices(_RESOLUTIONS, weights=[w for _, w, _ in _RESOLUTIONS])[0]
    if rng.random() < 0.25:  # odd sizes as in AlexNet (13, 27, 55) or Inception (17, 35, 149)
        h = max(7, int(round(h * rng.uniform(0.8, 1.25))))
    return h, _mult8(rng, lo, hi)


#: Share of realistic Conv2d draws that are a network's first layer (an RGB stem).
STEM_SHARE = 0.3
#: Stem kernels and their strides, as in VGG/MobileNet (3), ResNet (7), AlexNet (11, stride 4).
_STEMS = ((3, (1, 2)), (5, (1, 2)), (7, (2,)), (11, (4,)))


def _stem(b: int, rng: random.Random) -> LayerConfig:
    """A first layer: 3 input channels, a large kernel with stride, an input that needs no
    gradient in training (it is data)."""
    k, strides = rng.choice(_STEMS)
    h = rng.choice((64, 96, 128, 160, 192, 224))
    cout = rng.choice((16, 24, 32, 48, 64, 96))
    return LayerConfig("conv2d", {"in_channels": 3, "out_channels": cout, "kernel_size": k,
                                  "stride": rng.choice(strides), "padding": k // 2, "groups": 1},
                       (b, 3, h, h), input_requires_grad=False)


def _realistic(layer_type: str, rng: random.Random) -> LayerConfig:
    b = _log_int(rng, 1, 256)
    if layer_type == "conv2d":
        h, cin = _spatial_and_channels(rng)
        if h >= 200 and rng.random() < 0.3:
            cin = 3  # RGB stem
        k = rng.choices((1, 3, 5, 7), weights=(0.55, 0.33, 0.06, 0.06))[0]
        s = 2 if rng.random() < 0.15 else 1
        if cin >= 16 and rng.random() < 0.15:
            groups, cout = cin, cin
        else:
            groups = 1
            cout = min(2048, max(16, int(round(cin * 2 ** rng.uniform(-2, 2) / 8)) * 8))
        if rng.random() < STEM_SHARE:  # drawn last: the other configurations stay as they were
            return _stem(b, rng)
        return LayerConfig("conv2d", {"in_channels": cin, "out_channels": cout, "kernel_size": k,
                                      "stride": s, "padding": k // 2, "groups": groups},
                           (b, cin, h, h))
    if layer_type == "maxpool2d":
        h, c = _spatial_and_channels(rng)
        k = rng.choice((2, 3))
        p = 1 if (k == 3 and rng.random() < 0.5) else 0
        return LayerConfig("maxpool2d", {"kernel_size": k, "stride": 2, "padding": p},
                           (b, c, max(h, k), max(h, k)))
    if layer_type == "linear":
        fin, fout = _mult8(rng, 64, 4096), _mult8(rng, 64, 4096)
        return LayerConfig("linear", {"in_features": fin, "out_features": fout}, (b, fin))
    if layer_type == "batchnorm2d":  # after a convolution: its output's size and channels
        h, c = _spatial_and_channels(rng)
        return LayerConfig("batchnorm2d", {"num_features": c}, (b, c, h, h))
    inplace = layer_type == "relu"  # real nets run ReLU in place, Sigmoid/Tanh/Softmax not
    params = _activation_params(layer_type, inplace=inplace)
    if layer_type == "softmax":
        return LayerConfig("softmax", params, (b, _log_int(rng, 10, 32768)))
    if rng.random() < 0.15:  # classifier-style 2-D input
        return LayerConfig(layer_type, params, (b, _mult8(rng, 64, 4096)))
    h, c = _spatial_and_channels(rng)
    if layer_type == "sigmoid" and rng.random() < 0.3:
        h = 1  # squeeze-and-excitation gates
    return LayerConfig(layer_type, params, (b, c, h, h))


# --- scaled: realistic layers inside slimmed, low-resolution network variants -----------------
#: layer types whose 2-D input is a class count, not features a width multiplier scales
_UNSCALED_2D = ("softmax",)


def _slim(channels: int, width: float) -> int:
    """``channels`` times ``width``, a multiple of 8 (at least 8); RGB input (3) stays."""
    return channels if channels == 3 else _round8(channels * width)


def _scaled(layer_type: str, rng: random.Random) -> LayerConfig:
    base = _realistic(layer_type, rng)
    width = rng.choice(ARCH_WIDTHS)
    factor = rng.choice(ARCH_RESOLUTIONS) / max(ARCH_RESOLUTIONS)
    params, shape = dict(base.params), list(base.input_shape)
    stem = layer_type == "conv2d" and params["in_channels"] == 3
    if stem:  # a network's first layer: its input is the image, its width is drawn already
        return base
    if len(shape) == 4:
        shape[1] = _slim(shape[1], width)
        floor = params.get("kernel_size", 1) if layer_type == "maxpool2d" else 1
        shape[2] = shape[3] = max(floor, int(round(shape[2] * factor)))
    elif layer_type not in _UNSCALED_2D:
        shape[1] = _slim(shape[1], width)
    if layer_type == "conv2d":
        depthwise = params["groups"] == params["in_channels"] > 1
        params["in_channels"] = shape[1]
        params["out_channels"] = shape[1] if depthwise else _slim(params["out_channels"], width)
        params["groups"] = shape[1] if depthwise else params["groups"]
    elif layer_type == "linear":
        params["in_features"] = shape[1]
        params["out_features"] = _slim(params["out_features"], width)
    elif layer_type == "batchnorm2d":
        params["num_features"] = shape[1]
    return LayerConfig(layer_type, params, tuple(shape),
                       input_requires_grad=base.input_requires_grad)


_LAYER_SAMPLERS: dict[str, Callable[[str, random.Random], LayerConfig]] = {
    "uniform": _uniform, "realistic": _realistic, "scaled": _scaled,
}


def sample_layer(sampler: str, layer_type: str, seed: int, index: int) -> LayerConfig:
    """The ``index``-th configuration of ``layer_type`` drawn by ``sampler`` with ``seed``."""
    if sampler not in _LAYER_SAMPLERS:
        raise ConfigError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}")
    if layer_type not in SAMPLED_LAYER_TYPES:
        raise ConfigError(f"unknown layer {layer_type!r}; use any of "
                          f"{','.join(SAMPLED_LAYER_TYPES)}")
    rng = random.Random(f"{seed}:{sampler}:{layer_type}:{index}")
    return _LAYER_SAMPLERS[sampler](layer_type, rng)


@dataclass(frozen=True)
class ArchSpace:
    """What architecture variants draw from: batch sizes (samples per call), input resolutions
    (px) and width multipliers; a repeated value weighs twice. The defaults are what every
    shipped run drew; a run may pin others (``generate --arch-batches/--arch-resolutions/
    --arch-widths``), e.g. full-size networks at the batch sizes users price."""

    batch_sizes: tuple[int, ...] = ARCH_BATCH_SIZES
    resolutions: tuple[int, ...] = ARCH_RESOLUTIONS
    widths: tuple[float, ...] = ARCH_WIDTHS

    def __post_init__(self) -> None:
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ConfigError(f"architecture batch sizes must be >= 1, got "
                              f"{list(self.batch_sizes)}")
        if not self.resolutions or min(self.resolutions) < MIN_ARCH_RESOLUTION:
            raise ConfigError(f"architecture resolutions must be >= {MIN_ARCH_RESOLUTION} px "
                              f"(the built-in architectures' smallest input), got "
                              f"{list(self.resolutions)}")
        if not self.widths or not all(0 < w <= 4 for w in self.widths):
            raise ConfigError(f"architecture width multipliers must be in (0, 4], got "
                              f"{list(self.widths)}")


def sample_architecture(architecture: str, seed: int, index: int,
                        space: ArchSpace = ArchSpace()) -> ArchConfig:
    """The ``index``-th variant of a built-in architecture: batch size (samples per call),
    input resolution (px), width multiplier and class count, drawn from ``space``."""
    rng = random.Random(f"{seed}:architecture:{architecture}:{index}")
    return ArchConfig(
        architecture=architecture,
        batch_size=rng.choice(space.batch_sizes),
        resolution=rng.choice(space.resolutions),
        width_mult=rng.choice(space.widths),
        num_classes=rng.choice((10, 100, 1000)),
    )


@dataclass(frozen=True)
class Task:
    """One entry of a run's plan: a layer configuration or an architecture variant, in a phase."""

    position: int
    phase: str
    sampler: str
    index: int
    layer: LayerConfig | None = None
    arch: ArchConfig | None = None

    @property
    def name(self) -> str:
        """Short label for progress output."""
        what = self.layer.layer_type if self.layer else self.arch.architecture  # type: ignore
        return f"{self.phase}/{self.sampler}/{what}#{self.index}"


def build_plan(layers: list[str], architectures: list[str], samplers: list[str],
               phases: list[str], samples: int, arch_samples: int, seed: int,
               arch_space: ArchSpace = ArchSpace()) -> list[Task]:
    """The whole sequence of a run, interleaved so that a run cut short stays balanced.

    Round ``i`` holds configuration ``i`` of every (phase, sampler, layer type), then variant
    ``i`` of every (phase, architecture). Positions are global, so shards are stable.
    """
    for p in phases:
        if p not in PHASES:
            raise ConfigError(f"unknown phase {p!r}; use inference or training")
    for s in samplers:
        if s not in SAMPLERS:
            raise ConfigError(f"unknown sampler {s!r}; use one of {', '.join(SAMPLERS)}")
    tasks: list[Task] = []
    for i in range(max(samples, arch_samples)):
        if i < samples:
            for phase in phases:
                for sampler in samplers:
                    for lt in layers:
                        drawn = sample_layer(sampler, lt, seed, i)
                        cfg = drawn.for_phase(phase, drawn.input_requires_grad)
                        tasks.append(Task(len(tasks), phase, sampler, i, layer=cfg))
        if i < arch_samples:
            for phase in phases:
                for arch in architectures:
                    tasks.append(Task(len(tasks), phase, "architecture", i,
                                      arch=sample_architecture(arch, seed, i, arch_space)))
    return tasks


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/8"`` -> (2, 8); shard indices run from 0 to N-1."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard must look like i/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {text}: need 0 <= i < N")
    return i, n


def shard(tasks: list[Task], index: int, count: int) -> list[Task]:
    """The tasks of shard ``index`` of ``count``: every ``count``-th position, disjoint."""
    return [t for t in tasks if t.position % count == index]
