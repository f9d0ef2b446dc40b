"""The Parquet store: a dataset is a directory of shards, each written atomically.

Writing: rows are buffered and flushed as a new shard file every ``flush_rows`` rows or
``flush_s`` seconds (temporary file + fsync + rename), so a kill at any moment leaves only whole
shards behind and loses at most the unflushed rows, which resume measures again.

Reading: :func:`read_dataset` returns every row as one DataFrame; a truncated or unreadable
shard is reported by name (``logging`` warning and ``df.attrs["bad_shards"]``) and skipped.
"""

from __future__ import annotations

import json

import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from energypred.errors import DatasetError
from energypred.faulted import unsettled
from energypred.schema import (ARROW_SCHEMA, EVICTED_LEAF, READABLE_VERSIONS, SCHEMA_VERSION,
                               SYSTEM_ALLOCATOR, to_table)

log = logging.getLogger(__name__)

SHARD_GLOB = "part-*.parquet"


class ShardWriter:
    """Buffers rows and writes them as atomic Parquet shards into ``directory``."""

    def __init__(self, directory: str | Path, prefix: str, flush_rows: int = 64,
                 flush_s: float = 30.0) -> None:
        self.directory = Path(directory)
        self.prefix = prefix
        self.flush_rows = flush_rows
        self.flush_s = flush_s
        self._rows: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        self._seq = 0
        self.rows_written = 0
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DatasetError(f"cannot create dataset directory {self.directory}: {err}") from err

    def append(self, row: dict[str, Any]) -> None:
        """Add one row; flushes when the buffer is full or old enough."""
        self._rows.append(row)
        if (len(self._rows) >= self.flush_rows
                or time.monotonic() - self._last_flush >= self.flush_s):
            self.flush()

    def flush(self) -> Path | None:
        """Write the buffered rows as one new shard; returns its path (None if empty)."""
        if not self._rows:
            return None
        table = to_table(self._rows)
        name = f"part-{self.prefix}-{self._seq:05d}-{uuid.uuid4().hex[:6]}.parquet"
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        try:
            with open(tmp, "wb") as fh:
                pq.write_table(table, fh, compression="zstd")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except OSError as err:
            raise DatasetError(f"cannot write shard {final}: {err}") from err
        self.rows_written += len(self._rows)
        self._rows.clear()
        self._seq += 1
        self._last_flush = time.monotonic()
        return final

    def close(self) -> None:
        """Flush what is left."""
        self.flush()


def shard_paths(directory: str | Path) -> list[Path]:
    """The shard files of a dataset directory, sorted by name."""
    return sorted(Path(directory).glob(SHARD_GLOB))


def read_dataset(directory: str | Path, *, only_ok: bool = False) -> pd.DataFrame:
    """Read every shard of a dataset into one DataFrame (energies in J, times in s).

    Args:
        directory: the dataset directory.
        only_ok: keep only rows whose status is ``ok``.

    Returns:
        All rows; ``df.attrs["bad_shards"]`` lists ``(file name, reason)`` for shards skipped.

    Raises:
        DatasetError: the directory does not exist, or rows have another schema version.
    """
    path = Path(directory)
    if not path.is_dir():
        raise DatasetError(f"dataset directory {path} does not exist; "
                           f"create one with `energypred generate --out {path}`")
    frames, bad = [], []
    for shard in shard_paths(path):
        try:
            frames.append(pq.read_table(shard, schema=ARROW_SCHEMA).to_pandas())
        except Exception as err:  # noqa: BLE001 - pyarrow raises many types; each is reported
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            log.warning("skipping unreadable shard %s: %s", shard.name, reason)
            bad.append((shard.name, reason))
    if frames:
        df = pd.concat(frames, ignore_index=True)
    else:
        df = ARROW_SCHEMA.empty_table().to_pandas()
    versions = set(df["schema_version"].dropna().unique())
    if versions - READABLE_VERSIONS:
        raise DatasetError(f"{path} holds schema version(s) {sorted(versions)}, this energypred "
                           f"reads versions {sorted(READABLE_VERSIONS)}; regenerate the dataset "
                           f"or upgrade energypred")
    df = _upgrade(df)
    if only_ok:
        df = df[df["status"] == "ok"].reset_index(drop=True)
    df.attrs["bad_shards"] = bad
    return df


