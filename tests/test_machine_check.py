"""The machine check: reference metadata from a dataset, the verdict, and the command."""

from __future__ import annotations

import pandas as pd
import pytest

from energypred.errors import ArtifactError
from energypred.machine_check import MachineCheck, check_machine, reference_metadata, \
    time_reference
from energypred.predictor import Predictor


def _check(here_s: float, predictor_s: float, sig_here: str = "family 25 model 17",
           sig_predictor: str | None = "family 25 model 17") -> MachineCheck:
    return MachineCheck(here_s=here_s, predictor_s=predictor_s, tolerance=0.25,
                        allocator="system", faults_per_call=0.0, cpu_signature_here=sig_here,
                        cpu_signature_predictor=sig_predictor, same_hardware_id=True)


def test_reference_metadata_is_the_median_of_the_reference_rows() -> None:
    df = pd.DataFrame({"row_kind": ["reference", "reference", "reference", "layer", "reference"],
                       "status": ["ok", "ok", "ok", "ok", "failed"],
                       "duration_s": [1e-3, 3e-3, 2e-3, 9.0, 7.0],
                       "energy_j": [0.03, 0.09, 0.06, 5.0, 4.0], "run_id": ["r"] * 5})
    meta = reference_metadata(df)
    assert meta is not None
    # ok reference rows only: median of 1, 2, 3 ms is 2 ms; of 30, 60, 90 mJ is 60 mJ
    assert meta["duration_s"] == pytest.approx(2e-3) and meta["energy_j"] == pytest.approx(0.06)
    assert meta["readings"] == 3 and meta["workload"]["layer_type"] == "conv2d"
    assert reference_metadata(df[df.row_kind == "layer"]) is None


def test_verdict_within_and_beyond_the_tolerance() -> None:
    same = _check(1.10e-3, 1.05e-3)  # 1.05x: same state
    assert same.ok and same.ratio == pytest.approx(1.10 / 1.05)
    assert same.lines()[-1].startswith("ok:")
    slow = _check(4.3e-3, 1.05e-3)  # the Zen 4 VM against the shipped data: 4.10x
    assert not slow.ok and "4.10x" in slow.lines()[-1] and "energypred generate" in slow.lines()[-1]
    fast = _check(0.5e-3, 1.05e-3)  # faster is another state too
    assert not fast.ok
    other_cpu = _check(1.05e-3, 1.05e-3, sig_here="family 25 model 1")
    assert not other_cpu.ok and "another CPU" in other_cpu.lines()[-1]
    unrecorded = _check(1.05e-3, 1.05e-3, sig_predictor=None)  # older data: time decides
    assert unrecorded.ok


def test_a_predictor_without_a_reference_timing_is_refused() -> None:
    with pytest.raises(ArtifactError, match="refit it"):
        check_machine(Predictor({}, metadata={"allocator": "system"}), seconds=0.05)


def test_time_reference_gives_a_positive_time_and_a_fault_count() -> None:
    per_call_s, faults = time_reference(seconds=0.05, batch_s=0.01)
    assert per_call_s > 0 and faults >= 0


def test_the_default_predictor_is_the_shipped_one_measured_on_this_cpu() -> None:
    from pathlib import Path

    from energypred.artifacts import choose_default, matches_machine

    here = {"hardware_id": "h", "cpu_signature": "family 25 model 17 stepping 1"}
    zen4 = (Path("zen4"), {"hardware": {"hardware_id": "h",
                                        "cpu_signature": "family 25 model 17 stepping 1"}})
    other_cpu = (Path("other"), {"hardware": {"hardware_id": "h",
                                              "cpu_signature": "family 23 model 49 stepping 0"}})
    unrecorded = (Path("old"), {"hardware": {"hardware_id": "h"}})
    other_box = (Path("box"), {"hardware": {"hardware_id": "x",
                                            "cpu_signature": "family 25 model 17 stepping 1"}})
    fallback = Path("fallback")
    assert choose_default([unrecorded, other_cpu, zen4], fallback, here)[0] == Path("zen4")
    # nothing recorded this CPU: the general default, and the reason says so
    path, why = choose_default([unrecorded, other_cpu, other_box], fallback, here)
    assert path == fallback and "general default" in why
    # a predictor that did not record a signature never matches, even on the same hardware id
    assert not matches_machine(unrecorded[1]["hardware"], here)
    assert not matches_machine(zen4[1]["hardware"], {"hardware_id": "h", "cpu_signature": None})


def test_every_shipped_predictor_loads_and_the_default_names_itself() -> None:
    from energypred.artifacts import load, load_default, shipped_paths

    paths = shipped_paths()
    assert len(paths) >= 2  # the general default and at least one machine-specific one
    for p in paths:
        assert load(p).models
    assert "(shipped; " in load_default().source
