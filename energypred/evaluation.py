"""Whole-model evaluation: sum of per-layer predictions vs the measured whole network.

Held out by architecture: to predict a VGG16 row, the regressors are refitted on the dataset
without any VGG16 leaf (``exclude_architectures``), so no layer of that network was seen.
Additivity of the measurements themselves (sum of a variant's separately measured leaves vs
its measured whole) is reported beside it, and again with the network-context term (fitted
without that architecture) added to the measured leaves: the error a perfect per-layer
regressor would leave.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from energypred import features, theory
from energypred.configs import ArchConfig
from energypred.context import Context
from energypred.context_fit import TERMS, fit_context, llc_for, terms_of
from energypred.dataset import network_leaves
from energypred.faulted import as_fitted_rows
from energypred.drift import corrected
from energypred.fitting import fit_models
from energypred.measurement import in_network
from energypred.measurement import workloads as wl
from energypred.predictor import Predictor
from energypred.tracing import TracedLayer
from energypred.windows import pooled_sem, steady_state

#: mean |error| of a normal error per unit of its standard deviation, sqrt(2 / pi): what a
#: predictor of the true energies would score against measurements with that standard error
NOISE_FLOOR_PER_SEM = float(np.sqrt(2 / np.pi))

#: a whole measured to within this standard error (fraction) counts as precisely measured: its
#: own noise alone costs at most about 0.8 x 2 = 1.6 % MAPE (``Evaluation.by_precision``)
PRECISE_SEM = 0.02


def as_fitted(df: pd.DataFrame, metadata: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """``df``'s energies in the convention a predictor's were fitted in (its ``metadata``):
    the same rows (faulted measurements left out by the rule its fit used:
    ``faulted.as_fitted_rows``), steady windows, drift-corrected on the same footing.
    Returns the rows and one line per step taken, to print."""
    df, note = as_fitted_rows(df, metadata)
    notes = [note] if note else []
    if metadata.get("steady_state", False):
        pool = str(metadata.get("whole_pool", "mean"))
        df = steady_state(df, pool=pool)
        notes.append("energies from the steady windows (first window of each measurement left "
                     "out), as the predictor's were"
                     + ("; a whole network's is the median of its measurements"
                        if pool == "median" else ""))
    if metadata.get("drift_corrected", False):
        # predictors fitted before drift_footing was recorded were corrected run by run
        footing = str(metadata.get("drift_footing", "run"))
        df = corrected(df, footing=footing)
        notes.append(f"energies drift-corrected with the reference workload ({footing} "
                     "footing), as the predictor was")
    return df, notes


def leaf_rows(traced: list[TracedLayer]) -> pd.DataFrame:
    """One row per traced leaf call, in the dataset's column layout."""
    rows = []
    for r in traced:
        if r.counts is None or r.layer_type is None:
            continue
        rows.append({"layer_type": r.layer_type,
                     **features.layer_columns(r.params, r.input_shape, r.output_shape,
                                              r.counts, r.input_requires_grad)})
    return pd.DataFrame(rows)


def theory_whole(traced: list[TracedLayer], phase: str, costs: theory.OpCosts) -> float:
    """Theoretical (elementary-operation) J of one call of a traced network."""
    return float(np.nansum([theory.layer_energy_j(r.layer_type, r.counts, costs, phase)
                            for r in traced]))


def predict_whole(predictor: Predictor, rows: pd.DataFrame, phase: str) -> tuple[float, int]:
    """(sum of per-leaf predictions + network context in J, leaves without a regressor)."""
    isolated, context = predictor.predict_network(rows, phase)
    return float(np.nansum(isolated) + np.sum(context)), int(np.isnan(isolated).sum())


def measured_context_j(ctx: Context, leaves: pd.DataFrame, target: str = "energy_j"
                       ) -> np.ndarray:
    """J of the network context per measured leaf of one network (``network_leaves`` rows of
    one phase), its streamed part priced from their measured J alone."""
    if leaves.empty:
        return np.zeros(0)
    return ctx.rows_energy_j(leaves, str(leaves["phase"].iloc[0]), leaves[target])


