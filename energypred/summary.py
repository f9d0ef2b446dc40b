"""What a generate run did: counts, throughput, repeatability, drift (printed at its end)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from energypred.faulted import MAX_FAULT_SHARE


@dataclass
class RunSummary:
    """What a run did. Durations in s; CVs and drift as fractions."""

    rows_written: int = 0
    measured: int = 0
    skipped: int = 0
    failed: int = 0
    already_done: int = 0
    planned: int = 0
    wall_s: float = 0.0
    inside_windows_s: float = 0.0
    stopped: str = "complete"
    cv_by_type: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    reference_j: list[float] = field(default_factory=list)
    bad_shards: list[tuple[str, str]] = field(default_factory=list)
    method: str = ""
    settle_s: float = 0.0
    allocator: str = ""
    #: minor page faults per call of every measured configuration (counts)
    faults_per_call: list[float] = field(default_factory=list)
    #: per whole network measured: measurements pooled (count), last / first - 1 (fraction)
    whole_measurements: list[int] = field(default_factory=list)
    bracket_drift: list[float] = field(default_factory=list)
    #: s per call of every speed probe of the run (measurement/probe.py)
    probe_s: list[float] = field(default_factory=list)
    #: the run's largest resident memory, bytes (0: not known)
    peak_resident_bytes: int = 0
    #: measurements before which the run handed its free heap back (measurement/allocator.py)
    heap_releases: int = 0
    #: measurements written whose page faults took over the faulted share of their call
    #: (faulted.py: fit leaves them out)
    faulted: int = 0

    @property
    def median_cv(self) -> dict[str, float]:
        """Median repeat CV per layer type (fraction)."""
        return {k: statistics.median(v) for k, v in sorted(self.cv_by_type.items()) if v}

    @property
    def drift(self) -> tuple[float, float] | None:
        """Spread of the reference workload over the run, as fractions of its median:
        (5th-95th percentile range, max - min)."""
        if len(self.reference_j) < 2:
            return None
        ref = sorted(self.reference_j)
        med = statistics.median(ref)
        q = statistics.quantiles(ref, n=20, method="inclusive")
        return (q[-1] - q[0]) / med, (ref[-1] - ref[0]) / med

    def lines(self) -> list[str]:
        """Human-readable summary."""
        per_h = 3600 * self.measured / self.wall_s if self.wall_s else 0.0
        share = self.inside_windows_s / self.wall_s if self.wall_s else 0.0
        out = [f"run {self.stopped}: {self.rows_written} rows written ({self.measured} measured, "
               f"{self.skipped} skipped, {self.failed} failed; {self.already_done} already in the "
               f"dataset) in {self.wall_s:.0f} s",
               f"  {per_h:.0f} configurations/hour, {100 * share:.0f} % of wall time inside "
               f"measurement windows",
               f"  energy from {self.method}"]
        if self.faults_per_call:
            faulting = sum(1 for f in self.faults_per_call if f >= 1)
            out.append(f"  allocator {self.allocator}: {faulting} of {len(self.faults_per_call)} "
                       f"measurements took page faults (median "
                       f"{statistics.median(self.faults_per_call):,.0f} per call)")
        if self.faulted:
            out.append(f"  {self.faulted} measurements faulted (page faults over "
                       f"{100 * MAX_FAULT_SHARE:g} % of their call): fit leaves them out; "
                       f"generate --redo-faulted measures them again")
        if self.peak_resident_bytes:
            out.append(f"  peak resident memory {self.peak_resident_bytes / 1e9:.1f} GB; free heap "
                       f"handed back before {self.heap_releases} measurements "
                       f"(measurement/allocator.py)")
        for k, v in self.median_cv.items():
            out.append(f"  median repeat CV {k:<18} {100 * v:5.2f} %  "
                       f"(n={len(self.cv_by_type[k])})")
        if self.whole_measurements:
            drift = [abs(d) for d in self.bracket_drift if d == d]
            out.append(f"  whole networks: {len(self.whole_measurements)}, median "
                       f"{statistics.median(self.whole_measurements):.0f} measurements each; "
                       f"first vs last measurement |drift| "
                       f"{100 * statistics.fmean(drift) if drift else float('nan'):.1f} % "
                       f"mean")
        if self.drift is not None:
            p90, full = self.drift
            out.append(f"  reference drift over the run: {100 * p90:.1f} % (5th-95th "
                       f"percentile) and {100 * full:.1f} % (max-min) of the median over "
                       f"{len(self.reference_j)} readings, after {self.settle_s:.0f} s settling")
        if len(self.probe_s) >= 2:
            med = statistics.median(self.probe_s)
            q = statistics.quantiles(self.probe_s, n=20, method="inclusive")
            steps = [abs(b / a - 1) for a, b in zip(self.probe_s, self.probe_s[1:])]
            out.append(f"  speed probe: {len(self.probe_s)} readings, median "
                       f"{1e3 * med:.2f} ms per call, {100 * (q[-1] - q[0]) / med:.1f} % "
                       f"(5th-95th percentile); consecutive readings "
                       f"{100 * statistics.fmean(steps):.1f} % apart (mean)")
        for name, why in self.bad_shards:
            out.append(f"  skipped unreadable shard {name}: {why}")
        return out
