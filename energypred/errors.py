"""One root exception and a few subclasses; every message says what to do next."""

from __future__ import annotations


class EnergypredError(Exception):
    """Root of every error energypred raises on purpose."""


class ConfigError(EnergypredError, ValueError):
    """A bad argument: an unknown layer name, a malformed range, an impossible shard."""


class MeasurementError(EnergypredError, RuntimeError):
    """A measurement could not be taken (the meter failed, the workload raised)."""


class DatasetError(EnergypredError, OSError):
    """A dataset directory or one of its shards cannot be read or written."""


class ArtifactError(EnergypredError):
    """A predictor artifact is missing, incompatible, tampered with, or unsafe to load."""


class UnsupportedLayerError(EnergypredError):
    """A model has layers or operations no predictor prices (raised in strict mode)."""
