"""Energy meters: a thin CodeCarbon adapter (joules, fails loudly) and a test double.

A meter measures one window at a time: ``start()`` then ``stop() -> Reading``. Each meter says
*how* its numbers were obtained (``methods``), so every stored row can say whether it is a
hardware counter reading (RAPL, NVML) or an estimate (CodeCarbon's TDP × load model, its
constant RAM power).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

from energypred.errors import MeasurementError
from energypred.units import kwh_to_j


@dataclass(frozen=True)
class Reading:
    """Energy of one measurement window, split by component (joules), and its length (s)."""

    energy_j: float
    cpu_energy_j: float
    ram_energy_j: float
    gpu_energy_j: float
    duration_s: float


@dataclass(frozen=True)
class Methods:
    """How each energy component was obtained."""

    meter: str
    cpu_method: str
    ram_method: str
    gpu_method: str
    cpu_tdp_w: float | None
    is_estimate: bool

    def describe(self) -> str:
        """One line for reports, e.g. ``codecarbon: cpu=cpu_load_tdp_estimate (TDP 8 W) ...``."""
        tdp = f" (TDP {self.cpu_tdp_w:g} W)" if self.cpu_tdp_w else ""
        kind = "estimate" if self.is_estimate else "hardware counters"
        return (f"{self.meter}: cpu={self.cpu_method}{tdp}, ram={self.ram_method}, "
                f"gpu={self.gpu_method} [{kind}]")


class Meter(Protocol):
    """What the measurement protocol needs from an energy meter."""

    def start(self) -> None:
        """Open a measurement window."""

    def stop(self) -> Reading:
        """Close the window and return its energy."""

    @property
    def methods(self) -> Methods:
        """How the readings are obtained (valid after the first window)."""


_CPU_METHODS = {
    "intel_rapl": "rapl", "cpu_load": "cpu_load_tdp_estimate",
    "constant": "constant_tdp_estimate", "intel_power_gadget": "intel_power_gadget",
    "windows_emi": "windows_emi", "apple_powermetrics": "powermetrics",
}
_COUNTER_METHODS = {"rapl", "intel_power_gadget", "windows_emi", "powermetrics", "nvml", "none"}


class CodeCarbonMeter:
    """One ``OfflineEmissionsTracker`` per run; every window is one CodeCarbon task.

    No network access and no CSV output. ``tracking_mode="machine"`` (CodeCarbon's default)
    follows machine-wide load: keep the machine quiet while measuring.
    """

    def __init__(self, tracking_mode: str = "machine") -> None:
        try:
            from codecarbon import OfflineEmissionsTracker
        except ImportError as err:  # pragma: no cover - codecarbon is a dependency
            raise MeasurementError("codecarbon is not installed: pip install codecarbon") from err
        # Silence CodeCarbon's start-up chatter without touching the root logger.
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self._tracker = OfflineEmissionsTracker(
            country_iso_code="USA", output_methods=[], log_level="error",
            allow_multiple_runs=True, tracking_mode=tracking_mode)
        self._n = 0
        self._methods: Methods | None = None

    def start(self) -> None:
        """Open a CodeCarbon task; raises MeasurementError if CodeCarbon refused it."""
        self._n += 1
        self._tracker.start_task(f"w{self._n}")
        if getattr(self._tracker, "_active_task", None) is None:
            raise MeasurementError("CodeCarbon did not start a task; see its log "
                                   "(logging.getLogger('codecarbon'))")

    def stop(self) -> Reading:
        """Close the task and convert its kWh to joules."""
        data = self._tracker.stop_task()
        if data is None:
            raise MeasurementError("CodeCarbon returned no data for a task window")
        return Reading(
            energy_j=kwh_to_j(data.energy_consumed), cpu_energy_j=kwh_to_j(data.cpu_energy),
            ram_energy_j=kwh_to_j(data.ram_energy), gpu_energy_j=kwh_to_j(data.gpu_energy),
            duration_s=float(data.duration))

    @property
    def methods(self) -> Methods:
        """Read from CodeCarbon's detected hardware (after the first window)."""
        if self._methods is None:
            cpu, ram, gpu, tdp = "unknown", "none", "none", None
            for hw in getattr(self._tracker, "_hardware", []):
                kind = type(hw).__name__
                if kind == "CPU":
                    mode = str(getattr(hw, "_mode", "unknown"))
                    cpu = _CPU_METHODS.get(mode, mode)
                    tdp = getattr(hw, "_tdp", None) if "estimate" in cpu else None
                elif kind == "RAM":
                    forced = getattr(hw, "_force_ram_power", None)
                    ram = "ram_power_user_constant" if forced else "ram_power_estimate"
                elif kind == "GPU" or "GPU" in kind:
                    gpu = "nvml" if "AMD" not in kind else "amdsmi"
            estimate = not ({cpu, gpu} <= _COUNTER_METHODS and ram == "none")
            self._methods = Methods("codecarbon", cpu, ram, gpu,
                                    float(tdp) if tdp else None, estimate)
        return self._methods


class FakeMeter:
    """Test double: a constant-power meter on the wall clock (no hardware, no CodeCarbon).

    Energy = ``power_w`` × window duration, split into a CPU and a RAM part. Its rows are
    labelled ``meter=fake`` so they can never pass for real measurements.
    """

    def __init__(self, cpu_power_w: float = 8.0, ram_power_w: float = 20.0) -> None:
        self.cpu_power_w = cpu_power_w
        self.ram_power_w = ram_power_w
        self._t0: float | None = None

    def start(self) -> None:
        """Open a window."""
        self._t0 = time.perf_counter()

    def stop(self) -> Reading:
        """Close the window: energy = constant power × elapsed time."""
        if self._t0 is None:
            raise MeasurementError("FakeMeter.stop() without start()")
        d = time.perf_counter() - self._t0
        self._t0 = None
        cpu, ram = self.cpu_power_w * d, self.ram_power_w * d
        return Reading(cpu + ram, cpu, ram, 0.0, d)

    @property
    def methods(self) -> Methods:
        """Always a fake constant-power estimate."""
        return Methods("fake", "fake_constant", "fake_constant", "none", None, True)
