"""energypred: predict the energy of a PyTorch model on your hardware before running it.

Pipeline: sample configs -> measure (CodeCarbon) -> Parquet dataset -> features -> fit
per-layer-type regressors -> trace a model -> sum per-layer predictions -> report.

    >>> report = energypred.predict(model, input_shape=(3, 224, 224), batch_size=32)
    >>> report.energy_j, report.energy_j_per_sample, report.layers, report.unsupported
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

# A library never configures logging: applications decide where records go.
logging.getLogger(__name__).addHandler(logging.NullHandler())

from energypred.artifacts import load as load_predictor  # noqa: E402
from energypred.artifacts import load_default, save as save_predictor  # noqa: E402
from energypred.dataset import read_dataset  # noqa: E402
from energypred.errors import (  # noqa: E402
    ArtifactError,
    ConfigError,
    DatasetError,
    EnergypredError,
    MeasurementError,
    UnsupportedLayerError,
)
from energypred.fitting import fit_models  # noqa: E402
from energypred.prediction import Report, predict  # noqa: E402
from energypred.predictor import Predictor  # noqa: E402
from energypred.windows import steady_state  # noqa: E402

__all__ = [
    "__version__", "predict", "Report", "Predictor", "fit_models", "load_predictor",
    "load_default", "save_predictor", "read_dataset", "EnergypredError", "ConfigError",
    "DatasetError", "MeasurementError", "ArtifactError", "UnsupportedLayerError",
    "steady_state",
]
