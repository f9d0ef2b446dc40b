"""Whole-model error with each network-context model, every architecture held out.

    python scripts/context_terms.py --data datasets/zen4-2c-padded [--drift-correct]

The per-layer regressors are refitted once without each architecture (as ``energypred
evaluate`` does); then each context model is fitted without that architecture too and added to
the held-out per-leaf predictions: none; weight bytes only (predictors before the per-leaf
term); a cost per leaf call only; both (the default until 2026-11-25); streamed weights
(``energypred.streaming``, fitted on the evicted-weight leaves) with the per-leaf cost; both
with a cost per activation byte (``context_fit.ALL_TERMS``), or that cost and the weight bytes
alone; both with a cost per J of each Linear leaf alone (``lin``, the default of 2026-11-25),
or that cost and the per-leaf cost alone; both with the fitted cache and its spill factor
(``spill+leaf``: the default, ``TERMS``, since 2026-11-25), and with the Linear term, the
activation term, a cost per sample of each leaf call's batch (``batch``), one per re-read
Linear weight byte per sample (``linb``) or both too (their sample cap fitted, or
``uncapped``), or a credit per J alone of each weightless leaf that streams its data alone
(``fresh``), and that credit with a constant per training step (``step``), and each model's
error by batch size (up to 16, as every shipped run drew,
and beyond: ``generate --arch-batches``). Then the leaves measured with their
weights evicted against alone, by layer type and batch size. Prints MAPE and mean signed error
per (phase, architecture), and the additivity of the measured leaves with each context added
(streamed part priced from the measured leaves). Energies are the steady windows, as ``fit``
uses them: CodeCarbon estimates wherever the dataset says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from energypred.configs import ArchConfig
from energypred.cli.fit import add_llc_argument, llc_bytes_of
from energypred.context_fit import TERMS, fit_context, llc_for
from energypred.dataset import network_leaves, one_machine, read_dataset
from energypred.faulted import without_faulted
from energypred.drift import corrected
from energypred.evaluation import held_out_predictor, leaf_rows, measured_context_j
from energypred.measurement import workloads as wl
from energypred.streaming import evicted_pairs
from energypred.windows import steady_state

#: name -> (terms, stream, spill[, batch cap]); None: no context. Without "spill" in the name
#: the weights compete for the machine's whole LLC (the models before the fitted cache); the
#: batch terms' sample cap is fitted unless the name says "uncapped"
MODELS: dict[str, tuple[Any, ...] | None] = {
    "none": None, "bytes": (("bytes",), False, False), "leaf": (("leaf",), False, False),
    "bytes+leaf": (("bytes", "leaf"), False, False),
    "stream+leaf": (("bytes", "leaf"), True, False),
    "bytes+leaf+act": (("bytes", "leaf", "activations"), False, False),
    "bytes+act": (("bytes", "activations"), False, False),
    "bytes+leaf+lin": (("bytes", "leaf", "linear"), False, False),
    "leaf+lin": (("leaf", "linear"), False, False),
    "spill+leaf": (TERMS, False, True),
    "spill+leaf+lin": (("bytes", "leaf", "linear"), False, True),
    "spill+leaf+act": (("bytes", "leaf", "activations"), False, True),
    "spill+leaf+batch": (("bytes", "leaf", "batch"), False, True),
    "spill+leaf+linb": (("bytes", "leaf", "linear_batch"), False, True),
    "spill+leaf+batch+linb": (("bytes", "leaf", "batch", "linear_batch"), False, True),
    "spill+leaf+batch+linb uncapped": (("bytes", "leaf", "batch", "linear_batch"), False, True,
                                       False),
    "spill+leaf+fresh": (("bytes", "leaf", "fresh"), False, True),
    "spill+leaf+fresh+step": (("bytes", "leaf", "fresh", "step"), False, True)}
#: batch sizes up to this are those every shipped run drew (sampling.ARCH_BATCH_SIZES)
SMALL_BATCH = 16


def compare(df: pd.DataFrame, target: str = "energy_j", llc_bytes: int | None = None
            ) -> pd.DataFrame:
    """One row per (context model, whole-model row): held-out error and additivity with it;
    caches fitted up to ``llc_bytes`` (default ``llc_for(df)``)."""
    llc = llc_for(df, llc_bytes)
    whole = df[(df["row_kind"] == "architecture") & (df["status"] == "ok")]
    leaves = network_leaves(df)
    out = []
    for arch, rows in whole.groupby("architecture"):
        held, _ = held_out_predictor(df, str(arch), llc, target, context=False)
        contexts = {name: fit_context(df, llc, target, [str(arch)], m[0], stream=m[1],
                                      spill=m[2], batch_cap=m[3] if len(m) > 3 else True)
                    for name, m in MODELS.items() if m is not None}
        for _, r in rows.iterrows():
            cfg = ArchConfig.from_json(r["config_json"])
            lr = leaf_rows(wl.trace_arch(cfg))
            iso = held.predict_rows(lr, r["phase"])
            mine = leaves[(leaves["arch_hash"] == r["config_hash"])
                          & (leaves["phase"] == r["phase"])]
            complete = len(mine) == len(lr)
            w = float(r[target])
            for name in MODELS:
                ctx = contexts.get(name)
                extra = ctx.rows_energy_j(lr, r["phase"], iso).sum() if ctx is not None else 0.0
                measured = (mine[target].sum() + (measured_context_j(ctx, mine, target).sum()
                                                  if ctx is not None else 0.0))
                out.append({"model": name, "phase": r["phase"], "architecture": arch,
                            "batch_size": cfg.batch_size,
                            "err": (np.nansum(iso) + extra) / w - 1,
                            "additivity": measured / w - 1 if complete else np.nan})
    return pd.DataFrame(out)


def evicted_by_batch(df: pd.DataFrame, target: str = "energy_j") -> pd.DataFrame:
    """The leaves measured both alone and with their weights evicted, per (phase, layer type,
    batch size): how many, the median ratio evicted / alone and the median extra nJ per
    weight byte (the evidence for pricing Linear leaves by their J alone)."""
    pairs = evicted_pairs(df, target)
    pairs = pairs[(pairs["alone_j"] > 0) & (pairs["weight_bytes"] > 0)]
    pairs = pairs.assign(ratio=pairs["evicted_j"] / pairs["alone_j"],
                         extra_nj_per_b=1e9 * (pairs["evicted_j"] - pairs["alone_j"])
                         / pairs["weight_bytes"])
    return pairs.groupby(["phase", "layer_type", "batch_size"]).agg(
        n=("ratio", "size"), ratio=("ratio", "median"),
        extra_nj_per_b=("extra_nj_per_b", "median"))


def main() -> None:
    """Print the comparison (fractions shown as %)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--all-windows", action="store_true", help="do not drop the first window")
    ap.add_argument("--drift-correct", action="store_true",
                    help="rescale rows by the reference workload near them, as fit can")
    add_llc_argument(ap)
    args = ap.parse_args()
    df, note = without_faulted(one_machine(read_dataset(args.data), where=str(args.data)))
    if note:  # as fit leaves them out
        print(note)
    df = df if args.all_windows else steady_state(df)
    df = corrected(df) if args.drift_correct else df
    llc = llc_for(df, llc_bytes_of(args))
    res = compare(df, llc_bytes=llc)
    archs = sorted(res.architecture.unique())
    print(f"{args.data}{' (drift-corrected)' if args.drift_correct else ''}: "
          f"{len(res) // len(MODELS)} whole-model rows; LLC {llc / 2**20:.0f} MiB")
    print(f"{'context':<32}{'phase':<11}" + "".join(f"{a:>17}" for a in archs)
          + f"{'ALL':>17}{'additivity |mean|':>19}")
    for (name, phase), g in res.groupby(["model", "phase"], sort=False):
        cells = [f"{100 * a.err.abs().mean():6.1f} ({100 * a.err.mean():+5.1f})"
                 for _, a in sorted(g.groupby("architecture"))]
        print(f"{name:<32}{phase:<11}" + "".join(f"{c:>17}" for c in cells)
              + f"{100 * g.err.abs().mean():>9.1f} ({100 * g.err.mean():+5.1f})"
              + f"{100 * g.additivity.abs().mean():>18.1f}%")
    print("cells: MAPE % (mean signed error %), whole models held out by architecture")
    big = res["batch_size"] > SMALL_BATCH
    if big.any():
        print(f"\nby batch: up to {SMALL_BATCH} (what every shipped run drew) and beyond")
        for (name, phase), g in res.groupby(["model", "phase"], sort=False):
            cells = [f"{f'batch {b}':>10} n {len(a):>3} {100 * a.err.abs().mean():5.1f} "
                     f"({100 * a.err.mean():+5.1f})"
                     for b, a in g.groupby(np.where(g["batch_size"] > SMALL_BATCH,
                                                    f">{SMALL_BATCH}", f"<={SMALL_BATCH}"))]
            print(f"{name:<32}{phase:<11}" + "".join(cells))
    ev = evicted_by_batch(df)
    if not ev.empty:
        print("\nleaves measured with their weights evicted, against alone (medians):")
        print(f"{'phase':<11}{'layer type':<12}{'batch':>6}{'n':>5}{'evicted/alone':>15}"
              f"{'extra nJ/B':>12}")
        for (phase, lt, b), e in ev.iterrows():
            print(f"{phase:<11}{lt:<12}{int(b):>6}{int(e.n):>5}{e.ratio:>15.2f}"
                  f"{e.extra_nj_per_b:>12.2f}")


if __name__ == "__main__":
    main()
