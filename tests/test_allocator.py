"""Allocator state: page faults counted per call, ``padded`` removes them, no silent switching.

Page-fault counts are deterministic properties of the allocator and the kernel, not timings.
"""

from __future__ import annotations

import mmap
import platform
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, TINY, run_cli

from energypred.dataset import (allocators, check_same_conditions, one_allocator, read_dataset,
                                shard_paths)
from energypred.errors import ConfigError, DatasetError
from energypred.faulted import trimmed_heap, without_trimmed_heap
from energypred.measurement import FakeMeter, measure
from energypred.measurement.allocator import configure, describe

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="allocator states are glibc malloc settings")

# 40 MiB tensors: above glibc's largest dynamic mmap threshold (32 MiB), so the system allocator
# maps fresh pages for every one of them: 40 MiB / 4 KiB = 10,240 faults per tensor.
_FAULTS_OF = """
import sys, torch
from energypred.measurement.allocator import configure, minor_faults
configure(sys.argv[1])
for _ in range(3):
    torch.ones(10 * 2**20)
f0 = minor_faults()
for _ in range(5):
    torch.ones(10 * 2**20)
print((minor_faults() - f0) / 5)
"""


def _faults_per_tensor(name: str) -> float:
    out = subprocess.run([sys.executable, "-c", _FAULTS_OF, name], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip())


@glibc
def test_padded_allocator_takes_no_page_faults_where_the_system_one_does() -> None:
    system, padded = _faults_per_tensor("system"), _faults_per_tensor("padded")
    assert system > 0  # 10,240 with 4 KiB pages; fewer where THP is "always"
    assert padded < 0.01 * system  # the same pages again, still mapped


# 2.25 GiB malloc'd and freed, never touched (so no memory is used): with a trim threshold
# below it (glibc's int maximum, 2 GiB - 1, before 2026-12-07) free() hands it back and the heap's
# end (sbrk(0)) returns to where it was; with padded's "never", the heap keeps it.
_HEAP_KEPT = """
import ctypes, sys
from energypred.measurement.allocator import configure
configure('padded')
libc = ctypes.CDLL(None)
libc.sbrk.restype = libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes, libc.free.argtypes = [ctypes.c_size_t], [ctypes.c_void_p]
libc.sbrk.argtypes = [ctypes.c_ssize_t]
start = libc.sbrk(0)
block = libc.malloc(9 * 2**28)
assert block, "malloc refused 2.25 GiB"
libc.free(block)
print(libc.sbrk(0) - start)
"""


