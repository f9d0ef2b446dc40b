"""The faulted-measurement rule: by the faults' cost against the call's time, under ``padded``.

Every expected share is derived by hand in a comment (faults × 3.1 µs / seconds per call).
"""

from __future__ import annotations

import pandas as pd
import pytest

from energypred.dataset import done_keys
from energypred.evaluation import as_fitted
from energypred.faulted import (FAULT_S, MAX_FAULT_SHARE, FaultRule, as_fitted_rows,
                                fault_share, faulted, unsettled, without_faulted)


def _row(faults: float, seconds: float, **kw: object) -> dict[str, object]:
    return {"allocator": "padded", "status": "ok", "row_kind": "layer",
            "minor_faults_per_call": faults, "duration_s": seconds, "phase": "inference", **kw}


def _rows() -> pd.DataFrame:
    return pd.DataFrame([
        # 0: 100,000 faults in a 1 s call: 0.31 s / 1 s = 31 %: faulted
        _row(1e5, 1.0, config_hash="a"),
        # 1: 6,000 faults in 0.5 s (a full-size training whole): 18.6 ms / 0.5 s = 3.72 %: faulted
        _row(6000, 0.5, config_hash="b", row_kind="architecture"),
        # 2: 2,105 faults in 11.9 s: 6.5 ms / 11.9 s = 0.055 %: kept, whatever the count
        _row(2105, 11.9, config_hash="c", row_kind="architecture"),
        # 3: 3,000 faults in 0.465 s: 9.3 ms / 0.465 s = exactly 2 %, not over it: kept
        _row(3000, 0.465, config_hash="d"),
        # 4: no faults: kept
        _row(0.0, 0.01, config_hash="e"),
        # 5: the system allocator faults by design (31 % as row 0): kept
        _row(1e5, 1.0, config_hash="f", allocator="system"),
        # 6: a failed row has nothing to leave out
        _row(1e5, 1.0, config_hash="g", status="failed"),
        # 7: no duration recorded (NaN): nothing to weigh the faults against: kept
        _row(1e5, float("nan"), config_hash="h"),
        # 8: 40 faults in a 5 ms call: 124 µs / 5 ms = 2.48 %: faulted (few, but costly)
        _row(40, 0.005, config_hash="i"),
    ])


def test_share_is_the_faults_cost_against_the_call() -> None:
    share = fault_share(_rows())
    assert share[0] == pytest.approx(0.31)
    assert share[1] == pytest.approx(0.0372)
    assert share[2] == pytest.approx(2105 * 3.1e-6 / 11.9)
    assert share[3] == pytest.approx(0.02)
    assert share[8] == pytest.approx(0.0248)
    assert pd.isna(share[7])
    assert FAULT_S == 3.1e-6 and MAX_FAULT_SHARE == 0.02


def test_faulted_rows_are_padded_ok_and_over_the_share() -> None:
    assert list(faulted(_rows())) == [True, True, False, False, False, False, False, False,
                                      True]
    # a laxer rule (5 % of the call) keeps the 3.72 % and 2.48 % rows
    assert _flagged(FaultRule(max_share=0.05)) == [0]
    # faults at 1 µs each: row 0 at 10 %, row 1 at 1.2 %, row 8 at 0.8 %
    assert _flagged(FaultRule(fault_s=1e-6)) == [0]


def _flagged(rule: FaultRule) -> list[int]:
    mask = faulted(_rows(), rule)
    return list(mask.index[mask])


def test_left_out_and_said_so() -> None:
    kept, note = without_faulted(_rows())
    assert list(kept.index) == [2, 3, 4, 5, 6, 7]
    # the median of 100,000, 6,000 and 40 faults per call: 6,000
    assert note is not None
    assert note.startswith("left out 3 measurements (1 of them whole networks)")
    assert note.endswith("over 2 % of their call at 3.1 µs each: median 6,000 page faults per "
                         "call; generate --redo-faulted measures them again")
    again, none = without_faulted(kept)
    assert none is None and again is kept
    clean, none = without_faulted(_rows().iloc[2:6])
    assert none is None and len(clean) == 4
    assert not faulted(pd.DataFrame()).any()


def test_a_resume_measures_a_faulted_configuration_again_once() -> None:
    rows = _rows()
    # the faulted configurations a, b and i are not done; the failed g is not either
    assert done_keys(rows) == {(h, "inference") for h in "cdefh"}
    # measured again, a came out clean and b faulted a second time: both are settled now
    again = pd.concat([rows, pd.DataFrame([_row(0.0, 1.0, config_hash="a"),
                                           _row(6000, 0.5, config_hash="b")])],
                      ignore_index=True)
    assert done_keys(again) == {(h, "inference") for h in "abcdefh"}
    # b's faulted rows count as tried twice; a's faulted row is still unsettled by itself (a
    # is done by its clean row), and i's; every faulted row stays out of fits all the same
    assert list(unsettled(again).index[unsettled(again)]) == [0, 8]
    assert faulted(again).sum() == 4


def test_evaluation_replays_the_rule_the_fit_recorded() -> None:
    rows = _rows()
    kept, notes = as_fitted(rows, {"left_out_faulted": {"rows": 3, "fault_s": 3.1e-6,
                                                         "max_share": 0.02}})
    assert list(kept.index) == [2, 3, 4, 5, 6, 7]
    assert notes[0].startswith("left out 3 measurements")
    # recorded with a laxer share, it is replayed with that share (only row 0 out)
    kept, _ = as_fitted_rows(rows, {"left_out_faulted": {"rows": 1, "max_share": 0.05}})
    assert 0 not in kept.index and len(kept) == 8
    # a predictor fitted before any rule is evaluated on every row
    kept, notes = as_fitted(rows, {})
    assert len(kept) == 9 and notes == []
