"""A hardware-independent baseline: energy from elementary operations (Horowitz, ISSCC 2014).

Each layer call is counted as multiplications, additions, reads and writes; reads and writes
are priced by the size of the memory they hit (< 8 KB, < 32 KB, < 1 MB, > 1 MB), all in
picojoules from a table (45 nm CMOS; ``data/horowitz_45nm.csv``, replaceable with
``--op-costs FILE``, same columns). The model's dtype picks the 8-, 16- or 32-bit column.

Counting rules (per call, whole batch):
    conv2d, linear   MACs multiplications + MACs additions; two operand reads per MAC from the
                     innermost buffer (< 8 KB: an input value and a weight); the input tensor
                     and the weights read once and the output written once, each at the tier
                     of its own size.
    maxpool2d        one comparison (an addition) and one < 8 KB read per window visit.
    adaptiveavgpool  one addition and one < 8 KB read per input element, one multiplication
                     per output element.
    relu             one comparison per element.
    sigmoid, tanh    5 multiplications + 5 additions per element (polynomial exp, division).
    softmax          5 multiplications + 6 additions per element (max, exp, sum, scale).
    batchnorm2d      1 multiplication + 1 addition per element (statistics folded into a scale
                     and a shift per channel; training's batch statistics are not counted).
    dropout, flatten identity / view at inference: no operations.
    every layer      input read once, output written once, at the tier of their sizes.
    training         3 × the forward counts (forward, gradient w.r.t. input and weights).

What it leaves out: cache behaviour beyond one tier per tensor (reuse, misses, prefetch),
data movement between layers beyond one write and one read, instruction fetch and control,
vector width, static (leakage) and idle power, and everything that makes a 2026 CPU differ
from 45 nm CMOS. It ranks models by work and data movement; its absolute joules are not
expected to match a meter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd
import torch

from energypred.errors import ConfigError
from energypred.layers import LayerCounts

TIERS = ("rw_lt_8kb", "rw_lt_32kb", "rw_lt_1mb", "rw_gt_1mb")
OPERATIONS = ("float_add", "float_mul", *TIERS)
PJ = 1e-12


@dataclass(frozen=True)
class OpCounts:
    """Elementary operations of one layer call. ``rw`` maps a memory tier to accesses."""

    mults: float
    adds: float
    rw: dict[str, float]


@dataclass(frozen=True)
class OpCosts:
    """Picojoules per operation for one bit width."""

    pj: dict[str, float]
    bits: int
    source: str

    def energy_j(self, ops: OpCounts) -> float:
        """Energy of the counted operations, J."""
        pj = ops.mults * self.pj["float_mul"] + ops.adds * self.pj["float_add"]
        pj += sum(n * self.pj[tier] for tier, n in ops.rw.items())
        return pj * PJ


def load_costs(path: str | Path | None = None, bits: int = 32) -> OpCosts:
    """Read an op-cost table (CSV: operation,8,16,32 in pJ); default: Horowitz 45 nm."""
    if path is None:
        ref = resources.files("energypred") / "data" / "horowitz_45nm.csv"
        source = "Horowitz 2014, 45 nm"
    else:
        ref = Path(path)
        source = str(path)
        if not ref.is_file():
            raise ConfigError(f"--op-costs file {path} does not exist")
    with resources.as_file(ref) as p:
        try:
            table = pd.read_csv(p, index_col="operation")
        except (ValueError, pd.errors.ParserError) as err:
            raise ConfigError(f"{source} is not an op-cost CSV (operation,8,16,32): {err}") from err
    missing = set(OPERATIONS) - set(table.index)
    if missing or str(bits) not in table.columns:
        raise ConfigError(f"{source} lacks rows {sorted(missing)} or the {bits}-bit column; "
                          f"it needs rows {', '.join(OPERATIONS)} and columns 8,16,32")
    return OpCosts({op: float(table.loc[op, str(bits)]) for op in OPERATIONS}, bits,
                   f"{source}, {bits} bit")


def bits_of(dtype: torch.dtype) -> int:
    """The table column for a dtype: 32 (float32, and float64 priced as 32), 16 or 8."""
    if dtype in (torch.float16, torch.bfloat16):
        return 16
    if dtype in (torch.int8, torch.uint8, torch.qint8, torch.quint8):
        return 8
    return 32


def _tier(n_bytes: float) -> str:
    if n_bytes < 8 * 1024:
        return "rw_lt_8kb"
    if n_bytes < 32 * 1024:
        return "rw_lt_32kb"
    if n_bytes < 1024 * 1024:
        return "rw_lt_1mb"
    return "rw_gt_1mb"


_PER_ELEMENT = {"relu": (0, 1), "sigmoid": (5, 5), "tanh": (5, 5), "softmax": (5, 6),
                "dropout": (0, 0), "flatten": (0, 0), "batchnorm2d": (1, 1)}


def count_ops(layer_type: str, c: LayerCounts, bytes_per_element: int,
              phase: str = "inference") -> OpCounts | None:
    """Elementary operations of one call (see the module doc), or None for unknown types."""
    rw: dict[str, float] = {t: 0.0 for t in TIERS}
    if layer_type in ("flatten", "dropout") and phase == "inference":
        return OpCounts(0.0, 0.0, rw)  # a view / the identity: no work at all
    b = bytes_per_element
    rw[_tier(c.input_elements * b)] += c.input_elements
    rw[_tier(c.output_elements * b)] += c.output_elements
    if layer_type in ("conv2d", "linear"):
        mults, adds = float(c.macs), float(c.macs)
        rw["rw_lt_8kb"] += 2.0 * c.macs
        rw[_tier(c.weight_elements * b)] += c.weight_elements
    elif layer_type == "maxpool2d":
        mults, adds = 0.0, float(c.window_ops)
        rw["rw_lt_8kb"] += c.window_ops
    elif layer_type == "adaptiveavgpool2d":
        mults, adds = float(c.output_elements), float(c.input_elements)
        rw["rw_lt_8kb"] += c.input_elements
    elif layer_type in _PER_ELEMENT:
        m, a = _PER_ELEMENT[layer_type]
        mults, adds = float(m * c.input_elements), float(a * c.input_elements)
    else:
        return None
    if phase == "training":
        return OpCounts(3 * mults, 3 * adds, {k: 3 * v for k, v in rw.items()})
    return OpCounts(mults, adds, rw)


def layer_energy_j(layer_type: str | None, counts: LayerCounts | None, costs: OpCosts,
                   phase: str = "inference") -> float:
    """Theoretical J of one call; NaN when the layer type has no counting rule."""
    if layer_type is None or counts is None:
        return math.nan
    ops = count_ops(layer_type, counts, costs.bits // 8, phase)
    return math.nan if ops is None else costs.energy_j(ops)