@glibc
def test_padded_allocator_keeps_gigabytes_freed_at_the_top_of_its_heap() -> None:
    out = subprocess.run([sys.executable, "-c", _HEAP_KEPT], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert int(out.stdout.strip()) >= 9 * 2**28


# 256 MiB malloc'd from the heap (padded maps no block of its own), touched, and freed with a
# 1 MiB block after it, so it is a hole inside the heap, not its top: padded keeps its 65,536
# pages resident; release() (malloc_trim(0)) returns them. Under system it does nothing.
_RELEASED = """
import ctypes, os, sys
from energypred.measurement.allocator import configure, release
configure(sys.argv[1])
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes, libc.free.argtypes = [ctypes.c_size_t], [ctypes.c_void_p]
rss = lambda: int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
before = rss()
block, after_it = libc.malloc(2**28), libc.malloc(2**20)
assert block and after_it, "malloc refused 257 MiB"
ctypes.memset(block, 1, 2**28)
libc.free(block)
kept = rss()
print(kept - before, int(release(above_bytes=2**40)), int(release()), kept - rss())
"""


def _release(name: str) -> tuple[int, int, int, int]:
    out = subprocess.run([sys.executable, "-c", _RELEASED, name], capture_output=True,
                         text=True, check=True, cwd=ROOT)
    kept, below, released, returned = (int(v) for v in out.stdout.split())
    return kept, below, released, returned


@glibc
def test_release_returns_what_a_padded_heap_keeps_between_measurements() -> None:
    kept, below, released, returned = _release("padded")
    assert kept >= 2**28 - 2**24  # the freed 256 MiB still resident
    assert below == 0  # under 1 TiB resident: left alone
    assert released == 1 and returned >= 2**28 - 2**24  # handed back by release()
    _, below, released, _ = _release("system")
    assert below == released == 0  # the system state is glibc's own business


def test_a_run_releases_its_heap_above_a_share_of_the_machine_memory() -> None:
    import psutil

    from energypred.measurement.allocator import RELEASE_ABOVE_SHARE, release_above_bytes

    assert 0 < RELEASE_ABOVE_SHARE < 1
    assert release_above_bytes() == int(RELEASE_ABOVE_SHARE * psutil.virtual_memory().total)


def test_every_measurement_of_a_run_may_start_with_the_heap_released(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from energypred import runner
    from energypred.generate import GenerateOptions, generate

    calls: list[str] = []
    measure_once = runner.Runner._measure
    monkeypatch.setattr(runner, "release",
                        lambda above: calls.append(f"release above {above}") or True)
    monkeypatch.setattr(runner, "release_above_bytes", lambda: 123)
    monkeypatch.setattr(runner.Runner, "_measure",
                        lambda self, *a, **kw: (calls.append("measure"),
                                                measure_once(self, *a, **kw))[1])
    opts = GenerateOptions(out=tmp_path / "ds", layers=["relu"], architectures=[], samples=2,
                           window_s=0.01, repeats=2, max_call_s=5.0, settle_s=0.1,
                           progress=False, max_reference_shift=0)
    summary = generate(opts, FakeMeter())
    assert summary.measured == 2 and summary.failed == 0
    # the reference reading, then the two layers: each measurement released first, above the
    # machine's share (monkeypatched), and the summary counts the releases
    assert calls == ["measure", "release above 123"] * 3
    assert summary.heap_releases == 3
    # the summary says how much memory the run held at most (more than torch alone: 100 MB)
    assert summary.peak_resident_bytes > 10**8
    assert any(line.startswith("  peak resident memory ") for line in summary.lines())


@glibc
def test_a_process_never_switches_allocator_state() -> None:
    code = ("from energypred.measurement.allocator import configure\n"
            "configure('padded'); configure('padded'); configure('system')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode != 0 and "cannot switch to system" in res.stderr


def test_unknown_allocator_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown allocator 'jemalloc'"):
        configure("jemalloc")
    assert "MALLOC_MMAP_MAX_=0 MKL_DISABLE_FAST_MM=1" in describe("padded")


def test_measure_counts_page_faults_per_call() -> None:
    def step() -> None:  # 1 MiB of fresh anonymous pages, bypassing malloc: 256 faults
        with mmap.mmap(-1, 1 << 20) as m:
            for off in range(0, 1 << 20, 4096):
                m[off] = 1

    m = measure(step, FakeMeter(), window_s=0.02, repeats=2)
    assert 256 <= m.minor_faults_per_call < 300


def _rows(**kw: object) -> pd.DataFrame:
    return pd.DataFrame([{"allocator": "padded", "cpu_signature": "family 25 model 17",
                          **kw}])


def test_datasets_in_two_allocator_states_are_refused() -> None:
    mixed = pd.concat([_rows(), _rows(allocator="system")])
    assert allocators(mixed) == ["padded", "system"]
    with pytest.raises(DatasetError, match="mixes allocator states padded, system"):
        one_allocator(mixed)
    assert one_allocator(_rows()) == "padded"
    check_same_conditions(_rows(), "padded", "family 25 model 17")  # same: accepted
    check_same_conditions(_rows(cpu_signature=None), "padded", "family 26 model 2")
    with pytest.raises(DatasetError, match="--allocator padded"):
        check_same_conditions(_rows(), "system", "family 25 model 17")
    with pytest.raises(DatasetError, match="same model name, another CPU"):
        check_same_conditions(_rows(), "padded", "family 26 model 2")


def test_resume_with_another_allocator_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    base = ["generate", "--out", str(out), "--layers", "relu", "--samples", "1", *TINY]
    first = run_cli(*base)
    assert first.returncode == 0, first.stderr
    # the command restarted itself with MKL's memory manager off, and the summary says so
    assert "allocator padded (MKL memory manager off): " in first.stdout
    df = read_dataset(out)
    assert set(df["allocator"]) == {"padded"} and df["minor_faults_per_call"].notna().any()
    before = len(df)
    res = run_cli(*base, "--samples", "2", "--allocator", "system")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "was measured with --allocator padded" in lines[0]
    assert len(read_dataset(out)) == before
    assert all(pq.read_schema(s).get_field_index("allocator") >= 0 for s in shard_paths(out))


def _trim_rows() -> pd.DataFrame:
    before, after = pd.Timestamp("2026-12-07T10:01Z"), pd.Timestamp("2026-12-07T11:00Z")
    gib = 2**30
    rows = pd.concat([
        # 0: padded, before the fix, a call needing 3 GiB that faulted: left out
        _rows(timestamp=before, est_memory_bytes=3 * gib, minor_faults_per_call=2.5e6,
              status="ok", row_kind="architecture"),
        # 1: the same, measured after padded stopped trimming: kept
        _rows(timestamp=after, est_memory_bytes=3 * gib, minor_faults_per_call=1e5,
              status="ok", row_kind="architecture"),
        # 2: before, but under 2 GiB (the trim could not happen): kept
        _rows(timestamp=before, est_memory_bytes=gib, minor_faults_per_call=50.0, status="ok",
              row_kind="layer"),
        # 3: before, over 2 GiB, no fault: kept
        _rows(timestamp=before, est_memory_bytes=3 * gib, minor_faults_per_call=0.0,
              status="ok", row_kind="layer"),
        # 4: the system allocator faults by design: kept
        _rows(allocator="system", timestamp=before, est_memory_bytes=3 * gib,
              minor_faults_per_call=9e5, status="ok", row_kind="layer"),
        # 5: a faulted leaf of row 0's network: left out
        _rows(timestamp=before, est_memory_bytes=4 * gib, minor_faults_per_call=7e5,
              status="ok", row_kind="arch_layer"),
        # 6: before, over 2 GiB, but 3 faults per call, not the thousands a trim costs: kept
        _rows(timestamp=before, est_memory_bytes=3 * gib, minor_faults_per_call=3.0,
              status="ok", row_kind="layer"),
        # 7: while padded released its heap before every measurement (14:27-14:50): left out
        _rows(timestamp=pd.Timestamp("2026-12-07T14:40Z"), est_memory_bytes=7 * gib,
              minor_faults_per_call=4e5, status="ok", row_kind="architecture"),
        # 8: the same call after that hour: kept
        _rows(timestamp=pd.Timestamp("2026-12-07T14:50Z"), est_memory_bytes=7 * gib,
              minor_faults_per_call=4e5, status="ok", row_kind="architecture"),
        # 9: in that hour a call under 2 GiB met fresh pages too (the run held the memory): out
        _rows(timestamp=pd.Timestamp("2026-12-07T14:40Z"), est_memory_bytes=gib,
              minor_faults_per_call=5e4, status="ok", row_kind="arch_layer"),
        # 10: in that hour, 2 faults per call: kept
        _rows(timestamp=pd.Timestamp("2026-12-07T14:40Z"), est_memory_bytes=gib,
              minor_faults_per_call=2.0, status="ok", row_kind="arch_layer"),
    ], ignore_index=True)
    return rows


def test_measurements_from_a_trimmed_heap_are_left_out_and_said_so() -> None:
    rows = _trim_rows()
    assert list(trimmed_heap(rows)) == [True, False, False, False, False, True, False, True,
                                        False, True, False]
    kept, note = without_trimmed_heap(rows)
    assert list(kept.index) == [1, 2, 3, 4, 6, 8, 10]
    # median of 2.5 M, 0.7 M, 0.4 M and 50,000 faults per call: 550,000
    assert note is not None
    assert note.startswith("left out 4 measurements (2 of them whole networks)")
    assert "550,000 page faults" in note and "re-measure" in note
    again, none = without_trimmed_heap(kept)
    assert none is None and again is kept


def test_evaluation_leaves_them_out_only_where_the_fit_did() -> None:
    from energypred.evaluation import as_fitted

    kept, notes = as_fitted(_trim_rows(), {"left_out_trimmed_heap": 4})
    assert list(kept.index) == [1, 2, 3, 4, 6, 8, 10]
    assert notes[0].startswith("left out 4 measurements")
    # a predictor fitted before the rule existed is evaluated on the rows it was fitted on
    kept, notes = as_fitted(_trim_rows(), {})
    assert len(kept) == 11 and notes == []
