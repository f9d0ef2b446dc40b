"""A fitted predictor: one regressor per (phase, layer type) plus what it was fitted on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from energypred.context import Context
from energypred.features import add_derived
from energypred.fitting import LayerModel
from energypred.measurement.allocator import SYSTEM, describe


@dataclass
class Predictor:
    """Per-layer regressors and their metadata (dataset, hardware, method, target, metrics)."""

    models: dict[str, LayerModel]
    metadata: dict[str, Any] = field(default_factory=dict)
    source: str = "in memory"

    def has(self, layer_type: str, phase: str) -> bool:
        """Whether a regressor exists for this layer type in this phase."""
        return f"{phase}/{layer_type}" in self.models

    def predict_rows(self, rows: pd.DataFrame, phase: str) -> np.ndarray:
        """Energy per call (J) of each row (a layer call described by ``layer_columns``).

        Rows whose layer type has no regressor in ``phase`` get NaN; callers report them.
        """
        out = np.full(len(rows), np.nan)
        if rows.empty:
            return out
        frame = add_derived(rows.reset_index(drop=True).assign(phase=phase))
        frame["one"] = 1.0
        for lt, idx in frame.groupby("layer_type").groups.items():
            model = self.models.get(f"{phase}/{lt}")
            if model is None:
                continue
            X = frame.loc[idx, model.features].astype(float).fillna(0.0)
            out[np.asarray(idx)] = model.predict(X)
        return out

    @property
    def context(self) -> Context:
        """The network-context correction (none if the metadata has no fitted one)."""
        return Context.from_dict(self.metadata.get("context"))

    def predict_network(self, rows: pd.DataFrame, phase: str) -> tuple[np.ndarray, np.ndarray]:
        """(isolated J, network-context J) per row of the leaf calls of one network; the
        context's streamed part is priced from the isolated J (``energypred.streaming``)."""
        isolated = self.predict_rows(rows, phase)
        if rows.empty:
            return isolated, np.zeros(0)
        return isolated, self.context.rows_energy_j(rows, phase, isolated)

    def expected_error(self, phase: str) -> dict[str, Any] | None:
        """The whole-model errors ``energypred evaluate --record`` measured for ``phase`` on
        the predictor's own data (architectures held out; fractions), with the date; None
        when it was never evaluated so."""
        ev = self.metadata.get("evaluation") or {}
        block = (ev.get("phases") or {}).get(phase)
        return {**block, "evaluated_utc": ev.get("evaluated_utc")} if block else None

    def out_of_range(self, rows: pd.DataFrame, phase: str, tolerance: float = 0.05
                     ) -> list[tuple[int, str]]:
        """(row position, description) of features outside the range a regressor was fitted on."""
        frame = add_derived(rows.reset_index(drop=True).assign(phase=phase))
        found = []
        for pos, row in frame.iterrows():
            model = self.models.get(f"{phase}/{row['layer_type']}")
            if model is None:
                continue
            for feat, (lo, hi) in model.ranges.items():
                v = float(row.get(feat, 0.0) or 0.0)
                if v > hi * (1 + tolerance) or v < lo * (1 - tolerance):
                    found.append((int(pos), f"{feat}={v:g} outside [{lo:g}, {hi:g}]"))
                    break
        return found

    @property
    def method(self) -> str:
        """How the training data's energy was obtained, e.g. CodeCarbon's TDP estimate."""
        if "measurement_method" not in self.metadata:
            return "unknown"
        # predictors fitted before the allocator was recorded were all fitted on system rows
        alloc = self.metadata.get("allocator") or SYSTEM
        per = ("the whole dataset's" if self.metadata.get("drift_footing") == "dataset"
               else "each run's")
        drift = (f"; energies drift-corrected to the machine's typical speed ({per} median "
                 f"reference workload)" if self.metadata.get("drift_corrected") else "")
        pool = ("; whole networks as the median of their measurements"
                if self.metadata.get("whole_pool") == "median" else "")
        return (f"{self.metadata['measurement_method']}; allocator {describe(alloc)}"
                f"{drift}{pool}")

    @property
    def target(self) -> str:
        """Which energy column the regressors predict (``energy_j`` = cpu + ram + gpu)."""
        return str(self.metadata.get("target", "energy_j"))
