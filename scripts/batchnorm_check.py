"""How well are networks with batch normalisation priced, with nothing of them in the fit?

    python scripts/batchnorm_check.py --data datasets/zen5-2c-padded \
        --predictor models/zen5-2c-padded [--hold-out vgg11_bn,vgg11]

``energypred evaluate`` holds out one architecture at a time, but VGG11 with batch normalisation
(``vgg11_bn``) has VGG11's convolutions, linear and pooling layers: held out alone, its other
leaves were seen in VGG11's. This holds out every architecture in ``--hold-out`` together
(regressors and network context refitted without any of their rows, with ``--predictor``'s
context terms and cache) and prices each measured whole network of the first one. The
BatchNorm2d regressor is then fitted on random layers only (``generate --layers batchnorm2d``).

Prints, per phase: whole-network MAPE and mean signed error (by batch size too), the share of
the predicted J in BatchNorm2d leaves, and the held-out MAPE of the network's measured
BatchNorm2d leaves against the regressor (random layers only) beside its other layer types.
Energies are J per call in the predictor's convention (``as_fitted``: steady windows,
drift-corrected if it was), CodeCarbon estimates wherever the data says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from energypred import artifacts
from energypred.configs import ArchConfig
from energypred.context_fit import terms_of
from energypred.dataset import network_leaves, one_machine, read_dataset
from energypred.evaluation import as_fitted, evaluation_llc, held_out_predictor, leaf_rows
from energypred.measurement import workloads as wl
from energypred.predictor import Predictor


def held_out_rows(df: pd.DataFrame, given: Predictor, hold_out: list[str]
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per measured whole of ``hold_out[0]``: phase, batch, measured and predicted J,
    J in BatchNorm2d leaves; one row per measured leaf of those networks: phase, layer type,
    measured and predicted J), everything in ``hold_out`` left out of the fit."""
    target = given.target
    predictor, _ = held_out_predictor(df, hold_out, evaluation_llc(df, given), target,
                                      terms=terms_of(given.context))
    whole = df[(df["row_kind"] == "architecture") & (df["status"] == "ok")
               & (df["architecture"] == hold_out[0])]
    leaves = network_leaves(df)
    nets, measured_leaves = [], []
    for _, row in whole.iterrows():
        cfg = ArchConfig.from_json(row["config_json"])
        rows = leaf_rows(wl.trace_arch(cfg))
        isolated, context = predictor.predict_network(rows, row["phase"])
        bn = (rows["layer_type"] == "batchnorm2d").to_numpy()
        nets.append({"phase": row["phase"], "batch_size": cfg.batch_size,
                     "measured_j": float(row[target]),
                     "predicted_j": float(np.nansum(isolated) + context.sum()),
                     "bn_j": float(np.nansum(isolated[bn]) + context[bn].sum()),
                     "unpriced": int(np.isnan(isolated).sum())})
        mine = leaves[(leaves["arch_hash"] == row["config_hash"])
                      & (leaves["phase"] == row["phase"])]
        if len(mine):
            measured_leaves.append(pd.DataFrame({
                "phase": row["phase"], "layer_type": mine["layer_type"].to_numpy(),
                "measured_j": mine[target].to_numpy(float),
                "predicted_j": predictor.predict_rows(mine, str(row["phase"]))}))
    return pd.DataFrame(nets), (pd.concat(measured_leaves, ignore_index=True)
                                if measured_leaves else pd.DataFrame())


def _errors(g: pd.DataFrame) -> str:
    err = g["predicted_j"] / g["measured_j"] - 1
    return (f"n {len(g):>4}, MAPE {100 * err.abs().mean():5.1f} %, mean signed "
            f"{100 * err.mean():+5.1f} %, within ±10 % {100 * (err.abs() <= 0.1).mean():3.0f} %")


def main(argv: list[str] | None = None) -> int:
    """Print the held-out figures of the first ``--hold-out`` architecture."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--predictor", required=True)
    ap.add_argument("--hold-out", default="vgg11_bn,vgg11",
                    help="architectures left out of the fit together; the first is priced")
    args = ap.parse_args(argv)
    hold_out = [a for a in args.hold_out.split(",") if a]
    given = artifacts.load(args.predictor)
    df, _ = as_fitted(one_machine(read_dataset(args.data), None, where=str(args.data)),
                      given.metadata)
    nets, leaves = held_out_rows(df, given, hold_out)
    if nets.empty:
        raise SystemExit(f"no measured whole {hold_out[0]} in {args.data}")
    print(f"{hold_out[0]} in {args.data}, held out with {', '.join(hold_out[1:]) or 'nothing'}"
          f" (J per call, CodeCarbon estimates; {given.method})")
    for phase, g in nets.groupby("phase"):
        print(f"{phase}: whole networks {_errors(g)}; BatchNorm2d "
              f"{100 * (g['bn_j'] / g['predicted_j']).mean():.1f} % of the predicted J; "
              f"{int(g['unpriced'].sum())} leaf calls unpriced")
        for b, gb in g.groupby("batch_size"):
            print(f"  batch {b:>4}: {_errors(gb)}")
    if not leaves.empty:
        print("measured leaves of those networks against the held-out regressors:")
        for (phase, lt), g in leaves.groupby(["phase", "layer_type"]):
            print(f"  {phase:<10} {lt:<18} {_errors(g)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
