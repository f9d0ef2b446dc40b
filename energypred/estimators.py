"""Regressors that are not stock scikit-learn parts (each a small, conventional estimator).

:class:`CorrectedRegressor` multiplies a physical base model (energy linear in MACs, bytes and
calls) by a learned factor: a tree ensemble fitted on log(measured / base). It has what a
polynomial in log space lacks: outside the range it was fitted on, the factor stays at its
nearest fitted value, so energy follows the base model's linear growth with work instead of a
cubic term off to 1e+100 (measured on the shipped data: degree-1 to 3 log-log fits of MaxPool2d
and ReLU gave MAPEs up to 1e+131 % on random layers held out).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone


class CorrectedRegressor(RegressorMixin, BaseEstimator):
    """energy = base(X) × exp(correction(X)): a physical base model (e.g. linear in MACs and
    bytes) times a learned factor, the correction fitted on log(y / base(X)).

    Outside the fitted range the correction stays at its edge value (with a tree ensemble),
    so the prediction follows the base model's extrapolation.
    """

    def __init__(self, base: Any = None, correction: Any = None,
                 base_fit_params: dict[str, Any] | None = None) -> None:
        self.base = base
        self.correction = correction
        self.base_fit_params = base_fit_params

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> CorrectedRegressor:
        """Fit the base on energies ``y`` (J, > 0), then the correction; returns self."""
        y = np.asarray(y, float)
        if np.any(y <= 0):
            raise ValueError("CorrectedRegressor needs positive targets")
        params = {k: (1.0 / y ** 2 if v == "relative" else v)
                  for k, v in (self.base_fit_params or {}).items()}
        self.base_ = clone(self.base).fit(X, y, **params)
        base = np.maximum(np.asarray(self.base_.predict(X), float), np.finfo(float).tiny)
        self.correction_ = clone(self.correction).fit(X, np.log(y / base))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Energy (J) per row."""
        base = np.maximum(np.asarray(self.base_.predict(X), float), np.finfo(float).tiny)
        return base * np.exp(np.asarray(self.correction_.predict(X), float))
