"""``energypred evaluate``: whole-model error (architectures held out) and additivity."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from energypred import __version__, artifacts
from energypred.cli.fit import add_hardware_argument
from energypred.context_report import context_lines
from energypred.context_fit import terms_of
from energypred.dataset import dataset_hash, one_allocator, one_machine, read_dataset
from energypred.errors import ConfigError
from energypred.evaluation import PRECISE_SEM, as_fitted, evaluate, evaluation_llc
from energypred.plots import evaluation_plot
from energypred.streaming import evicted_j_per_byte


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``evaluate``."""
    p.add_argument("--data", required=True, type=Path, help="dataset directory")
    p.add_argument("--predictor", default=None, help="predictor directory (default: shipped)")
    p.add_argument("--plot", type=Path, default=None, help="write predicted-vs-measured PNG")
    p.add_argument("--record", action="store_true",
                   help="keep the held-out errors in the predictor's metadata, where predict "
                        "shows them as its expected error (needs --predictor, and the "
                        "dataset it was fitted on)")
    add_hardware_argument(p)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print per-architecture figures."""
    given = artifacts.load(args.predictor) if args.predictor else artifacts.load_default()
    data_hash = dataset_hash(args.data) if args.record else None
    if args.record and (problem := _record_problem(args, given.metadata, data_hash)):
        raise ConfigError(f"--record: {problem}")
    df, notes = as_fitted(
        one_machine(read_dataset(args.data), args.hardware_id, where=str(args.data)),
        given.metadata)
    for note in notes:
        print(note)
    ev = evaluate(df, given=given, target=given.target, progress=True)
    if ev.rows.empty:
        print(f"{args.data} has no measured whole-model rows to evaluate")
        return 1
    s = ev.summary()
    print(f"whole models in {args.data}: sum of per-layer predictions vs measured {given.target}")
    print(f"  energies in J per call, measured with allocator {one_allocator(df)}; the given "
          f"predictor's data: {given.method}")
    print("  held out = refitted without any layer of that architecture (network context: "
          f"{', '.join(terms_of(given.context))}); given = {given.source} as is")
    print(f"  {'phase':<10}{'architecture':<14}{'n':>3}{'MAPE held-out':>15}{'within ±10%':>13}"
          f"{'MAPE given':>12}{'additivity |mean|':>19}{'(signed)':>10}")
    for (phase, arch), r in s.iterrows():
        print(f"  {phase:<10}{arch:<14}{int(r.n):>3}{100 * r.mape_held_out:>14.1f}%"
              f"{100 * r.within_10_held_out:>12.0f}%{100 * r.mape_given:>11.1f}%"
              f"{100 * r.additivity_mean_abs:>18.1f}%{100 * r.additivity_mean:>+9.1f}%")
    print("  additivity = sum of the separately measured leaves / measured whole - 1")
    for (phase, arch), r in s.iterrows():
        if arch == "ALL":
            print(f"  {phase:<10} additivity with the network context added to the measured "
                  f"leaves (context fitted held out): |mean| "
                  f"{100 * r.additivity_context_mean_abs:.1f} %")
    for (phase, arch), r in s.iterrows():
        if arch == "ALL" and r.whole_sem_mean == r.whole_sem_mean:
            print(f"  {phase:<10} the measured wholes' own standard error (spread of their "
                  f"measurements, {int(r.whole_sem_n)} measured more than once): mean "
                  f"{100 * r.whole_sem_mean:.1f} %, so a predictor of "
                  f"their true energy would score about {100 * r.noise_floor:.1f} % MAPE")
    print(f"by how precisely the whole was measured (precise: its own standard error <= "
          f"{100 * PRECISE_SEM:.0f} %; once: not known):")
    for (phase, kind), r in ev.by_precision().iterrows():
        print(f"  {phase:<10}{kind:<10} n {int(r.n):>3}, MAPE held-out "
              f"{100 * r.mape_held_out:.1f} %, mean signed {100 * r.mean_err:+.1f} %, "
              f"additivity (signed) {100 * r.additivity_mean:+.1f} %")
    print("by whole-model protocol (bracketed = whole measured before and after its leaves; "
          "interleaved = also between them, bracket.py):")
    for (phase, proto, arch), r in ev.by_protocol().iterrows():
        drift = ("" if r.bracket_drift_mean_abs != r.bracket_drift_mean_abs else
                 f", whole first vs last |drift| {100 * r.bracket_drift_mean_abs:.1f} %")
        print(f"  {phase:<10}{proto:<20}{arch:<9} n {int(r.n):>3}, MAPE held-out "
              f"{100 * r.mape_held_out:.1f} %, additivity |mean| "
              f"{100 * r.additivity_mean_abs:.1f} %{drift}")
    print("by batch size (samples per call):")
    for (phase, batch), r in ev.by_batch().iterrows():
        print(f"  {phase:<10} batch {int(batch):>4}  n {int(r.n):>3}, MAPE held-out "
              f"{100 * r.mape_held_out:.1f} %, mean signed {100 * r.mean_err:+.1f} %, within "
              f"±10 % {100 * r.within_10_held_out:.0f} %")
    print("by run (each run finds the machine in its own state; offset = the run's mean "
          "signed error):")
    for (phase, run_id), r in ev.by_run().iterrows():
        print(f"  {phase:<10}{run_id:<30} n {int(r.n):>3}, offset {100 * r.mean_err:+5.1f} %, "
              f"MAPE held-out {100 * r.mape_held_out:.1f} %, without the offset "
              f"{100 * r.mape_within:.1f} %")
    for phase, v in ev.within_runs().items():
        print(f"  {phase:<10} MAPE held-out with each run's offset taken out: {100 * v:.1f} %")
    for phase, r in ev.faults().iterrows():
        print(f"  {phase:<10} minor page faults per call (n {int(r.n)}): whole network "
              f"{r.whole:,.0f}, its leaves summed {r.leaves:,.0f} (measurement/allocator.py)")
    net = ev.in_network()
    if not net.empty:
        print("additivity with the leaves in network conditions (weights that fit the cache "
              "evicted before each call):")
        for phase, r in net.iterrows():
            print(f"  {phase:<10} n {int(r.n):>3}: leaves alone |mean| "
                  f"{100 * r.alone_mean_abs:.1f} % (signed {100 * r.alone_mean:+.1f} %), "
                  f"in network conditions |mean| {100 * r.evicted_mean_abs:.1f} % "
                  f"(signed {100 * r.evicted_mean:+.1f} %)")
    measured_k = evicted_j_per_byte(df, evaluation_llc(df, given), given.target)
    ctx = given.context
    for phase, (k, n) in sorted(measured_k.items()):
        print(f"  {phase:<10} weights re-read, leaf by leaf (evicted - alone, median of {n} "
              f"leaves weighted by cached bytes): {1e9 * k:.3f} nJ per cached weight byte")
    for line in context_lines(ctx):
        print(f"  predictor's {line}")
    print("ranking the whole models (Spearman correlation with the measurements) and error:")
    for (phase, arch), r in s.iterrows():
        if arch != "ALL":
            continue
        print(f"  {phase:<10} learned (held out): rho {r.spearman_held_out:.3f}, MAPE "
              f"{100 * r.mape_held_out:.1f} %;  theoretical (Horowitz 45 nm): rho "
              f"{r.spearman_theory:.3f}, MAPE {100 * r.mape_theory:.1f} %")
    if args.plot:
        print(f"wrote {evaluation_plot(ev, args.plot)}")
    if args.record:
        block = {"dataset_sha256": data_hash, "dataset": str(args.data),
                 "evaluated_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "energypred_version": __version__, "phases": ev.record()}
        path = artifacts.record_evaluation(args.predictor, block)
        print(f"recorded the held-out errors in {path}")
    return 0


def _record_problem(args: argparse.Namespace, meta: dict[str, Any], data_hash: str | None
                    ) -> str | None:
    """Why the errors cannot be recorded as the predictor's own (None: they can);
    ``data_hash`` is ``dataset_hash`` of ``args.data``."""
    if not args.predictor:
        return "name the predictor directory to write to with --predictor"
    fitted_on = (meta.get("dataset") or {}).get("sha256")
    if fitted_on != data_hash:
        return (f"{args.predictor} was fitted on other data than {args.data} (dataset hash "
                f"{str(fitted_on)[:12]}, here {str(data_hash)[:12]}); refit it on this "
                "dataset first")
    return None
