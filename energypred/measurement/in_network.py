"""A network's leaves as layer configurations, and measured in network conditions.

:func:`arch_leaves` gives each leaf call of an architecture variant as a configuration keyed to
that variant (measured alone, on the shape it sees inside; in training without an input
gradient where the network computes none). :func:`evicted_leaves` gives the ones to measure
again with their weights evicted from the cache before each call:

A leaf measured alone is called over and over, so weights that fit the last-level cache (LLC)
stay there; inside a network every other layer runs between two calls of this one and the
weights come back from memory. Calling enough independent copies of the leaf in turn
reproduces that::

    alone:             call(W)  call(W)  call(W)  ...              W stays cached
    network-like:      call(W1) call(W2) ... call(Wn) call(W1) ... n x |W| >= 2 x LLC

Only at inference: in training each copy also allocates its own gradients and momenta, and the
evicted rows measured that way cost 8.8 nJ per weight byte more than alone (+136 % on whole
networks), an effect of the copies rather than of the cache. Only leaves whose weights matter
are measured this way: at least ``MIN_WEIGHT_BYTES`` (below,
re-reading them costs well under a millijoule) and under 2 x LLC (above, a single copy already
streams them from memory every call, so the leaf alone is network-like). The copy count goes
into the configuration (``weight_copies``), so such a row never collides with the leaf alone.
Nor are leaves whose weights are under ``MIN_WEIGHT_SHARE`` of the activation bytes their call
moves (:func:`weights_lost_in_traffic`): ``generate`` writes them as skipped, with the reason.
"""

from __future__ import annotations

import math
from typing import Any

from energypred.configs import ArchConfig, LayerConfig
from energypred.errors import ConfigError
from energypred.layers import LayerCounts
from energypred.measurement import workloads as wl
from energypred.schema import EVICTED_LEAF

#: Row kind of a leaf measured with its weights evicted.
ROW_KIND = EVICTED_LEAF
MIN_WEIGHT_BYTES = 256 * 1024
#: enough for ``MIN_WEIGHT_BYTES`` weights to fill 2 x a 32 MiB LLC
MAX_COPIES = 256
_BYTES = 4  # float32
#: an evicted-weight leaf is measured only when its weights are at least this share of the
#: activation bytes (input + output) its call moves anyway; below, re-reading them is lost in the
#: call's own traffic (on the Xeon VM the 135 such leaves measured before the rule cost a median
#: +0.6 % more evicted than alone, the others +7.8 %), while warming up its copies costs up to
#: MAX_COPIES calls (VGG16 at 224 px and batch 128: 3-10 minutes per leaf)
MIN_WEIGHT_SHARE = 1 / 16


def arch_leaves(cfg: ArchConfig, traced: list[Any], phase: str) -> list[LayerConfig]:
    """Layer configurations of an architecture's leaves, keyed to that architecture variant."""
    leaves = []
    for r in traced:
        if r.layer_type is None:
            raise ConfigError(f"{cfg.architecture} has a leaf {r.module_type} with no layer type")
        leaves.append(LayerConfig(r.layer_type, r.params, r.input_shape, {
            "architecture_hash": cfg.config_hash(), "layer_index": r.index,
            "layer_name": r.name}).for_phase(phase, r.input_requires_grad))
    return leaves


def weight_copies(weight_bytes: float, llc_bytes: int, max_copies: int = MAX_COPIES) -> int:
    """Copies whose weights (``weight_bytes`` each) fill twice an LLC of ``llc_bytes``, at most
    ``max_copies``; 1 for a layer without weights."""
    if weight_bytes <= 0:
        return 1
    return max(1, min(max_copies, math.ceil(2 * llc_bytes / weight_bytes)))


def weights_lost_in_traffic(c: LayerCounts) -> str | None:
    """Why measuring a leaf of work ``c`` (``workloads.layer_counts``) with evicted weights
    would tell nothing (its weights are under ``MIN_WEIGHT_SHARE`` of its activation bytes), or
    None when they matter; sizes in MB in the message."""
    w, moved = c.weight_elements * _BYTES, (c.input_elements + c.output_elements) * _BYTES
    if w >= MIN_WEIGHT_SHARE * moved:
        return None
    return (f"weights {w / 1e6:.3g} MB are under 1/{round(1 / MIN_WEIGHT_SHARE)} of the "
            f"{moved / 1e6:.4g} MB of activations each call moves: eviction is lost in them")


def evicted_leaves(leaves: list[LayerConfig], llc_bytes: int
                   ) -> list[tuple[LayerConfig, int]]:
    """(configuration, copies) of the leaves worth measuring with evicted weights (module doc)."""
    out = []
    for leaf in leaves:
        w = wl.layer_counts(leaf)[1].weight_elements * _BYTES
        if not MIN_WEIGHT_BYTES <= w < 2 * llc_bytes:
            continue
        n = weight_copies(w, llc_bytes)
        out.append((LayerConfig(leaf.layer_type, leaf.params, leaf.input_shape,
                                {**leaf.context, "weight_copies": n},
                                leaf.input_requires_grad), n))
    return out