def _upgrade(df: pd.DataFrame) -> pd.DataFrame:
    """Fill the columns older rows lack with what their runs did.

    Version 1 measured every training layer with an input that requires grad, every whole
    network with one that does not, and each whole network once before its leaves. Versions 1
    and 2 measured with the C library's allocator as configured by default (``system``).
    Before version 4 a bracketed whole network pooled two measurements, any other one.
    """
    pre4 = df["schema_version"] < 4
    if not pre4.any():
        return df
    df = df.copy()
    old = df["schema_version"] == 1
    if old.any():
        layer_like = df["row_kind"].isin(["layer", "arch_layer", "reference"])
        grad = (df["phase"] == "training") & layer_like
        df["input_requires_grad"] = df["input_requires_grad"].astype(object)
        df.loc[old, "input_requires_grad"] = grad[old]
        df["input_requires_grad"] = df["input_requires_grad"].astype("boolean")
        df.loc[old & (df["row_kind"] == "architecture"), "arch_protocol"] = "whole_before_leaves"
    pre3 = df["schema_version"] < 3
    df.loc[pre3 & df["allocator"].isna(), "allocator"] = SYSTEM_ALLOCATOR
    whole = pre4 & (df["row_kind"] == "architecture") & df["whole_measurements"].isna()
    df["whole_measurements"] = df["whole_measurements"].astype("Int64")
    df.loc[whole, "whole_measurements"] = np.where(
        df.loc[whole, "arch_protocol"] == "bracketed", 2, 1)
    return df


def dataset_hash(directory: str | Path) -> str:
    """SHA-256 over the names and contents of a dataset's shards (identifies the data)."""
    import hashlib

    h = hashlib.sha256()
    for shard in shard_paths(directory):
        h.update(shard.name.encode())
        h.update(hashlib.sha256(shard.read_bytes()).digest())
    return h.hexdigest()


def network_leaves(df: pd.DataFrame, evicted: bool = False) -> pd.DataFrame:
    """Measured ``arch_layer`` rows, one per leaf call of each (architecture variant, phase),
    with the variant's config hash in ``arch_hash``.

    A leaf measured twice (a network's first layer in training, once with an input gradient
    by schema-1 runs and once without, as the network runs it) is represented by the row
    without the input gradient. ``evicted=True`` represents a leaf by its row measured with
    its weights evicted (``arch_layer_evicted``) where there is one: the network's conditions.
    """
    kinds = ["arch_layer", EVICTED_LEAF] if evicted else ["arch_layer"]
    leaves = df[df["row_kind"].isin(kinds) & (df["status"] == "ok")].copy()
    leaves["arch_hash"] = [json.loads(c).get("architecture_hash") for c in leaves["config_json"]]
    flag = leaves.get("input_requires_grad", pd.Series(True, index=leaves.index))
    grad = flag.astype(object).where(flag.notna(), True).astype(bool)
    alone = leaves["row_kind"] != EVICTED_LEAF
    leaves = leaves.assign(_grad=grad, _alone=alone).sort_values(["_alone", "_grad"],
                                                                 kind="stable")
    leaves = leaves.drop_duplicates(["arch_hash", "phase", "layer_index"], keep="first")
    return leaves.drop(columns=["_grad", "_alone"]).sort_index()


def done_keys(df: pd.DataFrame) -> set[tuple[str, str]]:
    """(config_hash, phase) of rows already settled (measured or skipped): resume skips them.
    A faulted measurement (``faulted.unsettled``) is not settled: resuming measures it again,
    once."""
    settled = df[df["status"].isin(["ok", "skipped"]) & ~unsettled(df)]
    return set(zip(settled["config_hash"], settled["phase"], strict=True))


def machines(df: pd.DataFrame) -> pd.DataFrame:
    """The machines a dataset's rows were measured on: one row per ``hardware_id`` with its
    ``cpu_model`` and row count ``rows``, most rows first."""
    if df.empty or "hardware_id" not in df:
        return pd.DataFrame(columns=["hardware_id", "cpu_model", "rows"])
    grouped = df.groupby("hardware_id", dropna=False)
    out = pd.DataFrame({"cpu_model": grouped["cpu_model"].first(), "rows": grouped.size()})
    return out.reset_index().sort_values("rows", ascending=False, kind="stable")


def _describe(m: pd.DataFrame) -> str:
    return ", ".join(f"{r.hardware_id} ({r.cpu_model}, {r.rows:,} rows)" for r in m.itertuples())


