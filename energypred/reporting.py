"""Reports people can read: aligned tables, markdown, JSON; units always printed."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from energypred.prediction import Report

FORMATS = ("table", "markdown", "json")
PER_MILLION = 1_000_000


def si(v: float, unit: str = "") -> str:
    """1.5e9 -> '1.50 G' + unit; NaN -> '-'."""
    if v is None or not math.isfinite(v):
        return "-"
    for div, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div:
            return f"{v / div:.2f} {prefix}{unit}"
    return f"{v:.3g} {unit}".rstrip()


def num(v: float, digits: int = 4) -> str:
    """Compact number; NaN -> '-'."""
    return f"{v:.{digits}g}" if v is not None and math.isfinite(v) else "-"


def render(headers: Sequence[str], rows: Sequence[Sequence[str]], fmt: str = "table",
           right: Sequence[bool] | None = None, indent: str = "  ") -> list[str]:
    """An aligned text table or a markdown table."""
    right = right or [False] * len(headers)
    if fmt == "markdown":
        out = ["| " + " | ".join(headers) + " |",
               "|" + "|".join("---:" if r else "---" for r in right) + "|"]
        return out + ["| " + " | ".join(row) + " |" for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return indent + "  ".join(c.rjust(w) if r else c.ljust(w)
                                  for c, w, r in zip(cells, widths, right, strict=True)).rstrip()

    return [line(headers)] + [line(r) for r in rows]


def _what(phase: str) -> str:
    return "training step" if phase == "training" else "forward pass"


def report_lines(r: Report, title: str, fmt: str = "table") -> list[str]:
    """A prediction as text or markdown: totals, factors, per-layer table, unpriced work."""
    if fmt == "json":
        return [json.dumps({"model": title, **r.to_dict()}, default=float)]
    what, fp = _what(r.phase), r.footprint
    bound = " (lower bound)" if r.is_lower_bound else ""
    facts = [
        f"compute energy: {num(r.energy_j)} J per {what} of the batch{bound}; "
        f"{num(r.energy_j_per_sample)} J per sample; {num(r.energy_kwh)} kWh",
        f"of which {num(r.context_energy_j)} J network context (weights re-read from memory on "
        "every pass where the network's outgrow the cache, cold buffers and glue per layer "
        "call, or per sample of its batch or per training step where the predictor prices "
        "that; less, where it credits that, what pooling and activations whose data outgrow "
        "the cache save on an input just written; see energypred.context)",
        f"facility energy: {num(fp.facility_energy_j)} J (PUE {fp.pue:g})",
        f"emissions: {num(fp.gco2e)} g CO2e per {what} "
        f"({fp.intensity.g_per_kwh:.2f} g/kWh: {fp.intensity.source})",
        f"work: {si(r.total_macs, 'MAC')} per forward pass of the batch (1 MAC = 2 FLOPs); "
        f"forward efficiency {si(r.flops_per_j, 'FLOP/J')}"
        + (" (the gradients a training step adds are not counted)"
           if r.phase == "training" else ""),
    ]
    if r.theory_energy_j is not None:
        facts.append(f"theoretical estimate: {num(r.theory_energy_j)} J ({r.theory_source}; "
                     "elementary operations only, see energypred.theory)")
    facts += [f"predictor: {r.predictor} (target {r.target})",
              f"its data came from: {r.method}", expected_error_line(r)]
    theory_col = "theory_j" in r.layers
    headers = ["#", "name", "type", "output", "MACs", "energy J", "share", "FLOP/J"]
    if theory_col:
        headers.append("theory J")
    rows = []
    for row in r.layers.itertuples():
        cells = [str(row.index), row.name, row.type, row.output_shape, si(row.macs),
                 num(row.energy_j) if math.isfinite(row.energy_j) else "unpriced",
                 f"{100 * row.share:.1f} %" if math.isfinite(row.share) else "-",
                 si(row.flops_per_j)]
        if theory_col:
            cells.append(num(row.theory_j))
        rows.append(cells)
    right = [True, False, False, False, True, True, True, True, True][: len(headers)]
    shape = "x".join(map(str, r.input_shape))
    if fmt == "markdown":
        out = [f"### {title}: batch {r.batch_size} × {shape} ({r.phase})", ""]
        out += [f"- {f}" for f in facts] + [""] + render(headers, rows, "markdown", right)
    else:
        out = [f"{title}: batch {r.batch_size} x {shape} ({r.phase})"]
        out += [f"  {f}" for f in facts] + [""] + render(headers, rows, "table", right)
    if not r.unsupported.empty:
        out += ["", "not priced (the total is a lower bound):"]
        urows = [[u.kind, u.type, u.name, str(u.count), si(u.macs, "MAC"),
                  f"{100 * u.share_of_macs:.1f} %"] for u in r.unsupported.itertuples()]
        out += render(["kind", "type", "name", "calls", "MACs", "share of MACs"], urows, fmt,
                      [False, False, False, True, True, True])
    out += [("- " if fmt == "markdown" else "") + f"warning: {w}" for w in r.warnings]
    return out


def expected_error_line(r: Report) -> str:
    """How far off the predictor was measured to be on whole networks (``evaluate
    --record``), or that it never was."""
    e = r.expected_error
    if not e or e.get("mape_held_out") is None:
        return ("expected error: not measured for this predictor (energypred evaluate "
                "--record on the data it was fitted on)")
    archs = ", ".join(f"{a} {100 * v:.1f}" for a, v in sorted(
        (e.get("mape_by_architecture") or {}).items()) if v is not None)
    within = e.get("within_10_held_out")
    precise = e.get("mape_precise")
    date = str(e.get("evaluated_utc") or "")[:10]
    return (f"expected error: {100 * e['mape_held_out']:.1f} % mean absolute on {e['n']} "
            f"measured {r.phase} networks of the predictor's machine, each architecture held "
            f"out ({archs} %"
            + (f"; {100 * within:.0f} % within ±10 %" if within is not None else "")
            + (f"; {100 * precise:.1f} % on the {e['n_precise']} measured to within "
               f"{100 * e['precise_sem']:.0f} %" if precise is not None else "")
            + _batch_note(e, r.batch_size) + _size_note(e, r.energy_j)
            + f"; energypred evaluate, {date})")


def _batch_note(e: dict[str, Any], batch_size: int) -> str:
    """The recorded error at this batch size, or that none this large was measured ('' for
    predictors evaluated before errors were kept per batch)."""
    by_batch = {int(b): v for b, v in (e.get("mape_by_batch") or {}).items() if v is not None}
    if not by_batch:
        return ""
    if batch_size in by_batch:
        return f"; at batch {batch_size}: {100 * by_batch[batch_size]:.1f} %"
    if batch_size > max(by_batch):
        return (f"; its networks were measured up to batch {max(by_batch)}, none at "
                f"{batch_size}: expect more")
    return ""


def _size_note(e: dict[str, Any], energy_j: float) -> str:
    """A warning when ``energy_j`` (J per pass) is above the costliest whole network the
    error was measured on ('' within it, or for predictors evaluated before it was kept):
    its measured error says nothing about networks larger than any it saw. The error there
    can go either way: VGG16 at 224 px and batch 128 on the Zen 5 VM was priced 32 % low
    before it was measured, and +8 % with the allocator's trim fixed (docs/findings.md)."""
    top = e.get("max_measured_j")
    if top is None or energy_j <= top:
        return ""
    return (f"; its costliest measured network took {top:.3g} J per pass, this one is priced "
            f"at {energy_j:.3g} J: beyond what was checked, its error is not known")


