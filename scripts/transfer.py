"""How far off is a predictor measured on one machine when used on another, and does one
number, the reference workload's cost there against here, fix it?

    python scripts/transfer.py --data datasets/xeon-2c-padded \
        --predictor models/zen4-2c-padded --predictor models/epyc-2c

For every measured whole-model row of ``--data`` (another machine's dataset), each predictor
predicts the network as it is (nothing refitted), and the prediction is compared with the
measured whole three ways::

    as is:        P                        (what `predict` gives on a machine it does not know)
    rescaled:     P x ref_data / ref_pred  (ref: the reference convolution's median cost per
                                            call, in the data's and in the predictor's rows;
                                            by J and by s per call)
    own factor:   P x median(W / P)        (a factor fitted on the measured wholes themselves,
                                            per phase: about what any one-number calibration
                                            could do at best)

Prints MAPE and mean signed error per (phase, architecture) and overall, in %, and the two
reference ratios. The data is put in the predictor's energy convention first (steady windows,
drift-corrected on its footing when the predictor was: ``evaluation.as_fitted``). Leaves a
predictor has no regressor for are counted and printed, never priced silently. Energies are J per
call, CodeCarbon estimates wherever the dataset says so; the ratio by s per call is what
``energypred check`` measures without a meter.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from energypred import artifacts
from energypred.configs import ArchConfig
from energypred.dataset import one_machine, read_dataset
from energypred.cli.fit import dataset_metadata
from energypred.evaluation import as_fitted, leaf_rows, predict_whole
from energypred.machine_check import reference_metadata
from energypred.measurement import workloads as wl
from energypred.predictor import Predictor


def transfer_rows(df: pd.DataFrame, predictor: Predictor) -> pd.DataFrame:
    """One row per measured whole network: phase, architecture, batch size, when it was
    measured, measured and predicted J."""
    whole = df[(df["row_kind"] == "architecture") & (df["status"] == "ok")]
    out = []
    for _, row in whole.iterrows():
        traced = wl.trace_arch(ArchConfig.from_json(row["config_json"]))
        pred, missing = predict_whole(predictor, leaf_rows(traced), row["phase"])
        out.append({"phase": row["phase"], "architecture": row["architecture"],
                    "batch_size": int(row["batch_size"]), "timestamp": row["timestamp"],
                    "measured_j": float(row[predictor.target]), "predicted_j": pred,
                    "unpriced_leaves": missing})
    return pd.DataFrame(out)


def scores(t: pd.DataFrame, factor: float, by: str = "architecture") -> pd.DataFrame:
    """MAPE, mean signed error (fractions) and count of ``predicted_j x factor`` per (phase,
    ``by``), with an ``ALL`` row per phase."""
    err = t["predicted_j"] * factor / t["measured_j"] - 1
    t = t.assign(err=err, abs_err=err.abs(), key=t[by].astype(str))
    cols = {"abs_err": ("abs_err", "mean"), "err": ("err", "mean"), "n": ("err", "size")}
    parts = [t.groupby(["phase", "key"]).agg(**cols)]
    overall = t.groupby("phase").agg(**cols)
    overall.index = pd.MultiIndex.from_tuples([(p, "ALL") for p in overall.index],
                                              names=["phase", "key"])
    parts.append(overall)
    return pd.concat(parts).sort_index()


def main(argv: list[str] | None = None) -> int:
    """Print the transfer figures for each predictor."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="another machine's dataset")
    ap.add_argument("--predictor", action="append", required=True,
                    help="predictor directory (repeatable)")
    args = ap.parse_args(argv)
    raw = one_machine(read_dataset(args.data), None, where=str(args.data))
    for spec in args.predictor:
        predictor = artifacts.load(spec)
        df, _ = as_fitted(raw, predictor.metadata)
        here, theirs = reference_metadata(df), predictor.metadata.get("reference")
        if here is None or not theirs:
            print(f"{spec}: no reference rows on one side; skipped")
            continue
        by_j = here["energy_j"] / float(theirs["energy_j"])
        by_s = here["duration_s"] / float(theirs["duration_s"])
        t = transfer_rows(df, predictor)
        phases = {p: float(np.median(g["measured_j"] / g["predicted_j"]))
                  for p, g in t.groupby("phase")}
        print(f"{spec} on {args.data} ({len(t)} whole networks): reference "
              f"{1e3 * here['energy_j']:.1f} mJ / {1e3 * here['duration_s']:.2f} ms per call "
              f"in the data, {1e3 * float(theirs['energy_j']):.1f} mJ / "
              f"{1e3 * float(theirs['duration_s']):.2f} ms in the predictor's: ratio "
              f"{by_j:.2f} (J), {by_s:.2f} (s)")
        print(f"  J per call; the data: {dataset_metadata(raw)['measurement_method']}; the "
              f"predictor's: {predictor.method}")
        if (unpriced := int(t["unpriced_leaves"].sum())) > 0:
            print(f"  {unpriced} leaf calls have no regressor in {spec}: its totals are "
                  "lower bounds")
        print(f"  own factor per phase (median measured / predicted): "
              + ", ".join(f"{p} {f:.2f}" for p, f in phases.items()))
        views = {"as is": scores(t, 1.0), "x ratio (J)": scores(t, by_j),
                 "x ratio (s)": scores(t, by_s)}
        best = pd.concat([scores(t[t["phase"] == p], f) for p, f in phases.items()])
        views["own factor"] = best.sort_index()
        print(f"  {'phase':<10}{'architecture':<14}"
              + "".join(f"{name + ' MAPE (signed)':>28}" for name in views))
        for key in views["as is"].index:
            cells = "".join(f"{100 * v.loc[key, 'abs_err']:>17.1f} % "
                            f"({100 * v.loc[key, 'err']:+6.1f})" for v in views.values())
            print(f"  {key[0]:<10}{key[1]:<14}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
