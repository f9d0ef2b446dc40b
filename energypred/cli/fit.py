"""``energypred fit``: fit per-layer-type regressors on a dataset and save them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from energypred import artifacts
from energypred.dataset import (dataset_hash, one_allocator, one_machine, read_dataset,
                                shifted_runs)
from energypred.context_report import context_lines
from energypred.context_fit import ALL_TERMS, TERMS, fit_context, llc_for, parse_terms
from energypred.machine_check import reference_metadata
from energypred.drift import corrected
from energypred.errors import ConfigError
from energypred.faulted import MAX_FAULT_SHARE, FaultRule, without_faulted
from energypred.fitting import fit_models
from energypred.measurement.meter import Methods
from energypred.predictor import Predictor
from energypred.schema import PADDED_ALLOCATOR
from energypred.windows import POOLS, steady_state


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``fit``."""
    p.add_argument("--data", required=True, type=Path, help="dataset directory")
    p.add_argument("--out", required=True, type=Path, help="predictor directory to write")
    p.add_argument("--target", default="energy_j",
                   help="energy column to predict: energy_j (cpu+ram+gpu, default), cpu_energy_j")
    p.add_argument("--drift-correct", action="store_true",
                   help="rescale each row by the reference workload measured near it in time, "
                        "to the dataset's median reference (energypred/drift.py)")
    p.add_argument("--context-terms", default=",".join(TERMS),
                   help=f"terms of the network context, a comma list of {','.join(ALL_TERMS)} "
                        f"(default {','.join(TERMS)}; energypred/context.py says what each "
                        "prices)")
    p.add_argument("--all-windows", action="store_true",
                   help="use every measured window (default: the first window of each "
                        "measurement counts as warm-up, see energypred/windows.py)")
    p.add_argument("--whole-pool", choices=POOLS, default="mean",
                   help="a whole network's energy from its pooled measurements: the mean of "
                        "their windows (default) or the median of the measurements "
                        "(energypred/windows.py)")
    add_hardware_argument(p)
    add_llc_argument(p)


def add_hardware_argument(p: argparse.ArgumentParser) -> None:
    """``--hardware-id``: pick one machine's rows of a dataset that holds several."""
    p.add_argument("--hardware-id", default=None,
                   help="use only the rows measured on this machine (a dataset mixing machines "
                        "is refused without it)")


def add_llc_argument(p: argparse.ArgumentParser) -> None:
    """``--llc-mib``: the LLC of the machine that measured the data, for rows that did not
    record it (before schema 6) fitted on another machine (``context_fit.llc_for``)."""
    p.add_argument("--llc-mib", type=float, default=None,
                   help="L3 cache of the machine that measured the data, MiB (default: what "
                        "its rows recorded, or this machine's if they were measured here)")


def llc_bytes_of(args: argparse.Namespace) -> int | None:
    """``--llc-mib`` in bytes, or None when it was not given."""
    return None if args.llc_mib is None else int(args.llc_mib * 2**20)


def dataset_metadata(df: pd.DataFrame) -> dict[str, Any]:
    """Hardware and measurement method of a dataset's measured rows (for predictor metadata)."""
    ok = df[df["status"] == "ok"]
    first = ok.iloc[0]
    combos = ok.drop_duplicates(["meter", "cpu_method", "ram_method", "gpu_method"])
    methods = "; ".join(Methods(r.meter, r.cpu_method, r.ram_method, r.gpu_method,
                                r.cpu_tdp_w if pd.notna(r.cpu_tdp_w) else None,
                                bool(r.is_estimate)).describe() for r in combos.itertuples())
    hw = {k: (first[k].item() if hasattr(first[k], "item") else first[k])
          for k in ("hardware_id", "cpu_model", "cpu_cores", "ram_gb", "gpu_model", "os")}
    if pd.notna(first.get("cpu_signature")):
        hw["cpu_signature"] = str(first["cpu_signature"])
    return {"hardware": hw, "measurement_method": methods, "threads": int(first["threads"]),
            "allocator": one_allocator(ok), "reference": reference_metadata(ok),
            "torch_version": str(first["torch_version"]),
            "codecarbon_version": str(first["codecarbon_version"])}


