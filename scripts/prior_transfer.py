"""Can a small, noisy dataset borrow the shape of its regressors from another machine's?

    python scripts/prior_transfer.py --data datasets/zen3-2c-padded \
        --predictor models/zen3-2c-padded --base datasets/zen4-2c-padded \
        --base-predictor models/zen4-2c-padded

A machine with one run of data (the Zen 3 VM: 2,965 rows) fits its per-layer regressors on few,
noisy rows. Another machine's dataset (``--base``, many runs) knows how energy varies with a
layer's shape; what differs between the machines might be a few factors. For each architecture
A held out, as ``energypred evaluate`` does::

    own        the regressors fitted on --data without A (what evaluate scores)
    x const    the regressors fitted on --base without A, times one factor per (phase, layer
               type): the median of measured / base prediction over --data's rows without A
    x linear   the same, the log factor a ridge line in the log features (RidgeCV), fitted on
               the same rows: a factor that may drift with size
    blend      the geometric mean of own and x linear

Each sum is completed by the network context fitted on --data without A, with the terms and
cache of ``--predictor``'s (as evaluate does). Prints per (phase, architecture) the held-out
whole-model MAPE and mean signed error of each, and the held-out MAPE on A's measured leaves
per layer type. Energies are J per call in each predictor's convention (``as_fitted``:
steady windows, drift-corrected if it was), CodeCarbon estimates wherever the data says so.
A layer type the base has no regressor for falls back to own (counted in the output).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from energypred import artifacts
from energypred.configs import ArchConfig
from energypred.context_fit import terms_of
from energypred.dataset import one_machine, read_dataset
from energypred.evaluation import (as_fitted, evaluation_llc, held_out_predictor, leaf_rows,
                                   predict_whole)
from energypred.features import all_features
from energypred.fitting import LayerModel, fit_models, training_rows
from energypred.measurement import workloads as wl
from energypred.predictor import Predictor

VARIANTS = ("own", "x const", "x linear", "blend")


class Calibrated:
    """A base regressor times exp(log factor): ``factor`` a float (log) or a fitted pipeline
    of the layer type's features; ``own`` (optional) is blended in geometrically."""

    def __init__(self, base: LayerModel, factor: float | Pipeline, cols: list[str],
                 own: LayerModel | None = None) -> None:
        self.base, self.factor, self.cols, self.own = base, factor, cols, own

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Energy per call, J."""
        log_f = (np.full(len(X), self.factor) if isinstance(self.factor, float)
                 else self.factor.predict(X[self.cols]))
        pred = self.base.predict(X[self.base.features]) * np.exp(log_f)
        if self.own is not None:
            pred = np.sqrt(pred * self.own.predict(X[self.own.features]))
        return pred


def _line() -> Pipeline:
    return make_pipeline(FunctionTransformer(np.log1p), StandardScaler(),
                         RidgeCV(alphas=np.logspace(-2, 4, 13)))


def calibrated_models(rows: pd.DataFrame, base: dict[str, LayerModel],
                      own: dict[str, LayerModel], target: str
                      ) -> tuple[dict[str, dict[str, LayerModel]], list[str]]:
    """Per variant, the regressors keyed ``phase/type``; and the keys that fell back to own."""
    out: dict[str, dict[str, LayerModel]] = {v: {} for v in VARIANTS}
    fallback = []
    for key, m_own in own.items():
        out["own"][key] = m_own
        phase, lt = key.split("/")
        part = rows[(rows["phase"] == phase) & (rows["layer_type"] == lt)]
        m_base = base.get(key)
        if m_base is None or len(part) < 3:
            fallback.append(key)
            for v in VARIANTS[1:]:
                out[v][key] = m_own
            continue
        X = part[m_own.features].astype(float).fillna(0.0)
        log_r = np.log(part[target].to_numpy(float) / m_base.predict(X[m_base.features]))
        cols = all_features(lt)
        line = _line().fit(X[cols], log_r)
        for v, est in (("x const", Calibrated(m_base, float(np.median(log_r)), cols)),
                       ("x linear", Calibrated(m_base, line, cols)),
                       ("blend", Calibrated(m_base, line, cols, own=m_own))):
            out[v][key] = LayerModel(lt, phase, v, est, m_own.features, len(part), {})
    return out, fallback


def held_out(df: pd.DataFrame, base_df: pd.DataFrame, given: Predictor) -> tuple[pd.DataFrame,
                                                                                 pd.DataFrame]:
    """(one row per whole network: phase, architecture, measured J and each variant's
    prediction; one row per measured leaf of the held-out architectures: the same)."""
    target = given.target
    terms, llc = terms_of(given.context), evaluation_llc(df, given)
    whole = df[(df["row_kind"] == "architecture") & (df["status"] == "ok")]
    nets, leaves = [], []
    arch_layers = training_rows(df, target)
    arch_layers = arch_layers[arch_layers["row_kind"] == "arch_layer"]
    for arch, wrows in whole.groupby("architecture"):
        arch = str(arch)
        own_predictor, ctx = held_out_predictor(df, arch, llc, target, terms=terms)
        own = own_predictor.models
        base = fit_models(base_df, target, exclude_architectures=[arch])
        rows = training_rows(df, target, exclude_architectures=[arch])
        variants, fallback = calibrated_models(rows, base, own, target)
        print(f"without {arch}: {len(fallback)} layer types fell back to own"
              + (f" ({', '.join(fallback)})" if fallback else ""), flush=True)
        preds = {v: Predictor(m, metadata={"context": ctx.to_dict()}, source=v)
                 for v, m in variants.items()}
        for _, row in wrows.iterrows():
            cfg = ArchConfig.from_json(row["config_json"])
            traced = leaf_rows(wl.trace_arch(cfg))
            rec = {"phase": row["phase"], "architecture": arch, "batch_size": cfg.batch_size,
                   "measured_j": float(row[target])}
            for v, p in preds.items():
                rec[v] = predict_whole(p, traced, row["phase"])[0]
            nets.append(rec)
        mine = arch_layers[arch_layers["architecture"] == arch]
        for phase, part in mine.groupby("phase"):
            rec = {"phase": phase, "layer_type": part["layer_type"].to_numpy(),
                   "measured_j": part[target].to_numpy(float)}
            rec.update({v: p.predict_rows(part, str(phase)) for v, p in preds.items()})
            leaves.append(pd.DataFrame(rec))
    return pd.DataFrame(nets), pd.concat(leaves, ignore_index=True)


def _table(t: pd.DataFrame, keys: list[str]) -> None:
    print(f"  {'  '.join(f'{k:<12}' for k in keys)} {'n':>4}"
          + "".join(f"{v + ' MAPE (signed)':>26}" for v in VARIANTS))
    groups = list(t.groupby(keys)) + [((p,) + ("ALL",) * (len(keys) - 1), g)
                                      for p, g in t.groupby("phase")]
    for k, g in groups:
        cells = ""
        for v in VARIANTS:
            err = g[v] / g["measured_j"] - 1
            cells += f"{100 * err.abs().mean():>15.1f} % ({100 * err.mean():+6.1f})"
        print("  " + "  ".join(f"{str(x):<12}" for x in k) + f" {len(g):>4}" + cells)


def main(argv: list[str] | None = None) -> int:
    """Print held-out whole-model and leaf errors of the own and the calibrated regressors."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the small dataset")
    ap.add_argument("--predictor", required=True, help="its predictor (convention, context)")
    ap.add_argument("--base", type=Path, required=True, help="another machine's dataset")
    ap.add_argument("--base-predictor", required=True, help="its predictor (convention)")
    args = ap.parse_args(argv)
    given, base_given = artifacts.load(args.predictor), artifacts.load(args.base_predictor)
    df, _ = as_fitted(one_machine(read_dataset(args.data), None, where=str(args.data)),
                      given.metadata)
    base_df, _ = as_fitted(one_machine(read_dataset(args.base), None, where=str(args.base)),
                           base_given.metadata)
    nets, leaves = held_out(df, base_df, given)
    print(f"\n{args.data}, regressors from {args.base} calibrated on it; each architecture "
          f"held out from both; J per call ({given.method})\nwhole networks:")
    _table(nets, ["phase", "architecture"])
    _table(nets, ["phase", "batch_size"])
    print("measured leaves of the held-out architectures:")
    _table(leaves, ["phase", "layer_type"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
