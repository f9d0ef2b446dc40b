"""Compare fitting variants on whole-model accuracy (each architecture held out).

Prints, per variant and phase, the whole-model MAPE, share within ±10 % and Spearman rank
correlation, so the choice of target, candidates and drift correction rests on measurements.

    python scripts/eval_variants.py --data datasets/zen4-2c-padded [--only footing]

``--only`` runs the variants whose name contains that text (each takes about 2.5 minutes on
these 2-core VMs). Energies are J per call, CodeCarbon's figures as the dataset records them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from energypred.dataset import read_dataset
from energypred.drift import corrected
from energypred.evaluation import evaluate
from energypred.windows import steady_state

#: name -> (candidates, drift footing or None for no drift correction, target, keep
#: uniform-sampler rows, steady windows)
VARIANTS: dict[str, tuple[list[str] | None, str | None, str, bool, bool]] = {
    "all candidates, steady": (None, None, "energy_j", True, True),
    "all candidates, every window": (None, None, "energy_j", True, False),
    "drift-corrected, run footing": (None, "run", "energy_j", True, True),
    "drift-corrected, dataset footing": (None, "dataset", "energy_j", True, True),
    "counts only": (["counts"], None, "energy_j", True, True),
    "log-log only": (["loglog1", "loglog2", "loglog3"], None, "energy_j", True, True),
    "all candidates, cpu energy only": (None, None, "cpu_energy_j", True, True),
    "all candidates, no uniform rows": (None, None, "energy_j", False, True),
}


def main() -> None:
    """Run every variant and print its summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("datasets/epyc-2c"))
    ap.add_argument("--only", default="", help="run only variants whose name contains this")
    args = ap.parse_args()
    df = read_dataset(args.data)
    print(f"{'variant':<36}{'phase':<11}{'n':>4}{'MAPE':>8}{'±10%':>7}{'rho':>7}"
          f"{'additivity |mean|':>19}")
    for name, (cands, footing, target, uniform, steady) in VARIANTS.items():
        if args.only not in name:
            continue
        data = steady_state(df) if steady else df
        data = corrected(data, footing=footing) if footing else data
        if not uniform:
            data = data[data["sampler"] != "uniform"]
        s = evaluate(data, target=target, candidates=cands).summary()
        for (phase, arch), r in s.iterrows():
            if arch == "ALL":
                print(f"{name:<36}{phase:<11}{int(r.n):>4}{100 * r.mape_held_out:>7.1f}%"
                      f"{100 * r.within_10_held_out:>6.0f}%{r.spearman_held_out:>7.3f}"
                      f"{100 * r.additivity_mean_abs:>18.1f}%")
        for (phase, arch), r in s.iterrows():
            if arch != "ALL":
                print(f"    {arch:<32}{phase:<11}{int(r.n):>4}{100 * r.mape_held_out:>7.1f}%")


if __name__ == "__main__":
    main()
