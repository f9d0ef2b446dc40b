"""Benchmark the generator: configurations per hour, time inside windows, repeat CV, drift.

Either runs a fresh, timed generate (default: realistic sampler, all layer types, both phases)
into a temporary directory, or analyses an existing dataset (``--dataset DIR``). Run it on a
quiet machine: CodeCarbon's estimate here follows machine-wide load.

Wall time per row = time since the previous row of the same run (so per-sampler rates include
their share of overheads); inside-window time = window_s x repeats (+ the reference and idle
windows). Targets (issue 2): >= 1,000 realistic configurations/hour, >= 90 % of wall time inside
windows, median repeat CV <= 3 %.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from energypred import read_dataset
from energypred.cli.generate import parse_duration
from energypred.generate import GenerateOptions, generate
from energypred.layers import SAMPLED_LAYER_TYPES


def analyse(df: pd.DataFrame) -> None:
    """Print the benchmark figures of every run in a dataset."""
    df = df.sort_values("timestamp")
    for run_id, run in df.groupby("run_id", sort=False):
        run = run.copy()
        run["gap_s"] = run["timestamp"].diff().dt.total_seconds()
        wall = run["gap_s"].sum()
        inside = (run["window_s"].fillna(0) * run["repeats"].fillna(0)).sum()
        idle = run[run.row_kind == "idle"]["duration_s"].sum()
        print(f"run {run_id}: {len(run)} rows over {wall / 60:.1f} min of wall time "
              f"({run.threads.iloc[0]} threads, window {run.window_s.median():.2f} s median, "
              f"{int(run.repeats.max())} repeats)")
        print(f"  inside measurement windows: {100 * (inside + idle) / wall:.1f} % of wall time")
        measured = run[run.row_kind.isin(["layer", "arch_layer", "architecture"])]
        for sampler, part in measured.groupby("sampler"):
            ok = part[part.status == "ok"]
            hours = part["gap_s"].sum() / 3600
            print(f"  {sampler:<12} {len(ok) / hours:7.0f} configurations/hour measured "
                  f"({len(ok)} ok, {int((part.status == 'skipped').sum())} skipped, "
                  f"{int((part.status == 'failed').sum())} failed, "
                  f"{100 * (part.window_s.fillna(0) * part.repeats.fillna(0)).sum() / part.gap_s.sum():.0f} % in windows)")
        ok = measured[measured.status == "ok"]
        print("  median repeat CV per layer type (all samplers / realistic only):")
        for lt, part in ok.groupby("layer_type"):
            real = part[part.sampler == "realistic"]["energy_cv"]
            r = f"{100 * real.median():5.2f} %" if len(real) else "    -  "
            print(f"    {lt:<18} {100 * part.energy_cv.median():5.2f} %  {r}  (n={len(part)})")
        print(f"  median repeat CV overall: {100 * ok.energy_cv.median():.2f} %")
        ref = run[run.row_kind == "reference"]
        if len(ref) > 1:
            e = ref["energy_j"]
            p5, p95 = e.quantile(0.05), e.quantile(0.95)
            print(f"  reference workload ({len(ref)} readings over "
                  f"{(ref.timestamp.max() - ref.timestamp.min()).total_seconds() / 60:.1f} min): "
                  f"median {e.median() * 1e3:.2f} mJ/call; 5th-95th percentile range "
                  f"{100 * (p95 - p5) / e.median():.1f} %, max-min {100 * (e.max() - e.min()) / e.median():.1f} %"
                  f" of the median; CV {100 * e.std() / e.mean():.1f} %")
        print(f"  method: {run.meter.iloc[0]} cpu={run.cpu_method.iloc[0]} "
              f"(TDP {run.cpu_tdp_w.iloc[0]} W) ram={run.ram_method.iloc[0]} "
              f"estimate={bool(run.is_estimate.iloc[0])}")


def main() -> None:
    """Run the benchmark (see module doc)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, help="analyse this dataset instead of generating")
    ap.add_argument("--time", default="5m", help="how long to generate (default 5m)")
    ap.add_argument("--sampler", default="realistic")
    ap.add_argument("--window-s", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.dataset:
        analyse(read_dataset(args.dataset))
        return
    with tempfile.TemporaryDirectory() as tmp:
        opts = GenerateOptions(out=Path(tmp) / "bench", layers=list(SAMPLED_LAYER_TYPES),
                               architectures=[], samplers=args.sampler.split(","),
                               phases=["inference", "training"], samples=10_000,
                               window_s=args.window_s, repeats=args.repeats,
                               max_time_s=parse_duration(args.time), progress=False)
        summary = generate(opts)
        print("\n".join(summary.lines()))
        analyse(read_dataset(opts.out))


if __name__ == "__main__":
    main()
