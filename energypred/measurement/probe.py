"""The machine's speed next to each measurement: the reference convolution timed for a moment.

On the project's VMs the machine's speed moves by several percent over tens of seconds, and
CodeCarbon's estimate here is power × time at a nearly constant power, so a measurement's
energy moves with it. The reference workload measured once a minute is too far away to follow
that; a probe right before and right after each measurement is not (``scripts/speed_probe.py``,
Zen 4 VM, 1 s windows: whole networks' spread over five minutes went from 6.3-8.2 % to
4.0-4.7 % CV when each was divided by the 0.3 s probes on either side; a probe ten steps stale
made it worse)::

    probe ─ measurement i ─ probe ─ measurement i+1 ─ probe ...   (perf_counter, no meter)
    probe_s_per_call of measurement i = mean of the probes on either side of it
    drift factor (drift.py)           = footing's median probe / probe_s_per_call

Consecutive measurements share the probe between them, so a run spends ``seconds`` per
measurement on probes.

**Off by default (``generate --probe-s 0``), because in a real run it did not pay for its
time.** The seventh run of ``datasets/zen4-2c-padded`` (75 min, ``--probe-s 0.3``) measured
1,609 configurations/hour against 1,925-1,978 without it (77 % of wall time inside windows
against 88-92 %), and dividing its rows by their probes made its 48 whole networks no better
predicted, held out, and their additivity no better (``scripts/probe_effect.py``; numbers in
``drift.py``): whole and leaves differ by amounts that do not follow the probe (correlation
0.01 at inference), although the reference rows of that run follow theirs (0.71). The column
is kept in those rows for whoever tries again (``drift.corrected(df, probe=True)``).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import torch

from energypred.measurement import workloads as wl
from energypred.measurement.protocol import Measurement

#: a probe taken less than this long before a measurement starts counts as its "before" probe
REUSE_S = 1.0


def per_call_s(step: Callable[[], object], seconds: float) -> float:
    """Mean s per call of ``step`` over whole calls filling about ``seconds`` (at least one)."""
    calls, t0 = 0, time.perf_counter()
    while True:
        step()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return elapsed / calls


class SpeedProbe:
    """Times the reference convolution (``workloads.REFERENCE``) at inference for ``seconds``.

    Args:
        seconds: length of one probe, s (0.3 s: consecutive probes agree to 4.6 % on the Zen 4
            VM, against 7.1 % at 0.1 s).
    """

    def __init__(self, seconds: float = 0.3) -> None:
        if seconds <= 0:
            raise ValueError("a speed probe needs seconds > 0")
        self.seconds = seconds
        self._conv = wl.build_layer(wl.REFERENCE).eval()
        self._x = torch.empty(wl.REFERENCE.input_shape).uniform_(-1.0, 1.0)
        self._last: tuple[float, float] | None = None  # (monotonic time, s per call)
        self.readings_s: list[float] = []
        self.read()  # warm-up: oneDNN primitives, caches

    def read(self) -> float:
        """Time the reference for about ``seconds``; returns its mean s per call."""
        with torch.no_grad():
            per_call = per_call_s(lambda: self._conv(self._x), self.seconds)
        self._last = (time.monotonic(), per_call)
        self.readings_s.append(per_call)
        return per_call

    def around(self, run: Callable[[], Measurement]) -> Measurement:
        """Run a measurement between two probes; returns it with ``probe_s_per_call`` set to
        the mean of the probe before (the last one, if under :data:`REUSE_S` old) and after."""
        if self._last is not None and time.monotonic() - self._last[0] < REUSE_S:
            before = self._last[1]
        else:
            before = self.read()
        m = run()
        after = self.read()
        return dataclasses.replace(m, probe_s_per_call=(before + after) / 2)