def held_out_predictor(df: pd.DataFrame, arch: str | Sequence[str], llc: int,
                       target: str = "energy_j", candidates: Sequence[str] | None = None,
                       context: bool = True, terms: Sequence[str] = TERMS
                       ) -> tuple[Predictor, Context]:
    """(regressors and, if ``context``, network context of ``terms`` refitted without any row
    of ``arch``, one architecture or several; that context, fitted either way): what predicts
    ``arch`` held out."""
    archs = [arch] if isinstance(arch, str) else list(arch)
    ctx = fit_context(df, llc, target, exclude_architectures=archs, terms=terms)
    predictor = Predictor(fit_models(df, target, exclude_architectures=archs,
                                     candidates=candidates),
                          metadata={"context": ctx.to_dict()} if context else {},
                          source=f"refit without {', '.join(archs)}")
    return predictor, ctx


@dataclass
class Evaluation:
    """Per whole-model row: measured and predicted J per call, errors and additivity;
    ``whole_sem`` is the measured whole's own standard error (fraction, NaN when it was
    measured once: ``windows.pooled_sem``)."""

    rows: pd.DataFrame

    def summary(self) -> pd.DataFrame:
        """MAPE, share within ±10 % and additivity per (phase, architecture) and overall."""
        def agg(g: pd.DataFrame) -> pd.Series:
            return pd.Series({
                "n": len(g), "mape_held_out": g["abs_err_held_out"].mean(),
                "within_10_held_out": (g["abs_err_held_out"] <= 0.10).mean(),
                "mape_given": g["abs_err_given"].mean() if "abs_err_given" in g else np.nan,
                "additivity_mean_abs": g["additivity"].abs().mean(),
                "additivity_mean": g["additivity"].mean(),
                "additivity_context_mean_abs": g["additivity_context"].abs().mean(),
                "whole_sem_n": int(g["whole_sem"].notna().sum()),
                "whole_sem_mean": g["whole_sem"].mean(),
                "noise_floor": NOISE_FLOOR_PER_SEM * g["whole_sem"].mean(),
                "spearman_held_out": _spearman(g["measured_j"], g["predicted_held_out_j"]),
                "spearman_theory": _spearman(g["measured_j"], g["theory_j"]),
                "mape_theory": g["abs_err_theory"].mean()})
        per = self.rows.groupby(["phase", "architecture"]).apply(agg, include_groups=False)
        overall = self.rows.groupby("phase").apply(agg, include_groups=False)
        overall.index = pd.MultiIndex.from_tuples([(p, "ALL") for p in overall.index])
        return pd.concat([per, overall]).sort_index()

    def by_run(self) -> pd.DataFrame:
        """Per (phase, ``run_id``): rows, mean signed held-out error (the run's offset: the
        machine's state in that run as the wholes felt it), held-out MAPE, and MAPE with the
        run's offset taken out (fractions)."""
        g = self.rows.dropna(subset=["run_id"])
        g = g.assign(within=g["err_held_out"]
                     - g.groupby(["phase", "run_id"])["err_held_out"].transform("mean"))
        return g.groupby(["phase", "run_id"]).agg(
            n=("measured_j", "size"), mean_err=("err_held_out", "mean"),
            mape_held_out=("abs_err_held_out", "mean"),
            mape_within=("within", lambda e: e.abs().mean()))

    def by_precision(self, max_sem: float = PRECISE_SEM) -> pd.DataFrame:
        """Per (phase, how precisely the whole was measured): rows, held-out MAPE, mean signed
        held-out error and mean signed additivity (fractions). ``precise``: its own standard
        error (``whole_sem``) at most ``max_sem``; ``imprecise``: more; ``once``: measured
        once, so not known. A disturbance on a shared machine only ever adds energy, so
        imprecise wholes are measured high (on the Zen 4 VM's 23,786 rows: mean signed held-out
        error -3.2 % for them at inference, +0.9 % for the precise ones); the precise ones show
        the predictor's error with the least noise in what it is compared with."""
        sem = self.rows["whole_sem"]
        kind = np.where(sem.isna(), "once", np.where(sem <= max_sem, "precise", "imprecise"))
        return self.rows.assign(precision=kind).groupby(["phase", "precision"]).agg(
            n=("measured_j", "size"), mape_held_out=("abs_err_held_out", "mean"),
            mean_err=("err_held_out", "mean"), additivity_mean=("additivity", "mean"))

    def by_batch(self) -> pd.DataFrame:
        """Per (phase, batch size): rows, held-out MAPE, mean signed held-out error and share
        within ±10 % (fractions); the shipped runs' networks reach batch 16 unless measured
        with ``generate --arch-batches``."""
        g = self.rows.assign(within=self.rows["abs_err_held_out"] <= 0.10)
        return g.groupby(["phase", "batch_size"]).agg(
            n=("measured_j", "size"), mape_held_out=("abs_err_held_out", "mean"),
            mean_err=("err_held_out", "mean"), within_10_held_out=("within", "mean"))

    def within_runs(self) -> pd.Series:
        """Per phase: held-out MAPE once each run's mean signed error is taken out (fraction),
        what the predictor's error would be if the machine had been in one state throughout."""
        r = self.by_run()
        weighted = (r["mape_within"] * r["n"]).groupby(level="phase").sum()
        return weighted / r["n"].groupby(level="phase").sum()

    def record(self) -> dict[str, dict[str, Any]]:
        """Per phase, what ``evaluate --record`` keeps in a predictor's metadata and
        ``predict`` shows as its expected error: networks (n), held-out MAPE overall and per
        architecture, share within ±10 %, MAPE with each run's offset taken out, the noise
        floor of the measured wholes, n and MAPE of the precisely measured ones
        (:meth:`by_precision`), MAPE per batch size (:meth:`by_batch`; fractions; None
        where not known) and the costliest measured whole (``max_measured_j``, J per call)."""
        s, within, precision = self.summary(), self.within_runs(), self.by_precision()
        batches = self.by_batch()
        out: dict[str, dict[str, Any]] = {}
        for phase in sorted(self.rows["phase"].unique()):
            total = s.loc[(phase, "ALL")]
            out[str(phase)] = {
                "n": int(total.n), "mape_held_out": _num(total.mape_held_out),
                "within_10_held_out": _num(total.within_10_held_out),
                "mape_within_runs": _num(within.get(phase, np.nan)),
                "noise_floor": _num(total.noise_floor),
                "precise_sem": PRECISE_SEM,
                "n_precise": int(_precise(precision, phase, "n") or 0),
                "mape_precise": _num(_precise(precision, phase, "mape_held_out")),
                "mape_by_architecture": {str(arch): _num(r.mape_held_out)
                                         for (p, arch), r in s.iterrows()
                                         if p == phase and arch != "ALL"},
                "mape_by_batch": {str(int(b)): _num(r.mape_held_out)
                                  for (p, b), r in batches.iterrows() if p == phase},
                "max_measured_j": _num(self.rows.loc[self.rows["phase"] == phase,
                                                     "measured_j"].max())}
        return out

    def in_network(self) -> pd.DataFrame:
        """Per phase, over the variants whose leaves were also measured with evicted weights:
        n, additivity with the leaves alone and in network conditions (mean |.| and mean)."""
        g = self.rows[self.rows["additivity_evicted"].notna()]
        return g.groupby("phase").agg(
            n=("measured_j", "size"),
            alone_mean_abs=("additivity", lambda a: a.abs().mean()),
            alone_mean=("additivity", "mean"),
            evicted_mean_abs=("additivity_evicted", lambda a: a.abs().mean()),
            evicted_mean=("additivity_evicted", "mean"))

    def faults(self) -> pd.DataFrame:
        """Per phase, over rows whose page faults were counted (schema 3): n, mean minor page
        faults per call of the whole network and of its leaves summed (counts)."""
        g = self.rows.dropna(subset=["whole_faults_per_call", "leaves_faults_per_call"])
        return g.groupby("phase").agg(n=("measured_j", "size"),
                                      whole=("whole_faults_per_call", "mean"),
                                      leaves=("leaves_faults_per_call", "mean"))

    def by_protocol(self) -> pd.DataFrame:
        """Per (phase, whole-model protocol, architecture, and ``ALL`` architectures): rows,
        held-out MAPE, additivity (mean |.|) and the bracketed and interleaved rows' mean
        |drift| between the first and last whole measurements (fractions)."""
        g = self.rows.assign(abs_additivity=self.rows["additivity"].abs(),
                             abs_drift=self.rows["bracket_drift"].abs())
        aggs = dict(n=("measured_j", "size"), mape_held_out=("abs_err_held_out", "mean"),
                    additivity_mean_abs=("abs_additivity", "mean"),
                    bracket_drift_mean_abs=("abs_drift", "mean"))
        per = g.groupby(["phase", "arch_protocol", "architecture"]).agg(**aggs)
        overall = g.groupby(["phase", "arch_protocol"]).agg(**aggs)
        overall.index = pd.MultiIndex.from_tuples([(p, q, "ALL") for p, q in overall.index])
        return pd.concat([per, overall]).sort_index()


