"""CorrectedRegressor: a learned factor on a linear base, sane outside its range; candidate guard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from synthetic import dataset

from energypred import artifacts
from energypred.estimators import CorrectedRegressor
from energypred.fitting import _admissible, fit_models
from energypred.predictor import Predictor


def _frame(macs: np.ndarray, batch: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"macs": macs.astype(float), "batch_size": batch.astype(float)})


def _estimator() -> CorrectedRegressor:
    base = make_pipeline(ColumnTransformer([("w", "passthrough", ["macs"])]),
                         LinearRegression(positive=True, fit_intercept=False))
    return CorrectedRegressor(base, HistGradientBoostingRegressor(max_iter=100),
                              {"linearregression__sample_weight": "relative"})


def test_corrected_regressor_learns_a_shape_factor_and_extrapolates_like_its_base() -> None:
    # law: 2 nJ per MAC at batch 1, 1 nJ per MAC at batch >= 8; the linear base alone can
    # only fit one slope between the two, the trees learn the factor per batch
    rng = np.random.default_rng(0)
    macs = 10 ** rng.uniform(4, 8, 400)
    batch = rng.choice([1, 8, 16], 400)
    y = macs * np.where(batch == 1, 2e-9, 1e-9)
    est = _estimator()
    assert est.fit(_frame(macs, batch), y) is est  # fit returns self
    assert np.max(np.abs(est.predict(_frame(macs, batch)) / y - 1)) < 0.02
    base_err = np.abs(est.base_.predict(_frame(macs, batch)) / y - 1)
    assert np.max(base_err) > 0.2  # the factor is doing the work
    # 1e10 MACs lies 100x beyond the fitted range: the factor of the edge is kept and the
    # linear base grows 100x, so 1e10 x 1 nJ = 10 J at batch 16
    far = est.predict(_frame(np.array([1e8, 1e10]), np.array([16, 16])))
    assert far[1] / far[0] == pytest.approx(100.0)
    assert far[1] == pytest.approx(10.0, rel=0.02)


def test_corrected_regressor_refuses_non_positive_targets() -> None:
    with pytest.raises(ValueError, match="positive"):
        _estimator().fit(_frame(np.array([1.0, 2.0]), np.array([1, 1])), np.array([1.0, 0.0]))


def test_candidates_that_break_on_random_layers_are_not_admissible() -> None:
    # best random-layer MAPE 0.2 -> at most 2 x 0.2 = 0.4 allowed: 1e50 (a blown-up
    # polynomial) and 0.41 are out, 0.2 and 0.4 stay
    random = {"a": 0.2, "b": 0.4, "c": 0.41, "d": 1e50}
    assert _admissible(random, dict.fromkeys(random)) == ["a", "b"]
    assert _admissible({}, {"a": None}) == ["a"]  # no random rows: every candidate


def test_corrected_candidate_survives_a_save_load_round_trip(tmp_path: Path) -> None:
    data = dataset()
    fitted = Predictor(fit_models(data, candidates=["corrected"]),
                       metadata={"target": "energy_j", "measurement_method": "synthetic law"})
    # layer types with fewer rows than the candidate needs fall back to counts
    assert "corrected" in {m.candidate for m in fitted.models.values()}
    loaded = artifacts.load(artifacts.save(fitted, tmp_path / "p"))
    rows = data[data.row_kind.isin(["layer", "arch_layer"])]
    np.testing.assert_array_equal(fitted.predict_rows(rows, "inference"),
                                  loaded.predict_rows(rows, "inference"))
