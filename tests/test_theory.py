"""The elementary-operation (Horowitz) baseline: counts and joules derived by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from energypred import layers
from energypred.errors import ConfigError
from energypred.theory import bits_of, count_ops, layer_energy_j, load_costs


def _counts(module: nn.Module, shape: tuple[int, ...]) -> layers.LayerCounts:
    entry = layers.lookup(module)
    assert entry is not None
    p = entry.params_of(module)
    return entry.count(p, shape, layers.output_shape(entry, p, shape))


def test_conv2d_by_hand() -> None:
    # Conv2d 1->2, k2 on 1x1x3x3: output 1x2x2x2 = 8 elements, MACs 8 x (1 x 2 x 2) = 32,
    # weights 2 x 1 x 2 x 2 + 2 bias = 10. All tensors < 8 KB.
    # reads/writes: 2 x 32 operands + 9 input + 10 weights + 8 output = 91 at 5.0 pJ = 455
    # mults 32 x 3.7 = 118.4, adds 32 x 0.9 = 28.8  ->  602.2 pJ at 32 bit
    c = _counts(nn.Conv2d(1, 2, 2), (1, 1, 3, 3))
    ops = count_ops("conv2d", c, 4)
    assert (ops.mults, ops.adds, ops.rw["rw_lt_8kb"]) == (32, 32, 91)
    assert layer_energy_j("conv2d", c, load_costs(bits=32)) == pytest.approx(602.2e-12)


def test_linear_by_hand_in_two_widths() -> None:
    # Linear 4->3, batch 2: MACs 2 x 4 x 3 = 24, weights 12 + 3 = 15, input 8, output 6.
    # rw = 48 + 8 + 15 + 6 = 77. 32 bit: 24 x 3.7 + 24 x 0.9 + 77 x 5.0 = 495.4 pJ
    # 16 bit: 24 x 1.1 + 24 x 0.4 + 77 x 2.5 = 228.5 pJ
    c = _counts(nn.Linear(4, 3), (2, 4))
    assert layer_energy_j("linear", c, load_costs(bits=32)) == pytest.approx(495.4e-12)
    assert layer_energy_j("linear", c, load_costs(bits=16)) == pytest.approx(228.5e-12)
    # training counts three times the forward work
    assert layer_energy_j("linear", c, load_costs(), "training") == pytest.approx(3 * 495.4e-12)


def test_large_tensors_hit_the_far_memory() -> None:
    # ReLU on 1M float32 elements: 4 MB in, 4 MB out -> both > 1 MB
    ops = count_ops("relu", _counts(nn.ReLU(), (1, 1_000_000)), 4)
    assert ops.rw["rw_gt_1mb"] == 2_000_000 and ops.adds == 1_000_000
    assert count_ops("groupnorm", _counts(nn.ReLU(), (1, 4)), 4) is None


def test_dtype_picks_the_column_and_costs_file_is_replaceable(tmp_path: Path) -> None:
    assert (bits_of(torch.float32), bits_of(torch.bfloat16), bits_of(torch.int8)) == (32, 16, 8)
    f = tmp_path / "costs.csv"
    f.write_text("operation,8,16,32\nfloat_add,1,1,1\nfloat_mul,1,1,1\nrw_lt_8kb,0,0,0\n"
                 "rw_lt_32kb,0,0,0\nrw_lt_1mb,0,0,0\nrw_gt_1mb,0,0,0\n")
    c = _counts(nn.Linear(4, 3), (2, 4))
    assert layer_energy_j("linear", c, load_costs(f)) == pytest.approx(48e-12)  # 24 + 24 ops
    f.write_text("operation,32\nfloat_add,1\n")
    with pytest.raises(ConfigError, match="lacks rows"):
        load_costs(f)
