"""The measurement protocol: warm-up, calibration, and repeated CodeCarbon windows.

::

    build module + inputs (outside any window, never measured)
    │
    ├─ warm-up ─┬ call 1 (cold: allocator, oneDNN primitives) ─┬ calls 2.. until >= warmup_s
    │           └ per-call time t from the warm calls ─────────┘  (one call if t >= window/2)
    │
    │  n = max(1, round(window_s / t))           calls per window, fixed for every repeat
    │
    ├─ window 1 ═[ start_task │ n × step() │ stop_task ]═  → energy_1 / n, duration_1 / n
    ├─ window 2 ═[ start_task │ n × step() │ stop_task ]═  → energy_2 / n, ...
    └─ window R ═[ ...                                 ]═
                                     ↓
    energy per call = mean of the R per-call energies; CV = std / mean over the R windows;
    minor page faults per call counted over the R windows (measurement/allocator.py)
    (fit and evaluate use windows 2..R: for large training steps window 1 is still warm-up,
    see energypred/windows.py; the stored windows are all R)

Each window is a CodeCarbon task of one tracker (not a new tracker): opening and closing it
costs ~0.3 ms and a few mJ, negligible against windows of 0.1 s and more.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from energypred.errors import ConfigError
from energypred.measurement.allocator import minor_faults
from energypred.measurement.meter import Meter, Reading


@dataclass(frozen=True)
class Measurement:
    """Result of measuring one workload; energies in J and durations in s, per call."""

    energy_j: float
    cpu_energy_j: float
    ram_energy_j: float
    gpu_energy_j: float
    duration_s: float
    energy_j_repeats: list[float]
    duration_s_repeats: list[float]
    energy_cv: float
    calls_per_window: int
    repeats: int
    window_s: float
    warmup_s: float
    cpu_power_w: float
    power_w: float
    #: minor page faults per call inside the windows (see measurement/allocator.py)
    minor_faults_per_call: float = float("nan")
    #: s per call of the reference convolution timed just before and after (probe.py)
    probe_s_per_call: float = float("nan")

    @property
    def windows_total_s(self) -> float:
        """Total time spent inside measurement windows."""
        return self.window_s * self.repeats


def warm_up(step: Callable[[], object], window_s: float, warmup_s: float) -> tuple[float, float]:
    """Run warm-up calls; returns (estimated seconds per warm call, seconds spent)."""
    t0 = time.perf_counter()
    step()
    first = time.perf_counter() - t0
    if first >= window_s / 2:
        return first, first
    calls, t1 = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= warmup_s or calls >= 1000:
            break
    per_call = (time.perf_counter() - t1) / calls
    return per_call, time.perf_counter() - t0


def measure(step: Callable[[], object], meter: Meter, window_s: float = 0.5, repeats: int = 3,
            warmup_s: float | None = None) -> Measurement:
    """Measure ``step`` following the protocol above.

    Args:
        step: one call of the workload (e.g. a forward pass of the batch).
        meter: the energy meter; one window per repeat.
        window_s: target length of one window, s.
        repeats: number of windows.
        warmup_s: minimum warm-up time, s (default: 4 % of a window, at least 10 ms).

    Returns:
        Per-call energy (J) and duration (s), averaged over the repeats, with their spread.
    """
    if window_s <= 0 or repeats < 1:
        raise ConfigError("window_s must be > 0 and repeats >= 1")
    warm = max(0.01, 0.04 * window_s) if warmup_s is None else warmup_s
    per_call, spent = warm_up(step, window_s, warm)
    n = max(1, round(window_s / max(per_call, 1e-9)))
    readings: list[Reading] = []
    faults_before = minor_faults()
    for _ in range(repeats):
        meter.start()
        for _ in range(n):
            step()
        readings.append(meter.stop())
    faults = (minor_faults() - faults_before) / (n * repeats)
    e = [r.energy_j / n for r in readings]
    d = [r.duration_s / n for r in readings]
    mean_e = statistics.fmean(e)
    cv = statistics.stdev(e) / mean_e if len(e) > 1 and mean_e > 0 else 0.0
    total_d = sum(r.duration_s for r in readings)
    return Measurement(
        energy_j=mean_e,
        cpu_energy_j=statistics.fmean(r.cpu_energy_j / n for r in readings),
        ram_energy_j=statistics.fmean(r.ram_energy_j / n for r in readings),
        gpu_energy_j=statistics.fmean(r.gpu_energy_j / n for r in readings),
        duration_s=statistics.fmean(d),
        energy_j_repeats=e, duration_s_repeats=d, energy_cv=cv, calls_per_window=n,
        repeats=repeats, window_s=total_d / repeats, warmup_s=spent,
        cpu_power_w=sum(r.cpu_energy_j for r in readings) / total_d if total_d else 0.0,
        power_w=sum(r.energy_j for r in readings) / total_d if total_d else 0.0,
        minor_faults_per_call=faults,
    )


def combine(*parts: Measurement) -> Measurement:
    """One measurement from several of the same workload taken at different times (a whole
    network around and between its leaves, ``bracket.py``).

    Per-call energies and durations are the means over every window of every part; the CV is
    taken over all of them, so it includes the drift between the parts. ``calls_per_window``
    is the first part's (each part calibrates its own); ``probe_s_per_call`` the mean over
    the parts that have one, weighted by their repeats (NaN if none has).
    """
    if not parts:
        raise ValueError("combine needs at least one measurement")
    e = [x for m in parts for x in m.energy_j_repeats]
    d = [x for m in parts for x in m.duration_s_repeats]
    mean_e = statistics.fmean(e)
    n = sum(m.repeats for m in parts)

    def avg(attr: str) -> float:
        return sum(getattr(m, attr) * m.repeats for m in parts) / n

    probed = [m for m in parts if not math.isnan(m.probe_s_per_call)]
    probe = (sum(m.probe_s_per_call * m.repeats for m in probed) / sum(m.repeats for m in probed)
             if probed else float("nan"))

    return Measurement(
        energy_j=mean_e, cpu_energy_j=avg("cpu_energy_j"), ram_energy_j=avg("ram_energy_j"),
        gpu_energy_j=avg("gpu_energy_j"), duration_s=statistics.fmean(d),
        energy_j_repeats=e, duration_s_repeats=d,
        energy_cv=statistics.stdev(e) / mean_e if len(e) > 1 and mean_e > 0 else 0.0,
        calls_per_window=parts[0].calls_per_window, repeats=n, window_s=avg("window_s"),
        warmup_s=sum(m.warmup_s for m in parts), cpu_power_w=avg("cpu_power_w"),
        power_w=avg("power_w"), minor_faults_per_call=avg("minor_faults_per_call"),
        probe_s_per_call=probe)


def idle_power(meter: Meter, seconds: float = 1.0) -> Reading:
    """One window with the process asleep: the machine's idle baseline (total J over the window)."""
    meter.start()
    time.sleep(seconds)
    return meter.stop()
