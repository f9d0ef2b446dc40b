"""How far off is a fitted predictor, as is, on whole networks measured after it was fitted?

    python scripts/new_networks.py --data datasets/zen4-2c-padded \
        --predictor models/zen4-2c-padded [--after 2026-12-04T00:00:00Z]

A predictor never sees networks measured after it was fitted, so they are a test set nothing
was tuned on: the question a new run answers before it is fitted in (e.g. networks at batches
the predictor's data never reached). Every measured whole-model row of ``--data`` newer than
``--after`` (default: the predictor's ``created_utc``) is predicted as it is (nothing refitted)
and compared with its measurement, in the predictor's energy convention (steady windows,
drift-corrected on its footing when it was: ``evaluation.as_fitted``). Prints MAPE, mean signed
error and the share predicted too high, in %, per phase by batch size and by architecture.
Energies are J per call, CodeCarbon estimates wherever the dataset says so. Leaves without a
regressor are counted and printed, never priced silently.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from transfer import scores, transfer_rows

from energypred import artifacts
from energypred.dataset import one_machine, read_dataset
from energypred.evaluation import as_fitted


def _print(table: pd.DataFrame, t: pd.DataFrame, by: str) -> None:
    err = t["predicted_j"] / t["measured_j"] - 1
    high = t.assign(high=err > 0, key=t[by].astype(str)).groupby(["phase", "key"])["high"].mean()
    print(f"  {'phase':<10}{by:<14}{'n':>4}{'MAPE':>9}{'signed':>9}{'too high':>10}")
    order = sorted(table.index, key=lambda k: (k[0], k[1] == "ALL",
                                               int(k[1]) if k[1].isdigit() else k[1]))
    for phase, key in order:
        r = table.loc[(phase, key)]
        share = (err[t["phase"] == phase] > 0).mean() if key == "ALL" else high[(phase, key)]
        print(f"  {phase:<10}{key:<14}{int(r.n):>4}{100 * r.abs_err:>8.1f}%"
              f"{100 * r.err:>+8.1f}%{100 * share:>9.0f}%")


def main(argv: list[str] | None = None) -> int:
    """Print the as-is errors of the predictor on the networks measured after it."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="dataset directory")
    ap.add_argument("--predictor", required=True, help="predictor directory")
    ap.add_argument("--after", default=None,
                    help="only networks measured after this UTC time (default: when the "
                         "predictor was fitted, its created_utc)")
    args = ap.parse_args(argv)
    predictor = artifacts.load(args.predictor)
    after = pd.Timestamp(args.after or predictor.metadata["created_utc"])
    after = after.tz_localize("UTC") if after.tzinfo is None else after
    raw = one_machine(read_dataset(args.data), None, where=str(args.data))
    df, _ = as_fitted(raw, predictor.metadata)
    t = transfer_rows(df[df["timestamp"] > after], predictor)
    if t.empty:
        print(f"no whole network in {args.data} was measured after {after.isoformat()}")
        return 1
    print(f"{args.predictor} as is on the {len(t)} whole networks of {args.data} measured after "
          f"{after.isoformat()} (first {t['timestamp'].min():%Y-%m-%d %H:%M}, last "
          f"{t['timestamp'].max():%Y-%m-%d %H:%M} UTC); J per call, energy from "
          f"{predictor.method}")
    if (unpriced := int(t["unpriced_leaves"].sum())) > 0:
        print(f"  {unpriced} leaf calls have no regressor: those totals are lower bounds")
    for by in ("batch_size", "architecture"):
        _print(scores(t, 1.0, by=by), t, by)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