def format_scores(predictor: Predictor) -> list[str]:
    """One line per (phase, layer type): chosen candidate and held-out metrics."""
    lines = [f"{'phase/layer type':<30}{'n':>6}  {'model':<8}{'CV MAPE':>9}   "
             f"{'random held-out: R2 / MAPE / ±10%':<36}{'arch layers held-out: R2 / MAPE / ±10%'}"]

    def fmt(s: dict[str, Any] | None) -> str:
        if not s:
            return f"{'-':<36}"
        return f"{s['r2']:7.3f} / {100 * s['mape']:6.1f} % / {100 * s['within_10']:5.1f} %     "

    for key, m in sorted(predictor.models.items()):
        cv = m.scores["cv_mape"][m.candidate]
        lines.append(f"{key:<30}{m.n_rows:>6}  {m.candidate:<8}{100 * cv:8.1f} %   "
                     f"{fmt(m.scores.get('random_held_out'))}"
                     f"{fmt(m.scores.get('arch_layers_held_out'))}")
    return lines


def _warn_faulted(df: pd.DataFrame) -> None:
    """Warn about kept measurements that page-faulted although made with the padded allocator
    (measurement/allocator.py; the faulted ones are already left out): their energy includes
    a little work the layer does not do."""
    ok = df[(df["status"] == "ok") & (df["allocator"] == PADDED_ALLOCATOR)]
    bad = ok[ok["minor_faults_per_call"] >= 1]
    if len(bad):
        kinds = ", ".join(sorted(bad["layer_type"].dropna().unique()))
        print(f"warning: {len(bad)} of {len(ok)} measurements made with the padded allocator "
              f"still took page faults (median {bad['minor_faults_per_call'].median():,.0f} per "
              f"call; {kinds}); their faults cost at most {100 * MAX_FAULT_SHARE:g} % of a call, "
              f"so they are fitted as they are", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Fit, print the per-layer-type metrics, save."""
    terms = parse_terms(args.context_terms)
    if args.all_windows and args.whole_pool != "mean":
        raise ConfigError(f"--whole-pool {args.whole_pool} pools the steady windows; it cannot "
                          "be combined with --all-windows")
    df = one_machine(read_dataset(args.data), args.hardware_id, where=str(args.data))
    llc = llc_for(df, llc_bytes_of(args))  # before any fitting: it can refuse the data
    for r in shifted_runs(df).itertuples():
        print(f"warning: run {r.run_id} read the reference workload at {r.reference_j:.4g} J per "
              f"call, {r.ratio:.2f}x the dataset's median: the machine was in another state; "
              f"its rows are fitted as they are", file=sys.stderr)
    rule = FaultRule()
    kept, note = without_faulted(df, rule)
    if note:
        print(f"note: {note}", file=sys.stderr)
    _warn_faulted(kept)
    data = kept if args.all_windows else steady_state(kept, pool=args.whole_pool)
    data = corrected(data) if args.drift_correct else data
    predictor = Predictor(fit_models(data, target=args.target), source=str(args.out))
    ctx = fit_context(data, llc, args.target, terms=terms)
    predictor.metadata.update(dataset_metadata(df), target=args.target, context=ctx.to_dict(),
                              drift_corrected=bool(args.drift_correct),
                              left_out_faulted={"rows": int(len(df) - len(kept)),
                                                **rule.to_dict()},
                              **({"drift_footing": "dataset"} if args.drift_correct else {}),
                              steady_state=not args.all_windows,
                              **({"whole_pool": args.whole_pool}
                                 if args.whole_pool != "mean" else {}),
                              dataset={"path": str(args.data), "sha256": dataset_hash(args.data),
                                       "rows": int(len(df)),
                                       "hardware_id": args.hardware_id})
    print("\n".join(format_scores(predictor)))
    for line in context_lines(ctx):
        print(line)
    artifacts.save(predictor, args.out)
    print(f"saved predictor to {args.out} (target {args.target}; energy from "
          f"{predictor.method})")
    return 0