def _precise(t: pd.DataFrame, phase: str, column: str) -> float | None:
    """``column`` of the precisely measured wholes of ``phase`` in a ``by_precision`` table,
    None when there are none."""
    return t.loc[(phase, "precise"), column] if (phase, "precise") in t.index else None


def _evicted_additivity(mine: pd.DataFrame, cfg: ArchConfig, traced: list[TracedLayer],
                        phase: str, llc: int, measured: float, target: str) -> float:
    """Sum of the leaves in network conditions (evicted-weight rows where the protocol
    measures them, the leaf alone elsewhere) / measured whole - 1; NaN unless every leaf and
    every evicted-weight leaf of the variant was measured."""
    leaves = in_network.arch_leaves(cfg, traced, phase)
    expected = len(in_network.evicted_leaves(leaves, llc))
    n_evicted = int((mine["row_kind"] == in_network.ROW_KIND).sum())
    if expected == 0 or n_evicted != expected or len(mine) != len(traced):
        return float("nan")
    return float(mine[target].sum() / measured - 1)


def _whole_sem(row: pd.Series) -> float:
    windows = row.get("energy_j_repeats")
    if windows is None or not hasattr(windows, "__len__"):
        return float("nan")
    return pooled_sem(windows, row.get("whole_measurements"))


