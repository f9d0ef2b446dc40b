"""A generate run: plan -> resume filter -> budget guard -> measure -> Parquet shards.

One process measures at a time (a lock file per machine); the reference workload is measured
every ``reference_every_s`` so that drift is visible in the data; the run can be killed at any
moment and re-run with the same arguments to continue. This module plans and resumes; the
measuring and writing of each configuration is ``runner.Runner``'s.

An architecture variant is measured as a bracket, so that the whole network and its leaves
share one stretch of the machine's state (its speed drifts by several percent over minutes)::

    whole network ═[R windows]═┐
    leaf 0 (alone, on the shape it sees inside; training: no input gradient, its input is data)
    leaf 1 ... leaf L-1        │ (reference workload whenever it is due; the whole network
    leaves whose weights fit   │  again every ``whole_every_s``: bracket.py)
    the cache                  │ again, weights evicted before each call (copies called in
                               │ turn; measurement/in_network.py): the network's conditions
    whole network ═[R windows]═┴→ one row: mean of every window of the whole network,
                                  bracket_drift = last/first - 1

With ``--probe-s``, every measurement sits between two short timings of the reference
convolution (``measurement/probe.py``): the machine's speed right then, in
``probe_s_per_call``.

A run interrupted inside a bracket writes the leaves it finished; the whole network is measured
again, before and after the remaining leaves, when the run resumes.

Every call is measured with the allocator in one state for the whole run (``--allocator``,
default ``padded``: no page faults per call after warm-up; measurement/allocator.py), and the
page faults per call are stored with each row.

``--redo-faulted`` replaces the sampled plan by the dataset's own faulted measurements
(``faulted.py``: page faults that took over 2 % of a call under ``padded``), each measured
once more (``redo.py``).

A resumed run adds to the dataset only if the machine is the one it was measured on (same
``hardware_id``, and ``cpu_signature`` where the dataset recorded one), with the same allocator
state, and in the same machine state: its first reference reading must lie within
``max_reference_shift`` of the dataset's (``dataset.reference_median``). Measured on the
project's VMs: four runs of one dataset read 0.0294-0.0314 J per reference call; a later VM with
the same fingerprint read 0.0747 J (2.6 ms per call instead of 1.05) for a whole 50-minute run,
and another (``cpu_signature`` family 25 model 17, Zen 4) runs it in about 4 ms.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch

from energypred import dataset, sampling
from energypred.errors import ConfigError, MeasurementError
from energypred.hardware import fingerprint
from energypred.measurement import Meter
from energypred.measurement.allocator import PADDED, configure, peak_resident_bytes
from energypred.measurement.in_network import arch_leaves
from energypred.measurement import workloads as wl
from energypred.redo import redo_plan
from energypred.runner import Runner
from energypred.summary import RunSummary

log = logging.getLogger(__name__)


@dataclass
class GenerateOptions:
    """Arguments of a run (see ``energypred generate --help``); times in s, memory in bytes."""

    out: Path
    layers: list[str]
    architectures: list[str]
    samplers: list[str] = field(default_factory=lambda: ["realistic"])
    phases: list[str] = field(default_factory=lambda: ["inference"])
    samples: int = 100
    arch_samples: int = 0
    seed: int = 0
    #: batch sizes, resolutions and widths architecture variants draw from
    arch_space: sampling.ArchSpace = field(default_factory=sampling.ArchSpace)
    shard: tuple[int, int] = (0, 1)
    window_s: float = 0.5
    repeats: int = 3
    max_time_s: float | None = None
    max_memory_bytes: int | None = None
    max_call_s: float = 2.0
    reference_every_s: float = 60.0
    threads: int | None = None
    progress: bool = True
    flush_rows: int = 64
    settle_s: float = 120.0
    evicted_leaves: bool = True
    #: measure a whole network again between its leaves this often (bracket.py; 0: only
    #: before and after them). 4 s: a median 14 measurements, standard error 1.3 %, against 5
    #: and 2.0-3.8 % at 15 s, at 1,563-1,597 configurations/hour against 1,886-1,997
    #: (bracket.py)
    whole_every_s: float = 4.0
    #: largest share of a bracket's time its whole network's measurements take (bracket.py):
    #: at full size and batch 128-256 one measurement takes minutes
    whole_max_share: float = 0.5
    #: refuse to resume when the reference reading is off the dataset's by more (0: no check)
    max_reference_shift: float = 0.25
    #: allocator state to measure in (measurement/allocator.py): padded | system
    allocator: str = PADDED
    #: time the reference convolution this long between measurements (measurement/probe.py;
    #: 0, the default: no probe, it did not pay for its time)
    probe_s: float = 0.0
    #: measure again the dataset's faulted rows instead of a sampled plan (redo.py)
    redo_faulted: bool = False


@contextmanager
def machine_lock() -> Iterator[None]:
    """Never run two measurements at once on one machine."""
    path = Path(tempfile.gettempdir()) / "energypred-measure.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MeasurementError(f"another energypred process is measuring on this machine "
                                   f"(lock {path}); wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)



def generate(opts: GenerateOptions, meter: Meter | None = None) -> RunSummary:
    """Run (or resume) a generate job; returns its summary. Energies in J, times in s."""
    from energypred.measurement import CodeCarbonMeter

    t_start = time.monotonic()
    existing = dataset.read_dataset(opts.out) if opts.out.is_dir() else None
    if opts.redo_faulted:
        if existing is None or existing.empty:
            raise ConfigError(f"--redo-faulted: {opts.out} holds no dataset to measure again")
        plan = redo_plan(existing)
    else:
        plan = sampling.build_plan(opts.layers, opts.architectures, opts.samplers, opts.phases,
                                   opts.samples, opts.arch_samples, opts.seed,
                                   opts.arch_space)
    tasks = sampling.shard(plan, *opts.shard)
    if existing is not None:
        here = fingerprint()
        dataset.check_same_machine(existing, here["hardware_id"], here["cpu_model"],
                                   where=str(opts.out))
        dataset.check_same_conditions(existing, opts.allocator, here.get("cpu_signature"),
                                      where=str(opts.out))
    configure(opts.allocator)  # before anything is allocated for measuring
    done = dataset.done_keys(existing) if existing is not None else set()
    summary = RunSummary(planned=len(tasks))
    if existing is not None:
        summary.bad_shards = list(existing.attrs.get("bad_shards", []))
    todo = [t for t in tasks if not _task_done(t, done)]
    summary.already_done = len(tasks) - len(todo)
    torch.set_num_threads(opts.threads or os.cpu_count() or 1)
    run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    writer = dataset.ShardWriter(opts.out, prefix=f"s{opts.shard[0]}of{opts.shard[1]}-{run_id}",
                                 flush_rows=opts.flush_rows)
    with machine_lock():
        runner = Runner(opts, meter or CodeCarbonMeter(), writer, summary)
        try:
            runner.baseline(dataset.reference_median(existing))
            _loop(runner, todo, done, opts, t_start, summary)
        except KeyboardInterrupt:
            summary.stopped = "interrupted"
        finally:
            writer.close()
            summary.rows_written = writer.rows_written
            summary.wall_s = time.monotonic() - t_start
            summary.peak_resident_bytes = peak_resident_bytes()
    return summary


def _loop(runner: Runner, todo: list[sampling.Task], done: set[tuple[str, str]],
          opts: GenerateOptions, t_start: float, summary: RunSummary) -> None:
    from tqdm import tqdm

    bar = tqdm(todo, desc="measuring", unit="cfg", disable=not opts.progress, file=sys.stderr,
               mininterval=0.5 if sys.stderr.isatty() else 30.0, dynamic_ncols=True)
    for task in bar:
        if opts.max_time_s is not None and time.monotonic() - t_start > opts.max_time_s:
            summary.stopped = "stopped at --max-time"
            break
        bar.set_postfix_str(task.name, refresh=False)
        runner.reference()
        if task.layer is not None:
            runner.run_layer(task.layer, task.phase, task.sampler, task.index)
        elif task.arch is not None:
            runner.run_arch(task.arch, task.phase, task.index, done)
    bar.close()


def _task_done(task: sampling.Task, done: set[tuple[str, str]]) -> bool:
    """Whether a task left nothing to measure (evicted-weight leaves are measured only inside
    the bracket of their whole network, so a measured whole has all it will get)."""
    if task.layer is not None:
        return (task.layer.config_hash(), task.phase) in done
    assert task.arch is not None
    if (task.arch.config_hash(), task.phase) not in done:
        return False
    leaves = arch_leaves(task.arch, wl.trace_arch(task.arch), task.phase)
    return all((leaf.config_hash(), task.phase) in done for leaf in leaves)