def compare_record(title: str, r: Report) -> dict[str, Any]:
    """One model's comparison figures (per sample and per million inferences)."""
    per_sample = r.energy_j_per_sample
    fp = r.footprint
    return {
        "model": title, "batch_size": r.batch_size, "phase": r.phase,
        "energy_j_per_sample": per_sample,
        "kwh_per_million": per_sample * PER_MILLION * fp.pue / 3.6e6,
        "gco2e_per_million": per_sample * PER_MILLION * fp.pue / 3.6e6 * fp.intensity.g_per_kwh,
        "flops_per_j": r.flops_per_j, "macs_per_sample": r.total_macs / r.batch_size,
        "is_lower_bound": r.is_lower_bound, "pue": fp.pue,
        "carbon_intensity_g_per_kwh": fp.intensity.g_per_kwh,
        "carbon_intensity_source": fp.intensity.source,
        "theory_j_per_sample": (r.theory_energy_j / r.batch_size
                                if r.theory_energy_j is not None else None),
        "predictor": r.predictor, "measurement_method": r.method,
    }


def compare_lines(records: list[dict[str, Any]], fmt: str = "table") -> list[str]:
    """Several models side by side."""
    if fmt == "json":
        return [json.dumps(records, default=float)]
    first = records[0]
    headers = ["model", "J/sample", "kWh per 1M", "g CO2e per 1M", "FLOP/J", "MAC/sample"]
    has_theory = any(r["theory_j_per_sample"] is not None for r in records)
    if has_theory:
        headers.append("theory J/sample")
    rows = []
    for rec in records:
        cells = [rec["model"] + (" (lower bound)" if rec["is_lower_bound"] else ""),
                 num(rec["energy_j_per_sample"]), num(rec["kwh_per_million"]),
                 num(rec["gco2e_per_million"]), si(rec["flops_per_j"]),
                 si(rec["macs_per_sample"])]
        if has_theory:
            cells.append(num(rec["theory_j_per_sample"] or math.nan))
        rows.append(cells)
    right = [False] + [True] * (len(headers) - 1)
    head = (f"{first['phase']}, batch {first['batch_size']}; per 1M inferences includes "
            f"PUE {first['pue']:g} and {first['carbon_intensity_g_per_kwh']:.2f} g CO2e/kWh "
            f"({first['carbon_intensity_source']}); 2 FLOPs per MAC; energy learned from "
            f"{first['measurement_method']}")
    if fmt == "markdown":
        return [head, ""] + render(headers, rows, "markdown", right)
    return [head] + render(headers, rows, "table", right)
