"""PNG figures: per-layer breakdown, model comparison, predicted vs measured (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from energypred.evaluation import Evaluation
from energypred.prediction import Report

SIZE_IN = (8.0, 4.5)
DPI = 100  # -> 800 x 450 pixels


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    out = Path(path)
    fig.savefig(out, dpi=DPI)
    _plt().close(fig)
    return out


def layers_plot(r: Report, title: str, path: str | Path) -> Path:
    """Bars of predicted J per layer in call order, coloured by layer type."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=SIZE_IN)
    types = sorted(set(r.layers["type"]))
    colours = {t: plt.get_cmap("tab10")(i % 10) for i, t in enumerate(types)}
    e = r.layers["energy_j"].fillna(0.0).to_numpy()
    ax.bar(np.arange(len(e)), e, color=[colours[t] for t in r.layers["type"]], width=0.85)
    from matplotlib.patches import Patch

    handles = [Patch(color=colours[t], label=t) for t in types]
    what = "training step" if r.phase == "training" else "forward pass"
    fp = r.footprint
    ax.set(xlabel="layer (call order)", ylabel=f"predicted energy per {what} (J)",
           title=f"{title}, batch {r.batch_size}: {r.energy_j:.4g} J"
                 f"{' (lower bound)' if r.is_lower_bound else ''}, "
                 f"{fp.gco2e:.3g} g CO2e at {fp.intensity.g_per_kwh:.0f} g/kWh, PUE {fp.pue:g}")
    ax.title.set_fontsize(9)
    ax.legend(handles=handles, fontsize=7, ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def compare_plot(records: list[dict[str, Any]], path: str | Path) -> Path:
    """One bar per model: J per sample, annotated with g CO2e per million inferences."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=SIZE_IN)
    names = [r["model"] for r in records]
    vals = [r["energy_j_per_sample"] for r in records]
    bars = ax.bar(names, vals, color=plt.get_cmap("tab10")(0))
    for b, r in zip(bars, records, strict=True):
        ax.annotate(f"{r['gco2e_per_million']:.3g} g/1M", (b.get_x() + b.get_width() / 2,
                    b.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set(ylabel="predicted energy per sample (J)",
           title=f"{records[0]['phase']}, batch {records[0]['batch_size']}; g CO2e per 1M "
                 f"inferences at {records[0]['carbon_intensity_g_per_kwh']:.0f} g/kWh, "
                 f"PUE {records[0]['pue']:g}")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    return _save(fig, path)


def evaluation_plot(evaluation: Evaluation, path: str | Path) -> Path:
    """Predicted (held out) vs measured, log axes, one colour per architecture."""
    plt = _plt()
    rows = evaluation.rows
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    for (arch, phase), g in rows.groupby(["architecture", "phase"]):
        ax.scatter(g["measured_j"], g["predicted_held_out_j"], s=28,
                   marker="o" if phase == "inference" else "^", label=f"{arch} ({phase})")
    lo = float(min(rows["measured_j"].min(), rows["predicted_held_out_j"].min())) * 0.8
    hi = float(max(rows["measured_j"].max(), rows["predicted_held_out_j"].max())) * 1.25
    xs = np.array([lo, hi])
    ax.plot(xs, xs, "k-", lw=1, label="exact")
    ax.fill_between(xs, xs * 0.9, xs * 1.1, color="0.85", label="±10 %")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi),
           xlabel="measured energy per call (J)", ylabel="predicted energy per call (J)",
           title="Whole models: sum of per-layer predictions\n(each architecture held out)")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return _save(fig, path)
