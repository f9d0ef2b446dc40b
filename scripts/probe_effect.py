"""What the speed probe next to each measurement buys: whole-model error on the probed rows.

    python scripts/probe_effect.py --data datasets/zen4-2c-padded [--footing run]

Rows written since schema 5 carry the reference convolution's speed timed right before and
after them (``probe_s_per_call``, ``energypred/measurement/probe.py``). This script evaluates
the dataset three times, as ``energypred evaluate`` does (each architecture held out, steady
windows), with every row's energy (fitted rows and measured wholes alike):

    raw         as measured
    reference   rescaled by the reference workload read nearest in time (once a minute)
    probe       rescaled by the row's own probe where it has one, else as ``reference``
                (``drift.corrected(df, probe=True)``; ``fit --drift-correct`` uses
                ``reference``)

and prints, for the whole networks that were probed, per phase: held-out MAPE, share within
±10 % and additivity (sum of measured leaves / measured whole - 1, mean abs and signed). The
unprobed rows are fitted on in every case but not scored, so the three differ only in how
the probed rows and the refitted regressors were corrected. Energies are CodeCarbon
estimates where the dataset says so. ``--footing`` is what the corrections rescale to
(``drift.FOOTINGS``): the figures ``drift.py`` quotes were measured with ``--footing run``,
each run at its own median, before ``fit --drift-correct`` moved to the dataset's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from energypred.dataset import one_machine, read_dataset
from energypred.drift import FOOTINGS, corrected
from energypred.evaluation import evaluate
from energypred.windows import steady_state


def main(argv: list[str] | None = None) -> None:
    """Evaluate the three corrections and print the probed whole networks' figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("datasets/zen4-2c-padded"))
    ap.add_argument("--hardware-id", default=None)
    ap.add_argument("--footing", choices=FOOTINGS, default="dataset")
    args = ap.parse_args(argv)
    df = steady_state(one_machine(read_dataset(args.data, only_ok=True), args.hardware_id))
    probed = df[(df["row_kind"] == "architecture") & df["probe_s_per_call"].notna()]
    keys = set(zip(probed["config_hash"], probed["phase"], strict=True))
    print(f"{args.data}: {len(df)} rows, {len(probed)} probed whole networks "
          f"({', '.join(f'{p} {n}' for p, n in probed['phase'].value_counts().items())})")
    print(f"{'correction':<11}{'phase':<11}{'n':>4}{'MAPE':>8}{'±10%':>7}"
          f"{'additivity |mean|':>19}{'(signed)':>10}")
    for name, data in (("raw", df), ("reference", corrected(df, footing=args.footing)),
                       ("probe", corrected(df, probe=True, footing=args.footing))):
        rows = evaluate(data).rows
        mine = rows[[(h, p) in keys for h, p in zip(rows["config_hash"], rows["phase"],
                                                      strict=True)]]
        for phase, g in mine.groupby("phase"):
            print(f"{name:<11}{phase:<11}{len(g):>4}{100 * g['abs_err_held_out'].mean():>7.1f}%"
                  f"{100 * (g['abs_err_held_out'] <= 0.10).mean():>6.0f}%"
                  f"{100 * g['additivity'].abs().mean():>18.1f}%"
                  f"{100 * g['additivity'].mean():>+9.1f}%")


if __name__ == "__main__":
    main()
