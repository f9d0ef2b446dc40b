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
    """

    def __init__(self, measure_once: Callable[[], Measurement], every_s: float) -> None:
        self.measure_once = measure_once
        self.every_s = every_s
        self.parts: list[Measurement] = []
        self.error: RuntimeError | ValueError | MemoryError | None = None
        self._last_s = 0.0

    @property
    def protocol(self) -> str:
        """``interleaved`` when measurements between the leaves are planned, else
        ``bracketed``."""
        return INTERLEAVED if self.every_s > 0 else BRACKETED

    def measure(self) -> Measurement:
        """Measure the whole network now (the first measurement goes through the run's budget
        guard, which catches what it raises)."""
        m = self.measure_once()
        self.parts.append(m)
        self._last_s = time.monotonic()
        return m

    def between(self) -> bool:
        """Measure again if ``every_s`` have passed since the last measurement; returns whether
        it did. A failure is kept and raised by :meth:`close`, so the row says it failed."""
        if (self.every_s <= 0 or not self.parts or self.error is not None
                or time.monotonic() - self._last_s < self.every_s):
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