def _protocol(row: pd.Series) -> str:
    p = row.get("arch_protocol")
    return p if isinstance(p, str) else "whole_before_leaves"


def _float(v: object) -> float:
    return float(v) if v is not None and pd.notna(v) else np.nan


def _num(v: object) -> float | None:
    """A float for JSON, None for missing or NaN."""
    f = _float(v)
    return f if np.isfinite(f) else None


def _spearman(a: pd.Series, b: pd.Series) -> float:
    if len(a) < 3:
        return float("nan")
    return float(a.rank().corr(b.rank()))


def evaluation_llc(df: pd.DataFrame, given: Predictor | None = None,
                   llc_bytes: int | None = None) -> int:
    """The LLC (bytes) held-out contexts are fitted up to: ``llc_bytes`` if given, else the
    one ``given``'s context was fitted with (so they repeat its fit on any machine), else
    :func:`energypred.context_fit.llc_for` of ``df``."""
    if llc_bytes is None and given is not None and given.metadata.get("context"):
        llc_bytes = given.context.llc_bytes
    return llc_for(df, llc_bytes)


def evaluate(df: pd.DataFrame, given: Predictor | None = None, target: str = "energy_j",
             candidates: Sequence[str] | None = None,
             costs: theory.OpCosts | None = None, progress: bool = False,
             context: bool = True, context_terms: Sequence[str] | None = None,
             llc_bytes: int | None = None) -> Evaluation:
    """Evaluate every measured whole-model row of ``df`` (see module doc).

    The held-out network context is fitted with ``context_terms``: by default those of
    ``given``'s context (``TERMS`` and its opt-in terms), or ``TERMS`` without ``given``; and
    up to an LLC of ``llc_bytes`` (bytes): by default the one ``given`` was fitted with, so the
    held-out fits repeat its own on any machine, or :func:`llc_for` of ``df`` without it.

    Besides the learned estimate (held out, and ``given`` as is), the theoretical estimate
    (elementary operations priced by ``costs``, default Horowitz 45 nm 32-bit) is computed for
    each row, so both can be compared on ranking (Spearman) and absolute error.
    """
    costs = costs or theory.load_costs()
    if context_terms is None:
        context_terms = terms_of(given.context) if given is not None else TERMS
    llc = evaluation_llc(df, given, llc_bytes)
    whole = df[(df["row_kind"] == "architecture") & (df["status"] == "ok")]
    leaves = network_leaves(df)
    in_net = network_leaves(df, evicted=True)
    out = []
    groups = list(whole.groupby("architecture"))
    for arch, rows in tqdm(groups, desc="refitting without each architecture", unit="arch",
                           disable=not progress, leave=False):
        held_out, ctx = held_out_predictor(df, str(arch), llc, target, candidates, context,
                                           context_terms)
        for _, row in rows.iterrows():
            cfg = ArchConfig.from_json(row["config_json"])
            traced = wl.trace_arch(cfg)
            rows_of_leaves = leaf_rows(traced)
            pred, missing = predict_whole(held_out, rows_of_leaves, row["phase"])
            measured = float(row[target])
            mine = leaves[(leaves["arch_hash"] == row["config_hash"])
                          & (leaves["phase"] == row["phase"])]
            additivity = (mine[target].sum() / measured - 1 if len(mine) == len(traced)
                          else np.nan)
            # the measured leaves plus the context term fitted without this architecture
            context_j = measured_context_j(ctx, mine, target).sum() if context else 0.0
            additivity_context = ((mine[target].sum() + context_j) / measured - 1
                                  if len(mine) == len(traced) else np.nan)
            additivity_evicted = _evicted_additivity(
                in_net[(in_net["arch_hash"] == row["config_hash"])
                       & (in_net["phase"] == row["phase"])], cfg, traced, row["phase"], llc,
                measured, target)
            th = theory_whole(traced, row["phase"], costs)
            rec = {"architecture": arch, "config_hash": row["config_hash"],
                   "phase": row["phase"], "batch_size": cfg.batch_size,
                   "resolution": cfg.resolution, "width_mult": cfg.width_mult,
                   "num_classes": cfg.num_classes, "measured_j": measured,
                   "predicted_held_out_j": pred, "unpriced_leaves": missing,
                   "err_held_out": (pred - measured) / measured,
                   "abs_err_held_out": abs(pred - measured) / measured,
                   "run_id": row.get("run_id"),
                   "additivity": additivity, "additivity_evicted": additivity_evicted,
                   "additivity_context": additivity_context,
                   "theory_j": th,
                   "arch_protocol": _protocol(row),
                   "whole_faults_per_call": _float(row.get("minor_faults_per_call")),
                   "leaves_faults_per_call": (
                       float(mine["minor_faults_per_call"].sum(min_count=len(mine)))
                       if len(mine) == len(traced) and "minor_faults_per_call" in mine
                       else np.nan),
                   "bracket_drift": row.get("bracket_drift", np.nan),
                   "whole_sem": _whole_sem(row),
                   "abs_err_theory": abs(th - measured) / measured}
            if given is not None:
                g, _ = predict_whole(given, rows_of_leaves, row["phase"])
                rec.update(predicted_given_j=g, abs_err_given=abs(g - measured) / measured)
            out.append(rec)
    return Evaluation(pd.DataFrame(out))
