"""Whole-model error with each network-context model, every architecture held out.

    python scripts/context_terms.py --data datasets/epyc-2c

The per-layer regressors are refitted once without each architecture (as ``energypred
evaluate`` does); then each context model (none; weight bytes only, as predictors before
this version; a cost per leaf call only; both) is fitted without that architecture too and added
to the held-out sum. Prints MAPE and mean signed error per (phase, architecture), and the
additivity of the measured leaves with each context added. Energies are the steady windows,
as ``fit`` uses them; they are CodeCarbon estimates wherever the dataset says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from energypred.configs import ArchConfig
from energypred.context import fit_context, llc_for
from energypred.dataset import network_leaves, one_machine, read_dataset
from energypred.evaluation import evaluate
from energypred.measurement import workloads as wl
from energypred.windows import steady_state

MODELS: dict[str, tuple[str, ...]] = {"none": (), "bytes": ("bytes",), "leaf": ("leaf",),
                                      "bytes+leaf": ("bytes", "leaf")}


def main() -> None:
    """Print the comparison (fractions shown as %)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--all-windows", action="store_true", help="do not drop the first window")
    args = ap.parse_args()
    df = one_machine(read_dataset(args.data), where=str(args.data))
    df = df if args.all_windows else steady_state(df)
    llc = llc_for(df)
    rows = evaluate(df, context=False, progress=True).rows
    configs = df.drop_duplicates("config_hash").set_index("config_hash")["config_json"]
    weights = {h: [r.counts.weight_elements * 4 if r.counts else 0
                   for r in wl.trace_arch(ArchConfig.from_json(configs[h]))]
               for h in rows["config_hash"].unique()}
    leaves = network_leaves(df).groupby(["arch_hash", "phase"])["energy_j"].agg(["sum", "size"])
    out = []
    for name, terms in MODELS.items():
        for arch in rows["architecture"].unique():
            ctx = (fit_context(df, llc, exclude_architectures=[arch], terms=terms) if terms
                   else None)
            for _, r in rows[rows["architecture"] == arch].iterrows():
                extra = (float(np.sum(ctx.energy_j(weights[r.config_hash], r.phase)))
                         if ctx is not None else 0.0)
                key = (r.config_hash, r.phase)
                complete = key in leaves.index and leaves.loc[key, "size"] == len(
                    weights[r.config_hash])
                leaf_sum = float(leaves.loc[key, "sum"]) if complete else np.nan
                out.append({"model": name, "phase": r.phase, "architecture": arch,
                            "err": (r.predicted_held_out_j + extra) / r.measured_j - 1,
                            "additivity": (leaf_sum + extra) / r.measured_j - 1})
    res = pd.DataFrame(out)
    print(f"{args.data}: {len(rows)} whole-model rows; LLC {llc / 2**20:.0f} MiB")
    print(f"{'context':<12}{'phase':<11}" + "".join(f"{a:>17}" for a in
                                                    sorted(rows.architecture.unique()))
          + f"{'ALL':>17}{'additivity |mean|':>19}")
    for (name, phase), g in res.groupby(["model", "phase"], sort=False):
        cells = [f"{100 * a.err.abs().mean():6.1f} ({100 * a.err.mean():+5.1f})"
                 for _, a in sorted(g.groupby("architecture"))]
        print(f"{name:<12}{phase:<11}" + "".join(f"{c:>17}" for c in cells)
              + f"{100 * g.err.abs().mean():>9.1f} ({100 * g.err.mean():+5.1f})"
              + f"{100 * g.additivity.abs().mean():>18.1f}%")
    print("cells: MAPE % (mean signed error %), whole models held out by architecture")


if __name__ == "__main__":
    main()
