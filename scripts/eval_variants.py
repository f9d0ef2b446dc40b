"""Compare fitting variants on whole-model accuracy (each architecture held out).

Prints, per variant and phase, the whole-model MAPE, share within ±10 % and Spearman rank
correlation, so the choice of target, candidates and drift correction rests on measurements.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from energypred.dataset import read_dataset
from energypred.drift import corrected
from energypred.evaluation import evaluate
from energypred.windows import steady_state

#: name -> (candidates, drift correction, target, keep uniform-sampler rows, steady windows)
VARIANTS = {
    "all candidates, steady (default)": (None, False, "energy_j", True, True),
    "all candidates, every window": (None, False, "energy_j", True, False),
    "all candidates, drift-corrected": (None, True, "energy_j", True, True),
    "counts only": (["counts"], False, "energy_j", True, True),
    "log-log only": (["loglog1", "loglog2", "loglog3"], False, "energy_j", True, True),
    "all candidates, cpu energy only": (None, False, "cpu_energy_j", True, True),
    "all candidates, no uniform rows": (None, False, "energy_j", False, True),
}


def main() -> None:
    """Run every variant and print its summary."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("datasets/epyc-2c"))
    args = ap.parse_args()
    df = read_dataset(args.data)
    print(f"{'variant':<34}{'phase':<11}{'n':>4}{'MAPE':>8}{'±10%':>7}{'rho':>7}"
          f"{'additivity |mean|':>19}")
    for name, (cands, drift, target, uniform, steady) in VARIANTS.items():
        data = steady_state(df) if steady else df
        data = corrected(data) if drift else data
        if not uniform:
            data = data[data["sampler"] != "uniform"]
        s = evaluate(data, target=target, candidates=cands).summary()
        for (phase, arch), r in s.iterrows():
            if arch == "ALL":
                print(f"{name:<34}{phase:<11}{int(r.n):>4}{100 * r.mape_held_out:>7.1f}%"
                      f"{100 * r.within_10_held_out:>6.0f}%{r.spearman_held_out:>7.3f}"
                      f"{100 * r.additivity_mean_abs:>18.1f}%")
        for (phase, arch), r in s.iterrows():
            if arch != "ALL":
                print(f"    {arch:<30}{phase:<11}{int(r.n):>4}{100 * r.mape_held_out:>7.1f}%")


if __name__ == "__main__":
    main()
