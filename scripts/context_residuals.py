"""The context part of the whole-model error alone, fast: measured leaves + held-out context.

    python scripts/context_residuals.py --data datasets/xeon-2c-padded [--drift-correct]
                                        [--terms bytes,leaf,linear] [--by width_mult]
                                        [--no-spill]

For every whole-model row whose leaves were all measured, the network context is fitted without
its architecture (``fit_context(exclude_architectures=...)``, as ``energypred evaluate`` does)
and added to the sum of its measured leaves::

    context error = (L + C(L) - W) / W

with W the measured whole, L the sum of its measured leaves alone and C the held-out context
priced on them. That is the error a predictor would make with perfect per-layer regressors
(the "context" part of ``scripts/error_budget.py``), without refitting any regressor, so a
context model can be tried in seconds. Prints its MAPE and mean signed value per (phase,
architecture) and, with ``--by``, per value of a variant field; then the Spearman correlation
of the signed error with each network's features (weight bytes, share of the leaves' J in
Linear layers, batch size, ...), where a pattern a context model misses would show. Energies
are J per call of the steady windows, CodeCarbon estimates wherever the dataset says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from energypred.configs import ArchConfig
from energypred.cli.fit import add_llc_argument, llc_bytes_of
from energypred.context_fit import ALL_TERMS, TERMS, fit_context, llc_for, parse_terms
from energypred.dataset import network_leaves, one_machine, read_dataset
from energypred.faulted import without_faulted
from energypred.drift import corrected
from energypred.evaluation import measured_context_j
from energypred.measurement import workloads as wl
from energypred.windows import steady_state

#: variant fields the errors can be broken down by
BY = ("batch_size", "resolution", "width_mult")
#: network features whose correlation with the signed error is printed
FEATURES = ("weight_mb", "linear_weight_mb", "linear_share", "batch_size", "resolution",
            "width_mult", "leaves_j")


def residuals(df: pd.DataFrame, terms: tuple[str, ...], target: str = "energy_j",
              spill: bool = True, llc_bytes: int | None = None) -> pd.DataFrame:
    """One row per whole-model row with every leaf measured: its architecture held out, the
    context error (fraction of the measured whole) and the network's features; the cache is
    fitted up to ``llc_bytes`` (default ``llc_for(df)``)."""
    llc = llc_for(df, llc_bytes)
    whole = df[(df["row_kind"] == "architecture") & (df["status"] == "ok")]
    leaves = network_leaves(df)
    by_key = {k: g for k, g in leaves.groupby(["arch_hash", "phase"])}
    out = []
    for arch, rows in whole.groupby("architecture"):
        ctx = fit_context(df, llc, target, exclude_architectures=[str(arch)], terms=terms,
                          spill=spill)
        for _, row in rows.iterrows():
            mine = by_key.get((row["config_hash"], row["phase"]))
            cfg = ArchConfig.from_json(row["config_json"])
            if mine is None or len(mine) != len(wl.trace_arch(cfg)):
                continue
            w = float(row[target])
            measured = mine[target].to_numpy(float)
            context = measured_context_j(ctx, mine, target)
            wbytes = mine["weight_elements"].astype(float).fillna(0.0) * 4
            linear = (mine["layer_type"] == "linear").to_numpy()
            out.append({"phase": row["phase"], "architecture": arch,
                        "batch_size": cfg.batch_size, "resolution": cfg.resolution,
                        "width_mult": cfg.width_mult,
                        "error": (measured.sum() + context.sum() - w) / w,
                        "additivity": (measured.sum() - w) / w,
                        "weight_mb": wbytes.sum() / 1e6,
                        "linear_weight_mb": wbytes[linear].sum() / 1e6,
                        "linear_share": measured[linear].sum() / measured.sum(),
                        "leaves_j": measured.sum(),
                        "cache_mib": (ctx.cache_bytes or ctx.llc_bytes) / 2**20,
                        "spill": ctx.cache_bytes is not None})
    return pd.DataFrame(out)


def report(r: pd.DataFrame, by: str | None) -> None:
    """Print MAPE and mean signed context error per (phase, architecture[, by]) and the
    features' correlations with the signed error (fractions shown as %)."""
    keys = ["phase", "architecture"] + ([by] if by else [])
    print(f"{'  '.join(keys)}  n  MAPE  mean signed  (additivity alone, mean signed)")
    groups = list(r.groupby(keys)) + [((p, "ALL") + (("",) if by else ()), g)
                                      for p, g in r.groupby("phase")]
    for k, g in groups:
        print("  ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in k)
              + f"  {len(g)}  {100 * g.error.abs().mean():.1f}%  {100 * g.error.mean():+.1f}%"
              f"  ({100 * g.additivity.mean():+.1f}%)")
    print("\ncache the weights compete for, per architecture held out: " + ", ".join(
        f"{a} {g.cache_mib.iloc[0]:.0f} MiB ({'fitted, spill' if g.spill.iloc[0] else 'the LLC'})"
        for a, g in r.groupby("architecture")))
    print("\nSpearman correlation of the signed context error with each feature:")
    for (phase, arch), g in list(r.groupby(["phase", "architecture"])) + [
            ((p, "ALL"), g) for p, g in r.groupby("phase")]:
        corr = {f: g["error"].corr(g[f], method="spearman") for f in FEATURES}
        print(f"{phase:<10}{arch:<9}" + "  ".join(
            f"{f} {c:+.2f}" for f, c in corr.items() if np.isfinite(c)))


def main() -> None:
    """Parse arguments, compute the held-out context errors and print them."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--drift-correct", action="store_true",
                    help="rescale rows by the reference workload near them, as fit can")
    ap.add_argument("--terms", default=",".join(TERMS),
                    help=f"context terms, a subset of {','.join(ALL_TERMS)}")
    ap.add_argument("--by", default=None, choices=BY)
    ap.add_argument("--no-spill", action="store_true",
                    help="the machine's LLC without a fitted cache (the model before it)")
    add_llc_argument(ap)
    args = ap.parse_args()
    df, note = without_faulted(one_machine(read_dataset(args.data), where=str(args.data)))
    if note:  # as fit leaves them out
        print(note)
    df = steady_state(df)
    df = corrected(df) if args.drift_correct else df
    terms = parse_terms(args.terms)
    r = residuals(df, terms, spill=not args.no_spill, llc_bytes=llc_bytes_of(args))
    if r.empty:
        raise SystemExit(f"no whole-model rows with every leaf measured in {args.data}")
    print(f"{args.data}{' (drift-corrected)' if args.drift_correct else ''}: context terms "
          f"{','.join(terms)}{' (no spill)' if args.no_spill else ''}, {len(r)} whole models, "
          "each architecture held out\n")
    report(r, args.by)


if __name__ == "__main__":
    main()
