"""The whole network measured around and between its leaves (bracket.py), with no meter."""

from __future__ import annotations

import pytest

from energypred.bracket import BRACKETED, INTERLEAVED, WholeNetwork
from energypred.errors import MeasurementError
from energypred.measurement.protocol import Measurement


def _m(e: float) -> Measurement:
    # three windows of e J per call each, 10 calls per window of 0.1 s
    return Measurement(e, 0.2 * e, 0.8 * e, 0.0, 0.01, [e] * 3, [0.01] * 3, 0.0, 10, 3, 0.1,
                       0.02, 8.0, 28.0)


def _counter(energies: list[float]) -> WholeNetwork:
    left = iter(energies)
    return WholeNetwork(lambda: _m(next(left)), every_s=0)


def test_between_measures_only_when_due_and_close_pools_every_measurement() -> None:
    never = _counter([1.0, 2.0])
    never.measure()
    assert not never.between() and never.protocol == BRACKETED
    c = never.close()
    # 1.0 J x 3 windows and 2.0 J x 3 windows -> 1.5 J; last / first - 1 = 1.0
    assert c.energy_j == pytest.approx(1.5) and c.repeats == 6
    assert never.columns() == {"whole_measurements": 2, "bracket_drift": pytest.approx(1.0)}

    always = _counter([1.0, 1.0, 4.0, 2.0])
    always.every_s = 1e-12  # every call of between() is due
    assert not always.between()  # nothing measured yet: the first measurement is not "between"
    always.measure()
    assert always.between() and always.between() and always.protocol == INTERLEAVED
    c = always.close()
    # (1 + 1 + 4 + 2) / 4 = 2.0 J over 12 windows; drift 2.0 / 1.0 - 1 = 1.0
    assert c.energy_j == pytest.approx(2.0) and len(c.energy_j_repeats) == 12
    assert always.columns()["whole_measurements"] == 4

    late = _counter([1.0, 1.0])
    late.every_s = 1e9
    late.measure()
    assert not late.between() and late.close().repeats == 6


class _Clock:
    """A fake monotonic clock (s) that a measurement advances by its own duration."""

    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


def test_a_long_whole_measurement_waits_for_as_long_again_of_leaves_at_half_share() -> None:
    clock = _Clock()
    took = iter([60.0, 60.0, 2.0, 2.0])  # s per whole measurement

    def once() -> Measurement:
        clock.now_s += next(took)
        return _m(1.0)

    w = WholeNetwork(once, every_s=4.0, max_share=0.5, clock=clock)
    w.measure()  # t = 0 -> 60 s
    # share 0.5: wait max(4, 60 x 0.5 / 0.5) = 60 s after it ended, not 4
    assert w.wait_s() == pytest.approx(60.0)
    clock.now_s += 30.0
    assert not w.between()  # 30 s of leaves: not yet
    clock.now_s += 30.0
    assert w.between()  # 60 s of leaves: due; t = 120 -> 180
    # 120 s measuring against 60 s of leaves so far; the next 2 s measurement then waits
    # max(4, 2) = 4 s: a short measurement is held back by every_s alone
    clock.now_s += 60.0
    assert w.between() and w.wait_s() == pytest.approx(4.0)
    clock.now_s += 3.9
    assert not w.between()
    clock.now_s += 0.1
    assert w.between()

    # max_share 1 is the old rule: every_s alone, however long the measurement took
    clock.now_s = 0.0
    took = iter([60.0])
    unlimited = WholeNetwork(once, every_s=4.0, clock=clock)
    unlimited.measure()
    assert unlimited.wait_s() == pytest.approx(4.0)
    # share 0.25: a 60 s measurement waits 60 x 0.75 / 0.25 = 180 s
    took = iter([60.0])
    quarter = WholeNetwork(once, every_s=4.0, max_share=0.25, clock=clock)
    quarter.measure()
    assert quarter.wait_s() == pytest.approx(180.0)
    with pytest.raises(ValueError, match="max_share"):
        WholeNetwork(once, 4.0, max_share=0.0)


def test_a_failed_measurement_between_the_leaves_fails_the_row() -> None:
    calls = iter([_m(1.0)])

    def once() -> Measurement:
        m = next(calls, None)
        if m is None:
            raise RuntimeError("out of memory")
        return m

    w = WholeNetwork(once, every_s=1e-12)
    w.measure()
    assert not w.between()  # the failure is kept ...
    with pytest.raises(RuntimeError, match="out of memory"):
        w.close()  # ... and raised where the row is written


def test_a_measurement_error_is_never_swallowed() -> None:
    state = {"n": 0}

    def once() -> Measurement:
        state["n"] += 1
        if state["n"] > 1:
            raise MeasurementError("the meter stopped")
        return _m(1.0)

    w = WholeNetwork(once, every_s=1e-12)
    w.measure()
    with pytest.raises(MeasurementError):
        w.between()


def test_close_without_a_first_measurement_is_refused() -> None:
    with pytest.raises(MeasurementError, match="not measured before"):
        _counter([1.0]).close()
