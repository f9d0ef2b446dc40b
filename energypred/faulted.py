"""Which measurements paid for page faults the ``padded`` allocator is meant to remove.

Under ``padded`` (measurement/allocator.py) a call reuses pages it already touched, so a
measurement that still took many minor page faults per call measured something else: fresh
pages from a heap handed back to the kernel (glibc's trim before 2026-12-07, a release inside
the run), zeroed and mapped one 4 KiB page at a time. ``fit`` leaves such rows out, and a
resume of their run or ``generate --redo-faulted`` (redo.py) measures them again. Under the
``system`` allocator faults are part of what is measured, and nothing is left out.

The rule is the faults' cost, not their count: a row is *faulted* when its faults per call,
at :data:`FAULT_S` each, come to more than :data:`MAX_FAULT_SHARE` of its time per call::

    fault share = minor_faults_per_call × FAULT_S / duration_s      (s / s)
    faulted     = padded and ok and fault share > MAX_FAULT_SHARE

On the five padded datasets (2026-12-07) it flags 155 (Xeon), 134 (Zen 4), 7 (Zen 3), 16 (Ice
Lake) and 86 (Zen 5) measurements, where the earlier date-window rule (:func:`trimmed_heap`)
flagged 74, 56, 5, 7 and 50, all but one of them too (a whole of 11.9 s whose 2,105 faults per
call cost 0.05 %). Most of those it adds are calls estimated just under the old 2 GiB trim
threshold, measured after a larger call had left the heap's top free: tens to 900,000 faults
per call and a median repeat CV of 25-126 % per dataset.

A predictor records the rule it was fitted with (``left_out_faulted``), so ``evaluate``
replays its fit with the same constants; predictors fitted under the earlier date-window
rule (``left_out_trimmed_heap``) are replayed with :func:`trimmed_heap`, kept for them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from energypred.schema import PADDED_ALLOCATOR

#: cost of one minor page fault (s): a VM exit and zeroing a 4 KiB page, measured on the Zen 4
#: VM with ``scripts/bench_allocator.py`` (about 3.1 µs)
FAULT_S = 3.1e-6
#: a measurement whose faults cost more than this share of its call is left out (fraction);
#: twice the ~1 % standard error of a typical whole-network measurement
MAX_FAULT_SHARE = 0.02


@dataclass(frozen=True)
class FaultRule:
    """The constants of the rule: cost per fault (s) and the largest share of a call's time
    (fraction) faults may take. Recorded in a predictor's metadata."""

    fault_s: float = FAULT_S
    max_share: float = MAX_FAULT_SHARE

    def to_dict(self) -> dict[str, float]:
        """The rule as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FaultRule:
        """The rule a predictor recorded (missing constants take today's values)."""
        return cls(fault_s=float(d.get("fault_s", FAULT_S)),
                   max_share=float(d.get("max_share", MAX_FAULT_SHARE)))


def fault_share(df: pd.DataFrame, rule: FaultRule = FaultRule()) -> pd.Series:
    """Estimated share of each row's time per call spent in page faults (fraction; NaN where
    the row has no fault count or no duration)."""
    if df.empty or "minor_faults_per_call" not in df or "duration_s" not in df:
        return pd.Series(float("nan"), index=df.index)
    duration = pd.to_numeric(df["duration_s"], errors="coerce")
    faults = pd.to_numeric(df["minor_faults_per_call"], errors="coerce")
    return faults * rule.fault_s / duration.where(duration > 0)


def faulted(df: pd.DataFrame, rule: FaultRule = FaultRule()) -> pd.Series:
    """Which rows are faulted measurements under ``padded`` (see module doc): a boolean Series
    aligned with ``df``."""
    if df.empty or any(c not in df for c in ("allocator", "status")):
        return pd.Series(False, index=df.index)
    return ((df["allocator"] == PADDED_ALLOCATOR) & (df["status"] == "ok")
            & (fault_share(df, rule) > rule.max_share))


def without_faulted(df: pd.DataFrame, rule: FaultRule = FaultRule()
                    ) -> tuple[pd.DataFrame, str | None]:
    """``df`` without its :func:`faulted` rows, and a line saying what was left out (None when
    nothing was). The rows stay in the dataset; fitting and evaluation pass over them."""
    return _without(df, faulted(df, rule),
                    f"whose page faults took over {100 * rule.max_share:g} % of their call at "
                    f"{1e6 * rule.fault_s:g} µs each",
                    "generate --redo-faulted measures them again")


def _without(df: pd.DataFrame, mask: pd.Series, how: str, then: str
             ) -> tuple[pd.DataFrame, str | None]:
    """``df`` without the ``mask`` rows and the line saying so (None when there are none)."""
    if not mask.any():
        return df, None
    left = df[mask]
    wholes = int((left["row_kind"] == "architecture").sum())
    return df[~mask], (
        f"left out {int(mask.sum())} measurements ({wholes} of them whole networks) made with "
        f"the padded allocator {how}: median {left['minor_faults_per_call'].median():,.0f} page "
        f"faults per call; {then}")


def unsettled(df: pd.DataFrame, rule: FaultRule = FaultRule()) -> pd.Series:
    """Rows a resume should measure again: faulted rows of a configuration (``config_hash``,
    ``phase``) measured faulted fewer than twice. A configuration that faulted again when
    measured again is what it is on this machine: it counts as settled (and stays out of fits),
    so resuming does not measure it over and over."""
    mask = faulted(df, rule)
    if not mask.any():
        return mask
    times = mask.groupby([df["config_hash"], df["phase"]]).transform("sum")
    return mask & (times < 2)


# -- the earlier rule, by date windows: replays predictors fitted with it -----------------------

#: when ``padded`` began to never trim its heap (measurement/allocator.py); before, glibc handed
#: memory back whenever more than :data:`TRIM_BYTES` lay free at the heap's top
PADDED_NEVER_TRIMS_SINCE = pd.Timestamp("2026-12-07T10:45:00Z")
#: the trim threshold ``padded`` had before then (bytes): glibc's largest ``int``
TRIM_BYTES = 2**31 - 1
#: when a run under ``padded`` released its heap before every measurement once it held 2 GiB
#: (the first form of ``allocator.release``; its calls met fresh pages inside their windows)
PADDED_RELEASED_EACH = (pd.Timestamp("2026-12-07T14:27:00Z"), pd.Timestamp("2026-12-07T14:50:00Z"))
#: page faults per call that mark a trimmed heap under the earlier rule
TRIM_FAULTS = 1000


def trimmed_heap(df: pd.DataFrame) -> pd.Series:
    """The earlier rule (predictors that recorded ``left_out_trimmed_heap``): measured rows made
    with ``padded`` before :data:`PADDED_NEVER_TRIMS_SINCE` by a call estimated to need more
    than :data:`TRIM_BYTES` (``est_memory_bytes``), or within :data:`PADDED_RELEASED_EACH` by
    any call, with at least :data:`TRIM_FAULTS` minor page faults per call. It missed calls
    just under the threshold whose heap a larger call had left free at its top; :func:`faulted`
    replaces it. A boolean Series aligned with ``df``."""
    cols = ("allocator", "timestamp", "est_memory_bytes", "minor_faults_per_call", "status")
    if df.empty or any(c not in df for c in cols):
        return pd.Series(False, index=df.index)
    trimmed = (~(df["timestamp"] >= PADDED_NEVER_TRIMS_SINCE)
               & (df["est_memory_bytes"].astype(float) > TRIM_BYTES))
    released = ((df["timestamp"] >= PADDED_RELEASED_EACH[0])
                & (df["timestamp"] < PADDED_RELEASED_EACH[1]))
    return ((df["allocator"] == PADDED_ALLOCATOR) & (df["status"] == "ok")
            & (trimmed | released)
            & (df["minor_faults_per_call"].astype(float) >= TRIM_FAULTS))


def without_trimmed_heap(df: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """``df`` without its :func:`trimmed_heap` rows, and a line saying what was left out (None
    when nothing was)."""
    return _without(df, trimmed_heap(df),
                    f"while it handed its heap back (before "
                    f"{PADDED_NEVER_TRIMS_SINCE:%Y-%m-%d %H:%M} UTC, and from "
                    f"{PADDED_RELEASED_EACH[0]:%H:%M} to {PADDED_RELEASED_EACH[1]:%H:%M})",
                    "re-measure them to use them")


def as_fitted_rows(df: pd.DataFrame, metadata: dict[str, Any]) -> tuple[pd.DataFrame, str | None]:
    """``df`` without the rows a predictor's fit left out (its ``metadata`` says by which
    rule), and the line saying so; predictors fitted before either rule keep every row."""
    if "left_out_faulted" in metadata:
        return without_faulted(df, FaultRule.from_dict(metadata["left_out_faulted"]))
    if "left_out_trimmed_heap" in metadata:
        return without_trimmed_heap(df)
    return df, None
