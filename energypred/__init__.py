"""energypred: predict the energy of a PyTorch model on your hardware before running it.

Pipeline: sample configs -> measure (CodeCarbon) -> Parquet dataset -> features -> fit
per-layer-type regressors -> trace a model -> sum per-layer predictions -> report.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

# A library never configures logging: applications decide where records go.
logging.getLogger(__name__).addHandler(logging.NullHandler())

from energypred.dataset import read_dataset  # noqa: E402
from energypred.errors import (  # noqa: E402
    ConfigError,
    DatasetError,
    EnergypredError,
    MeasurementError,
)

__all__ = [
    "__version__",
    "read_dataset",
    "EnergypredError",
    "ConfigError",
    "DatasetError",
    "MeasurementError",
]
