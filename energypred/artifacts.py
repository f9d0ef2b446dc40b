"""Versioned, safely loaded predictor artifacts.

A predictor is a directory::

    models/<name>/
        metadata.json      format version, package/scikit-learn/schema versions, dataset hash,
                           hardware fingerprint, measurement method, target, features, training
                           ranges, metrics, and the SHA-256 of estimators.skops
        estimators.skops   the fitted scikit-learn estimators, one per (phase, layer type)

Loading never executes code from the file: skops reconstructs only allow-listed types
(scikit-learn estimators, three numpy functions and energypred's CorrectedRegressor), the
file's hash must match the metadata, and a file from another format version or scikit-learn
minor version is refused with a message that says how to refit.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sklearn

from energypred import __version__
from energypred.errors import ArtifactError
from energypred.fitting import LayerModel
from energypred.predictor import Predictor
from energypred.schema import SCHEMA_VERSION

#: 2: the network context may price streamed weights (``context.j_per_stream_byte``), which
#: an energypred reading format 1 would silently drop
FORMAT_VERSION = 2
#: formats this version reads (a format-1 predictor has no streamed term and needs none)
READABLE_FORMATS = (1, 2)
METADATA = "metadata.json"
ESTIMATORS = "estimators.skops"
#: Functions and classes a predictor may reference besides scikit-learn's: target and feature
#: transforms, and energypred's own estimators (plain data holders, see estimators.py).
ALLOWED_FUNCTIONS = frozenset({"numpy.log", "numpy.exp", "numpy.log1p",
                               "energypred.estimators.CorrectedRegressor"})


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def save(predictor: Predictor, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write a predictor to ``directory`` (created); returns the directory."""
    import skops
    import skops.io as sio

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    est_path = out / ESTIMATORS
    sio.dump({k: m.estimator_ for k, m in predictor.models.items()}, est_path)
    meta = {
        **predictor.metadata, **(extra or {}),
        "format_version": FORMAT_VERSION, "energypred_version": __version__,
        "sklearn_version": sklearn.__version__, "skops_version": skops.__version__,
        "schema_version": SCHEMA_VERSION,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "estimators_sha256": _sha256(est_path),
        "layer_models": {k: {"layer_type": m.layer_type, "phase": m.phase,
                             "candidate": m.candidate, "features": m.features,
                             "n_rows": m.n_rows, "ranges": m.ranges, "scores": m.scores}
                         for k, m in predictor.models.items()},
    }
    (out / METADATA).write_text(json.dumps(meta, indent=1, sort_keys=True, default=str) + "\n")
    return out


def load(directory: str | Path) -> Predictor:
    """Load and check a predictor directory.

    Raises:
        ArtifactError: missing files, another format or scikit-learn version, a hash mismatch
            (tampered file), or a type that is not allow-listed.
    """
    import skops.io as sio

    d = Path(directory)
    meta_path, est_path = d / METADATA, d / ESTIMATORS
    if not meta_path.is_file() or not est_path.is_file():
        raise ArtifactError(f"{d} is not a predictor directory (needs {METADATA} and "
                            f"{ESTIMATORS}); create one with `energypred fit`")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{meta_path} is not valid JSON: {err}") from err
    if meta.get("format_version") not in READABLE_FORMATS:
        raise ArtifactError(f"{d} has artifact format {meta.get('format_version')}, this "
                            f"energypred reads formats {READABLE_FORMATS}; refit with "
                            "`energypred fit`")
    saved = str(meta.get("sklearn_version", "?"))
    if _minor(saved) != _minor(sklearn.__version__):
        raise ArtifactError(f"{d} was fitted with scikit-learn {saved}, this is "
                            f"{sklearn.__version__}; install scikit-learn=={saved} or refit")
    if _sha256(est_path) != meta.get("estimators_sha256"):
        raise ArtifactError(f"{est_path} does not match the hash in {METADATA}: the file was "
                            "modified or replaced; refusing to load it")
    try:
        untrusted = sio.get_untrusted_types(file=est_path)
    except Exception as err:  # noqa: BLE001 - skops raises many types for a malformed file
        raise ArtifactError(f"{est_path} is not a readable skops file: {err}") from err
    refused = [t for t in untrusted
               if t not in ALLOWED_FUNCTIONS and not t.startswith("sklearn.")]
    if refused:
        raise ArtifactError(f"{est_path} references types that are not allowed: "
                            f"{', '.join(refused)}; refusing to load it")
    estimators = sio.load(est_path, trusted=list(untrusted))
    models = {}
    for key, info in meta["layer_models"].items():
        ranges = {k: (float(v[0]), float(v[1])) for k, v in info["ranges"].items()}
        models[key] = LayerModel(info["layer_type"], info["phase"], info["candidate"],
                                 estimators[key], list(info["features"]), int(info["n_rows"]),
                                 ranges, info.get("scores", {}))
    return Predictor(models, meta, source=str(d))


