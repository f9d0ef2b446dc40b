"""Describing a fitted network context (``energypred.context``) in words, for ``fit`` and
``evaluate``: one line per phase, coefficients in the units a reader compares (nJ per byte,
mJ per call, J per J)."""

from __future__ import annotations

from energypred.context import Context


def context_lines(ctx: Context) -> list[str]:
    """One line per phase describing the fitted context, coefficients in nJ/B and mJ per call."""
    out = []
    for phase in sorted(set(ctx.j_per_byte) | set(ctx.j_per_stream_byte)
                        | set(ctx.j_per_leaf) | set(ctx.j_per_fresh_j) | set(ctx.j_per_step)):
        ks = ctx.j_per_stream_byte.get(phase)
        weights = (
            "weights streamed from memory at " + ", ".join(
                f"{lt} {1e9 * k:.3f}" for lt, k in sorted(ks.items())) + " nJ/B (max(alone, k x "
            f"weight bytes), fitted on {ctx.n_stream_pairs.get(phase, 0)} evicted-weight leaves)"
            if ks else f"{1e9 * ctx.j_per_byte.get(phase, 0.0):.3f} nJ per cached weight byte")
        act = (f" + {1e12 * ctx.j_per_act_byte[phase]:.3f} pJ per activation byte"
               if phase in ctx.j_per_act_byte else "")
        act += (f" + {ctx.j_per_linear_j[phase]:.3f} J per J a Linear leaf costs alone"
                if phase in ctx.j_per_linear_j else "")
        act += (f" + {1e6 * ctx.j_per_leaf_sample[phase]:.1f} µJ per leaf call per sample"
                if phase in ctx.j_per_leaf_sample else "")
        act += (f" + {1e9 * ctx.j_per_linear_byte_sample[phase]:.3f} nJ per re-read Linear "
                "weight byte per sample" if phase in ctx.j_per_linear_byte_sample else "")
        act += (f" - {ctx.j_per_fresh_j[phase]:.3f} J per J a weightless leaf streaming its "
                "data alone costs" if phase in ctx.j_per_fresh_j else "")
        act += (f" + {1e3 * ctx.j_per_step[phase]:.3f} mJ per network call"
                if ctx.j_per_step.get(phase) else "")
        if ctx.batch_cap is not None and (phase in ctx.j_per_leaf_sample
                                          or phase in ctx.j_per_linear_byte_sample):
            act += f" (samples counted up to {ctx.batch_cap} per call)"
        copies = ctx.state_copies.get(phase, 1)
        cap = f" / {copies} (weights, gradients, momenta)" if copies > 1 else ""
        cache = (f"effective cache {ctx.cache_bytes / 2**20:.0f} MiB{cap} of the LLC's "
                 f"{ctx.llc_bytes / 2**20:.0f}, re-read in the share of the network's weights "
                 "beyond it" if ctx.cache_bytes else f"LLC {ctx.llc_bytes / 2**20:.0f} MiB{cap}")
        out.append(f"network context ({phase}): {weights} + "
                   f"{1e3 * ctx.j_per_leaf.get(phase, 0.0):.3f} mJ per leaf call{act} ({cache}, "
                   f"fitted on "
                   f"{ctx.n_rows.get(phase, 0)} whole models)")
    return out
