"""A whole network measured around and between its leaves, so that its energy is averaged over
the same stretch of the machine's state as theirs::

    whole network ═[R windows]═┐
    leaf 0, leaf 1, ...        │  the whole network ═[R windows]═ again between two leaves
    ... leaf L-1               │  whenever ``every_s`` have passed since its last measurement
    whole network ═[R windows]═┴→ one row: mean of every window of every measurement;
                                  whole_measurements = their number (>= 2),
                                  bracket_drift = last / first - 1

Why (measured on the Zen 4 VM, ``datasets/zen4-2c-padded``, 155 whole networks measured only
before and after their leaves, 32-85 s apart): the two ends differed by 9.0 % mean abs, while
each end's own windows put the difference's standard error at a median 2.8 %; a third of the
brackets differed by more than three standard errors. The machine's speed moves on a scale of
tens of seconds, so two measurements of 1.5 s each sample it twice, and the reference workload
(once a minute) does not follow it (correlation 0.15 with the bracket's drift). Measuring the
whole network every ``every_s`` seconds samples it as often as the leaf measurements do.

How often (measured on the same VM, each whole network against its own measurements): every
15 s gave a median 5 measurements and a standard error of 2.0-3.8 % per run; every 8 s, 7.5 and
2.2 %; every 4 s, 14 and 1.3 % (88 % of the wholes within 2 %), at 1,563 configurations/hour
against 1,886-1,997 (87 % of wall time inside windows against 93 %), and that run's wholes were missed by 4.1 % (inference) and 3.8 %
(training) held out against 6.0 / 5.8 % over all runs. ``generate`` measures every 4 s.

``every_s = 0`` gives the former protocol: before and after only (``bracketed``).

Large networks (``max_share``): at full size and batch 128-256 one whole measurement takes
1-4 minutes (VGG16 at 224 px, batch 256: 49.9 s per call on the Xeon VM), so measuring it
every 4-20 s of leaf time spends nearly the whole run on it (the Xeon VM's twelfth run: 37-53
configurations/hour). A measurement between the leaves is therefore also held back until the
leaves have had ``(1 - max_share) / max_share`` times as long as the last whole measurement
took; at ``max_share = 0.5`` (``generate``'s default) the whole network gets at most about half
of the bracket's time. Measurements shorter than ``every_s``, every network at batch 1-16 in the
shipped runs, are not held back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from energypred.errors import MeasurementError
from energypred.measurement.protocol import Measurement, combine

#: ``arch_protocol`` of rows measured with (or without) measurements between the leaves
INTERLEAVED = "interleaved"
BRACKETED = "bracketed"


class WholeNetwork:
    """The measurements of one whole network in its bracket (module doc).

    Args:
        measure_once: measures the whole network once (R windows); J per call, s per call.
        every_s: least time between two measurements, s, before the last (0: none between).
        max_share: largest share of the bracket's time the whole network's measurements take
            (0 < max_share <= 1; 1: no limit beyond ``every_s``).
        clock: seconds from an arbitrary origin (``time.monotonic``; tests pass a fake).

    Raises:
        ValueError: ``max_share`` outside (0, 1].
    """

    def __init__(self, measure_once: Callable[[], Measurement], every_s: float,
                 max_share: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < max_share <= 1:
            raise ValueError(f"max_share must be in (0, 1], got {max_share}")
        self.measure_once = measure_once
        self.every_s = every_s
        self.max_share = max_share
        self.clock = clock
        self.parts: list[Measurement] = []
        self.error: RuntimeError | ValueError | MemoryError | None = None
        self._last_s = 0.0
        self._last_took_s = 0.0

    @property
    def protocol(self) -> str:
        """``interleaved`` when measurements between the leaves are planned, else
        ``bracketed``."""
        return INTERLEAVED if self.every_s > 0 else BRACKETED

    def measure(self) -> Measurement:
        """Measure the whole network now (the first measurement goes through the run's budget
        guard, which catches what it raises)."""
        start = self.clock()
        m = self.measure_once()
        self.parts.append(m)
        self._last_s = self.clock()
        self._last_took_s = self._last_s - start
        return m

    def wait_s(self) -> float:
        """Least time between the end of the last measurement and the next one between the
        leaves, s: ``every_s``, or longer where the last measurement took long
        (``max_share``, module doc)."""
        return max(self.every_s, self._last_took_s * (1 - self.max_share) / self.max_share)

    def between(self) -> bool:
        """Measure again if :meth:`wait_s` have passed since the last measurement; returns whether
        it did. A failure is kept and raised by :meth:`close`, so the row says it failed."""
        if (self.every_s <= 0 or not self.parts or self.error is not None
                or self.clock() - self._last_s < self.wait_s()):
            return False
        try:
            self.measure()
        except MeasurementError:
            raise
        except (RuntimeError, ValueError, MemoryError) as err:
            self.error = err
            return False
        return True

    def close(self) -> Measurement:
        """The last measurement, then every one pooled into one (J per call, s per call).

        Raises:
            The error of a measurement between the leaves, if one failed.
        """
        if self.error is not None:
            raise self.error
        if not self.parts:
            raise MeasurementError("the whole network was not measured before its leaves")
        self.measure()
        return combine(*self.parts)

    def columns(self) -> dict[str, Any]:
        """Columns of the row that describe the bracket (fractions and counts)."""
        first, last = self.parts[0].energy_j, self.parts[-1].energy_j
        return {"whole_measurements": len(self.parts),
                "bracket_drift": last / first - 1 if first > 0 else float("nan")}
