"""Features: the named columns each layer type's regressor sees, from shapes and counts only.

The same function (:func:`layer_columns`) describes a measured row and a traced layer, so a
predictor sees exactly what it was fitted on. Features are named, never positional.

Choices (see the fitting module for how they are used):
    conv2d / linear      MACs of the step and bytes moved (input + weights + output): the two
                         axes of a roofline; plus the shape terms that change efficiency (kernel,
                         channels per group, spatial size, batch). ``step_macs`` counts what one
                         call does: the forward MACs at inference; in training also the weight
                         gradient (the same count again) and, when the input requires grad, the
                         input gradient (once more): 3 x MACs inside a network, 2 x for its
                         first layer.
    pooling              window visits (output × k²) and bytes moved; no MACs.
    element-wise         elements and bytes moved, batch and elements per sample, in place or not
                         (activations, dropout, flatten and BatchNorm2d: in training its
                         statistics per channel are part of what the measurements carry).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from energypred.configs import shape_str
from energypred.layers import LayerCounts

Shape = tuple[int, ...]

#: glibc's largest mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX): an output this large
#: is mapped fresh and page-faulted on every call, a regime of its own (measured here: ~30 nJ
#: per element for a large out-of-place ReLU vs ~0.7 nJ in place).
LARGE_ALLOC_BYTES = 32 * 1024 * 1024

#: Work features: the quantities energy should scale with, used by the linear-on-counts model.
WORK_FEATURES: dict[str, list[str]] = {
    "conv2d": ["step_macs", "output_elements", "bytes_moved", "alloc_large_bytes"],
    "linear": ["step_macs", "output_elements", "bytes_moved", "alloc_large_bytes"],
    "maxpool2d": ["window_ops", "output_elements", "bytes_moved", "alloc_large_bytes"],
    "adaptiveavgpool2d": ["window_ops", "bytes_moved", "alloc_large_bytes"],
}
_ELEMENTWISE_WORK = ["input_elements", "bytes_moved", "alloc_large_bytes"]
#: Layer types whose call allocates no output at inference (a view, the identity).
_NO_ALLOC = {"flatten", "dropout"}

#: Shape features added for the log-space polynomial models.
SHAPE_FEATURES: dict[str, list[str]] = {
    "conv2d": ["output_elements", "weight_elements", "kernel_size", "in_per_group",
               "input_height", "batch_size", "stride"],
    "linear": ["batch_size", "in_features", "out_features"],
    "maxpool2d": ["kernel_size", "stride", "batch_size", "output_elements"],
    "adaptiveavgpool2d": ["batch_size", "output_elements"],
}
_ELEMENTWISE_SHAPE = ["batch_size", "elements_per_sample", "inplace"]


def work_features(layer_type: str) -> list[str]:
    """Names of the work features of a layer type."""
    return list(WORK_FEATURES.get(layer_type, _ELEMENTWISE_WORK))


def all_features(layer_type: str) -> list[str]:
    """Names of every feature of a layer type (work features first, no repeats)."""
    names = work_features(layer_type) + SHAPE_FEATURES.get(layer_type, _ELEMENTWISE_SHAPE)
    return list(dict.fromkeys(names))


def shape_columns(in_shape: Shape, out_shape: Shape) -> dict[str, Any]:
    """Dataset columns describing an input and output shape (batch first)."""
    cols: dict[str, Any] = {"batch_size": in_shape[0], "input_shape": shape_str(in_shape),
                            "output_shape": shape_str(out_shape),
                            "elements_per_sample": math.prod(in_shape[1:])}
    if len(in_shape) == 4:
        cols.update(input_channels=in_shape[1], input_height=in_shape[2],
                    input_width=in_shape[3])
    return cols


_PARAM_COLUMNS = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                  "groups", "in_features", "out_features", "inplace")
_COUNT_COLUMNS = ("macs", "input_elements", "output_elements", "weight_elements", "window_ops",
                  "bytes_read", "bytes_written")


def layer_columns(params: dict[str, Any], in_shape: Shape, out_shape: Shape,
                  counts: LayerCounts, input_requires_grad: bool | None = None
                  ) -> dict[str, Any]:
    """Dataset columns describing one layer call: shapes, hyper-parameters and counts
    (``input_requires_grad`` only when given: it depends on the phase and the network)."""
    cols = shape_columns(in_shape, out_shape)
    if input_requires_grad is not None:
        cols["input_requires_grad"] = bool(input_requires_grad)
    cols.update({k: getattr(counts, k) for k in _COUNT_COLUMNS})
    cols.update({k: params[k] for k in _PARAM_COLUMNS
                 if k in params and isinstance(params[k], (int, bool))})
    return cols


def step_macs(df: pd.DataFrame) -> pd.Series:
    """MACs one call performs in its row's phase (see module doc); a training row without
    ``input_requires_grad`` counts as inside a network (input gradient computed)."""
    macs = df["macs"].astype(float) if "macs" in df else pd.Series(0.0, index=df.index)
    phase = df["phase"] if "phase" in df else pd.Series("inference", index=df.index)
    grad = df.get("input_requires_grad", pd.Series(True, index=df.index))
    grad = grad.astype(object).where(grad.notna(), True).astype(float)
    training = (phase == "training").astype(float)
    return macs * (1.0 + training * (1.0 + grad))


def add_derived(df: pd.DataFrame) -> pd.DataFrame:
    """Add the derived feature columns (``bytes_moved``, ``in_per_group``, ``step_macs``...);
    returns a copy. Rows need a ``phase`` column for ``step_macs`` (default inference)."""
    out = df.copy()
    out["step_macs"] = step_macs(out)
    out["bytes_moved"] = out["bytes_read"].astype(float) + out["bytes_written"].astype(float)
    if "in_channels" in out and "groups" in out:
        out["in_per_group"] = out["in_channels"] / out["groups"]
    inplace = out.get("inplace", pd.Series(False, index=out.index))
    out["inplace"] = inplace.astype(object).where(inplace.notna(), False).astype(float)
    allocates = (out["inplace"] == 0) & ~out["layer_type"].isin(_NO_ALLOC)
    big = out["bytes_written"].astype(float) >= LARGE_ALLOC_BYTES
    out["alloc_large_bytes"] = np.where(allocates & big, out["bytes_written"].astype(float), 0.0)
    for col in {f for lt in list(WORK_FEATURES) + ["relu"] for f in all_features(lt)}:
        if col not in out:
            out[col] = np.nan
    return out


def feature_frame(df: pd.DataFrame, layer_type: str) -> pd.DataFrame:
    """The feature columns of ``layer_type`` as floats (missing values become 0)."""
    cols = all_features(layer_type)
    return add_derived(df)[cols].astype(float).fillna(0.0)
