"""Compare fitting variants on whole-model accuracy (each architecture held out).

Prints, per variant and phase, the whole-model MAPE, share within ±10 % and Spearman rank
correlation, so the choice of target, candidates and drift correction rests on measurements.

    python scripts/eval_variants.py --data datasets/zen4-2c-padded [--only footing]

``--only`` runs the variants whose name contains that text (each takes about 2.5 minutes on
these 2-core VMs). Energies are J per call, CodeCarbon's figures as the dataset records them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from energypred.dataset import read_dataset
from energypred.drift import corrected
from energypred.evaluation import evaluate
from energypred.windows import steady_state


@dataclass(frozen=True)
class Variant:
    """One way of fitting: regressor candidates (None: all), drift footing (None: no drift
    correction), target column, whether uniform-sampler rows are kept, steady windows or every
    window, and how a whole network's measurements are pooled (windows.POOLS)."""

    candidates: list[str] | None = None
    footing: str | None = None
    target: str = "energy_j"
    uniform: bool = True
    steady: bool = True
    pool: str = "mean"


VARIANTS: dict[str, Variant] = {
    "all candidates, steady": Variant(),
    "all candidates, every window": Variant(steady=False),
    "drift-corrected, run footing": Variant(footing="run"),
    "drift-corrected, dataset footing": Variant(footing="dataset"),
    "drift-corrected, dataset footing, median of wholes": Variant(footing="dataset",
                                                                   pool="median"),
    "counts only": Variant(candidates=["counts"]),
    "log-log only": Variant(candidates=["loglog1", "loglog2", "loglog3"]),
    "all candidates, cpu energy only": Variant(target="cpu_energy_j"),
    "all candidates, no uniform rows": Variant(uniform=False),
}


def _against_mean_pool(df: pd.DataFrame, v: Variant, rows: pd.DataFrame) -> None:
    """Print the variant's held-out predictions scored against the wholes pooled by their
    mean (the default), so a change of pooling is not judged only on its own measurements."""
    ref = steady_state(df)
    ref = corrected(ref, footing=v.footing) if v.footing else ref
    ref = ref[(ref["row_kind"] == "architecture") & (ref["status"] == "ok")]
    mean_j = ref.groupby(["config_hash", "phase"])[v.target].mean()
    measured = mean_j.reindex(pd.MultiIndex.from_frame(rows[["config_hash", "phase"]]))
    err = rows["predicted_held_out_j"].to_numpy() / measured.to_numpy() - 1
    for phase in sorted(rows["phase"].unique()):
        mine = (rows["phase"] == phase).to_numpy()
        print(f"    {'against the mean-pooled wholes':<48}{phase:<11}{int(mine.sum()):>4}"
              f"{100 * abs(err[mine]).mean():>7.1f}%  "
              f"(mean signed {100 * err[mine].mean():+.1f} %)")


def main() -> None:
    """Run every variant and print its summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("datasets/epyc-2c"))
    ap.add_argument("--only", default="", help="run only variants whose name contains this")
    args = ap.parse_args()
    df = read_dataset(args.data)
    print(f"{'variant':<52}{'phase':<11}{'n':>4}{'MAPE':>8}{'±10%':>7}{'rho':>7}"
          f"{'additivity |mean|':>19}")
    for name, v in VARIANTS.items():
        if args.only not in name:
            continue
        data = steady_state(df, pool=v.pool) if v.steady else df
        data = corrected(data, footing=v.footing) if v.footing else data
        if not v.uniform:
            data = data[data["sampler"] != "uniform"]
        ev = evaluate(data, target=v.target, candidates=v.candidates)
        s = ev.summary()
        for (phase, arch), r in s.iterrows():
            if arch == "ALL":
                print(f"{name:<52}{phase:<11}{int(r.n):>4}{100 * r.mape_held_out:>7.1f}%"
                      f"{100 * r.within_10_held_out:>6.0f}%{r.spearman_held_out:>7.3f}"
                      f"{100 * r.additivity_mean_abs:>18.1f}%")
        for (phase, arch), r in s.iterrows():
            if arch != "ALL":
                print(f"    {arch:<48}{phase:<11}{int(r.n):>4}{100 * r.mape_held_out:>7.1f}%")
        if v.pool != "mean" and v.steady:
            _against_mean_pool(df, v, ev.rows)


if __name__ == "__main__":
    main()