def one_machine(df: pd.DataFrame, hardware_id: str | None = None,
                where: str = "the dataset") -> pd.DataFrame:
    """The rows of one machine: energy measured on one machine says nothing exact about another,
    so fitting or evaluating across machines is refused, never averaged silently.

    Args:
        df: dataset rows.
        hardware_id: the machine to keep; None accepts a dataset of a single machine only.
        where: how error messages name the dataset (e.g. its path).

    Raises:
        DatasetError: ``hardware_id`` has no rows, or it is None and the rows span machines.
    """
    m = machines(df)
    if hardware_id is not None:
        if hardware_id not in set(m["hardware_id"]):
            raise DatasetError(f"{where} has no rows from machine {hardware_id}; it holds "
                               f"{_describe(m) or 'no rows'}")
        return df[df["hardware_id"] == hardware_id]
    if len(m) > 1:
        raise DatasetError(f"{where} mixes measurements from {len(m)} machines: {_describe(m)}; "
                           f"pass --hardware-id to use one machine's rows, or keep each "
                           f"machine's shards in a directory of its own")
    return df


def check_same_machine(df: pd.DataFrame, hardware_id: str, cpu_model: str,
                       where: str = "the dataset") -> None:
    """Refuse to add this machine's measurements to a dataset measured on another one.

    Raises:
        DatasetError: ``df`` holds rows of a machine other than ``hardware_id``.
    """
    other = machines(df)
    other = other[other["hardware_id"] != hardware_id]
    if not other.empty:
        raise DatasetError(f"{where} was measured on {_describe(other)}; this machine is "
                           f"{hardware_id} ({cpu_model}): generate into a new --out directory")


def allocators(df: pd.DataFrame) -> list[str]:
    """The allocator states (``padded`` / ``system``) a dataset's rows were measured in."""
    if df.empty or "allocator" not in df:
        return []
    return sorted(df["allocator"].fillna(SYSTEM_ALLOCATOR).unique())


def one_allocator(df: pd.DataFrame, where: str = "the dataset") -> str | None:
    """The single allocator state of ``df`` (None when empty): rows measured with and without
    per-call page faults (measurement/allocator.py) do not price the same work alike.

    Raises:
        DatasetError: the rows were measured in more than one allocator state.
    """
    found = allocators(df)
    if len(found) > 1:
        raise DatasetError(f"{where} mixes allocator states {', '.join(found)}; keep each "
                           f"state's shards in a directory of its own")
    return found[0] if found else None


def check_same_conditions(df: pd.DataFrame, allocator: str, cpu_signature: str | None,
                          where: str = "the dataset") -> None:
    """Refuse to add rows measured in other conditions than the dataset's: another allocator
    state, or another CPU family/model behind the same model name (rows without a signature,
    written before it was recorded, are not compared).

    Raises:
        DatasetError: the allocator or the CPU signature differs.
    """
    found = allocators(df)
    if found and found != [allocator]:
        raise DatasetError(f"{where} was measured with --allocator {', '.join(found)}; pass "
                           f"that to add to it, or generate into a new --out")
    known = set(df.get("cpu_signature", pd.Series(dtype=object)).dropna())
    if cpu_signature and known and known != {cpu_signature}:
        raise DatasetError(f"{where} was measured on a CPU with signature "
                           f"{', '.join(sorted(known))}; this one is {cpu_signature} (same "
                           f"model name, another CPU): generate into a new --out")


def reference_by_run(df: pd.DataFrame) -> pd.Series:
    """Median reference-workload energy (J per call) of each ``run_id``: the machine's state."""
    ref = df[(df["row_kind"] == "reference") & (df["status"] == "ok")].dropna(
        subset=["energy_j"])
    if ref.empty or "run_id" not in ref:
        return pd.Series(dtype=float)
    return ref.groupby("run_id")["energy_j"].median()


def reference_median(df: pd.DataFrame | None) -> float | None:
    """A dataset's machine state: the median over its runs of :func:`reference_by_run`
    (J per call; None without reference readings)."""
    per_run = reference_by_run(df) if df is not None else pd.Series(dtype=float)
    return float(per_run.median()) if len(per_run) else None


def shifted_runs(df: pd.DataFrame, tolerance: float = 0.25) -> pd.DataFrame:
    """Runs whose machine state differs from the dataset's: per ``run_id``, the median
    reference energy (J per call) and its ratio to :func:`reference_median`; only runs with
    ``|ratio - 1| > tolerance`` are returned (``generate`` refuses to add such runs since it
    checks; older datasets may hold them)."""
    per_run = reference_by_run(df)
    if per_run.empty:
        return pd.DataFrame(columns=["run_id", "reference_j", "ratio"])
    ratio = per_run / float(per_run.median())
    out = pd.DataFrame({"run_id": per_run.index, "reference_j": per_run.to_numpy(),
                        "ratio": ratio.to_numpy()})
    return out[(out["ratio"] - 1).abs() > tolerance].reset_index(drop=True)