def record_evaluation(directory: str | Path, evaluation: dict[str, Any]) -> Path:
    """Keep ``evaluation`` (``energypred evaluate --record``: the predictor's whole-model
    errors on its own data, per phase) in a predictor's metadata, where ``predict`` shows it
    as the expected error. The estimators and their hash are untouched; a refit writes fresh
    metadata without it. Returns the metadata path.

    Raises:
        ArtifactError: ``directory`` is not a readable predictor directory.
    """
    path = Path(directory) / METADATA
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{path} is not a readable predictor metadata file: {err}") from err
    meta["evaluation"] = evaluation
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta, indent=1, sort_keys=True, default=str) + "\n")
    tmp.replace(path)
    return path


#: the shipped predictors, one per machine state measured: ``energypred/shipped/<name>`` links to
#: ``models/<name>``; ``energypred/default_model`` is the one used where none matches
SHIPPED = "shipped"


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


def shipped_paths() -> list[Path]:
    """The shipped predictor directories, in name order."""
    d = _package_dir() / SHIPPED
    return sorted(p for p in d.iterdir() if (p / METADATA).is_file()) if d.is_dir() else []


def matches_machine(hardware: dict[str, Any], here: dict[str, Any]) -> bool:
    """Whether a predictor's data came from this machine: the same hardware id and the same
    recorded CPU signature. A predictor without a recorded signature never matches (the
    project's VMs share one hardware id across CPUs that differ 4x in speed)."""
    return (bool(hardware.get("cpu_signature"))
            and hardware.get("hardware_id") == here.get("hardware_id")
            and hardware.get("cpu_signature") == here.get("cpu_signature"))


def choose_default(candidates: list[tuple[Path, dict[str, Any]]], fallback: Path,
                   here: dict[str, Any]) -> tuple[Path, str]:
    """(predictor directory, why): the first candidate (directory, its metadata) measured on
    this machine (:func:`matches_machine`), else ``fallback``."""
    for path, meta in candidates:
        if matches_machine(meta.get("hardware", {}), here):
            return path, f"measured on this machine's CPU ({here['cpu_signature']})"
    return fallback, "no shipped predictor recorded this machine's CPU; the general default"


def default_path() -> tuple[Path, str]:
    """The shipped predictor for this machine and why it was chosen (:func:`choose_default`)."""
    from energypred.hardware import fingerprint

    candidates = []
    for path in shipped_paths():
        try:
            candidates.append((path, json.loads((path / METADATA).read_text())))
        except (OSError, json.JSONDecodeError) as err:
            raise ArtifactError(f"shipped predictor {path} has unreadable metadata: {err}; "
                                "reinstall energypred") from err
    return choose_default(candidates, _package_dir() / "default_model", fingerprint())


def load_default() -> Predictor:
    """Load the shipped predictor chosen for this machine (:func:`default_path`); its
    ``source`` says which and why."""
    path, why = default_path()
    if not (path / METADATA).is_file():
        raise ArtifactError(f"no default predictor at {path}; pass --predictor DIR "
                            "(create one with `energypred fit`)")
    predictor = load(path)
    predictor.source = f"{path.resolve().name} (shipped; {why})"
    return predictor
