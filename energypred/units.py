"""Units used everywhere in energypred, defined once.

- Energy is in joules (``*_j``); CodeCarbon reports kWh, converted here.
- Time is in seconds (``*_s``), power in watts (``*_w``), memory in bytes (``*_bytes``).
- One MAC is one multiply-accumulate (``torch.utils.flop_counter`` counts it as 2 FLOPs).
"""

from __future__ import annotations

J_PER_KWH: float = 3.6e6
FLOPS_PER_MAC: int = 2
BYTES_PER_GB: float = 1e9


def kwh_to_j(energy_kwh: float) -> float:
    """Convert kilowatt-hours to joules."""
    return float(energy_kwh) * J_PER_KWH


def j_to_kwh(energy_j: float) -> float:
    """Convert joules to kilowatt-hours."""
    return float(energy_j) / J_PER_KWH
