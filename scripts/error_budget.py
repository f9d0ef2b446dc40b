"""Where a whole-model error comes from: per-layer regressors or the network context.

    python scripts/error_budget.py --data datasets/zen4-2c-padded [--drift-correct]
                                   [--protocol interleaved] [--by batch_size]
                                   [--terms bytes,leaf,batch]

For every whole-model row whose leaves were all measured, with its architecture held out
(regressors and context refitted without any layer of it, as ``energypred evaluate`` does),
the relative error of the prediction splits exactly into two parts::

    (P + C(P) - W) / W  =  (P + C(P) - L - C(L)) / W  +  (L + C(L) - W) / W
       whole error            leaf regressors              context (additivity with it)

with W the measured whole, L the sum of its separately measured leaves, P the sum of the
held-out per-leaf predictions for those same leaves and C the fitted context (its streamed part
priced from the leaves' J alone: predicted in C(P), measured in C(L)). The leaf part is split
further by layer type (the same difference over its leaves). Prints the mean signed share of
each part and the MAPE per (phase, architecture), in %. Energies are J per call of the steady
windows, as ``fit`` uses them: CodeCarbon estimates wherever the dataset says so.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from energypred.configs import ArchConfig
from energypred.cli.fit import add_llc_argument, llc_bytes_of
from energypred.context_fit import ALL_TERMS, TERMS, llc_for, parse_terms
from energypred.dataset import network_leaves, one_machine, read_dataset
from energypred.faulted import without_faulted
from energypred.drift import corrected
from energypred.evaluation import held_out_predictor, measured_context_j
from energypred.measurement import workloads as wl
from energypred.windows import steady_state


def budget(df: pd.DataFrame, target: str = "energy_j", protocol: str | None = None,
           terms: Sequence[str] = TERMS, llc_bytes: int | None = None) -> pd.DataFrame:
    """One row per complete whole-model row (of ``protocol`` only, if given; the regressors
    are fitted on every row; the context with ``terms``): its error parts (fractions of the
    measured whole) and, per layer type, ``leaf:<type>`` parts; caches fitted up to
    ``llc_bytes`` (default ``llc_for(df)``)."""
    llc = llc_for(df, llc_bytes)
    whole = df[(df["row_kind"] == "architecture") & (df["status"] == "ok")]
    if protocol is not None:
        whole = whole[whole["arch_protocol"] == protocol]
    leaves = network_leaves(df)
    out = []
    for arch, rows in whole.groupby("architecture"):
        held, _ = held_out_predictor(df, str(arch), llc, target, terms=terms)
        for _, row in rows.iterrows():
            traced = wl.trace_arch(ArchConfig.from_json(row["config_json"]))
            mine = leaves[(leaves["arch_hash"] == row["config_hash"])
                          & (leaves["phase"] == row["phase"])]
            if len(mine) != len(traced):
                continue
            pred, context = held.predict_network(mine, row["phase"])
            # the context over the measured leaves (its streamed part priced from them)
            measured_context = measured_context_j(held.context, mine, target)
            w = float(row[target])
            priced = np.nan_to_num(pred) + context  # each leaf in the network, as predicted
            measured = mine[target].to_numpy(float) + measured_context
            cfg = ArchConfig.from_json(row["config_json"])
            rec = {"phase": row["phase"], "architecture": arch,
                   "batch_size": cfg.batch_size, "resolution": cfg.resolution,
                   "width_mult": cfg.width_mult,
                   "total": (priced.sum() - w) / w,
                   "leaves": (priced.sum() - measured.sum()) / w,
                   "context": (measured.sum() - w) / w}
            for lt, idx in mine.groupby("layer_type").groups.items():
                pos = mine.index.get_indexer(idx)
                rec[f"leaf:{lt}"] = (priced[pos].sum() - measured[pos].sum()) / w
            out.append(rec)
    return pd.DataFrame(out)


#: variant fields ``--by`` can break the errors down by
BY = ("batch_size", "resolution", "width_mult")


def print_by(b: pd.DataFrame, field: str) -> None:
    """Per (phase, architecture, ``field``): rows, MAPE, and the mean signed total, leaves and
    context parts (% of the measured whole)."""
    print(f"\nby {field}:")
    print(f"{'phase':<11}{'architecture':<13}{field:>11}{'n':>4}{'MAPE':>7}{'total':>8}"
          f"{'leaves':>8}{'context':>9}")
    for (phase, arch, value), g in b.groupby(["phase", "architecture", field]):
        print(f"{phase:<11}{arch:<13}{value:>11g}{len(g):>4}{100 * g.total.abs().mean():>6.1f}%"
              f"{100 * g.total.mean():>+7.1f}%{100 * g.leaves.mean():>+7.1f}%"
              f"{100 * g.context.mean():>+8.1f}%")
    print()


def main() -> None:
    """Print the error budget (fractions shown as %)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--drift-correct", action="store_true",
                    help="rescale rows by the reference workload near them, as fit can")
    ap.add_argument("--protocol", default=None,
                    help="only whole networks measured so (bracketed, interleaved)")
    ap.add_argument("--by", default=None, choices=BY,
                    help="also break each architecture down by this field of its variants")
    ap.add_argument("--terms", default=",".join(TERMS),
                    help=f"context terms, a subset of {','.join(ALL_TERMS)}")
    add_llc_argument(ap)
    args = ap.parse_args()
    df, note = without_faulted(one_machine(read_dataset(args.data), where=str(args.data)))
    if note:  # as fit leaves them out
        print(note)
    df = steady_state(df)
    df = corrected(df) if args.drift_correct else df
    b = budget(df, protocol=args.protocol, terms=parse_terms(args.terms),
               llc_bytes=llc_bytes_of(args))
    if b.empty:
        raise SystemExit(f"no complete whole-model rows in {args.data}"
                         + (f" measured {args.protocol}" if args.protocol else ""))
    parts = ["total", "leaves", "context"] + sorted(c for c in b if c.startswith("leaf:"))
    names = {p: p.replace("leaf:", "")[:9] for p in parts}
    print(f"{args.data}{' (drift-corrected)' if args.drift_correct else ''}: {len(b)} whole "
          f"models{' measured ' + args.protocol if args.protocol else ''} with every leaf "
          f"measured, each architecture held out")
    print(f"{'phase':<11}{'architecture':<13}{'n':>3}{'MAPE':>7}{'|leaves|':>9}{'|context|':>10}"
          + "".join(f"{names[p]:>10}" for p in parts))
    for keys, g in list(b.groupby(["phase", "architecture"])) + [
            ((p, "ALL"), g) for p, g in b.groupby("phase")]:
        print(f"{keys[0]:<11}{keys[1]:<13}{len(g):>3}{100 * g.total.abs().mean():>6.1f}%"
              f"{100 * g.leaves.abs().mean():>8.1f}%{100 * g.context.abs().mean():>9.1f}%"
              + "".join(f"{100 * g[p].mean():>+9.1f}%" if p in g else f"{'-':>10}"
                        for p in parts))
    if args.by:
        print_by(b, args.by)
    print("MAPE = mean |total|; |leaves| = mean |leaves part| (the MAPE with a perfect context), "
          "|context| = mean |context part| (the MAPE with perfect per-layer regressors); the "
          "other columns are mean signed parts of the error, % of the measured whole: total = "
          "leaves + context, leaves = sum over layer types (names cut to 9 characters)")


if __name__ == "__main__":
    main()
