"""The runner of a generate job: one configuration at a time, guarded, measured, written.

``generate.generate`` plans and resumes; :class:`Runner` measures what it is given and writes
one row per measurement (or per skip and failure: nothing is lost), carrying the run's context
(machine fingerprint, meter, allocator, the latest reference reading). An architecture
variant is measured as a bracket around its leaves (``run_arch``; the diagram is in
generate.py's module doc). Energies are J per call, times s per call.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pandas as pd
import psutil
import torch

from energypred import dataset, features
from energypred.bracket import WholeNetwork
from energypred.configs import ArchConfig, LayerConfig
from energypred.errors import MeasurementError
from energypred.faulted import FaultRule, faulted
from energypred.hardware import DEFAULT_LLC_BYTES, fingerprint
from energypred.measurement import Meter, in_network, measure
from energypred.measurement.allocator import PADDED, env_ready, release, release_above_bytes
from energypred.measurement.in_network import arch_leaves
from energypred.measurement.probe import SpeedProbe
from energypred.measurement import workloads as wl
from energypred.measurement.protocol import Measurement, idle_power
from energypred.schema import SCHEMA_VERSION
from energypred.summary import RunSummary

if TYPE_CHECKING:
    from energypred.generate import GenerateOptions


class Runner:
    """Executes a plan; holds the per-run context every row carries."""

    def __init__(self, opts: GenerateOptions, meter: Meter, writer: dataset.ShardWriter,
                 summary: RunSummary) -> None:
        self.opts, self.meter, self.writer, self.summary = opts, meter, writer, summary
        self.run_id = writer.prefix
        self.rates = wl.machine_rates()
        self.max_memory = opts.max_memory_bytes or psutil.virtual_memory().available // 2
        self.release_above = release_above_bytes()
        #: which written rows count as faulted in the summary (faulted.py)
        self.fault_rule = FaultRule()
        self.idle_power_w: float | None = None
        self.ref: Measurement | None = None
        self.last_ref = -1e18
        self.probe = SpeedProbe(opts.probe_s) if opts.probe_s > 0 else None
        if self.probe is not None:  # the summary reports every reading the probe takes
            summary.probe_s = self.probe.readings_s
        fp = fingerprint()
        self.llc_bytes = int(fp.get("llc_bytes") or DEFAULT_LLC_BYTES)
        self.common: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION, "run_id": self.run_id, "seed": opts.seed,
            "threads": torch.get_num_threads(),
            "allocator": opts.allocator,
            **{k: fp[k] for k in ("hardware_id", "cpu_model", "cpu_signature", "cpu_cores",
                                  "llc_bytes", "ram_gb", "gpu_model", "os", "python_version",
                                  "torch_version", "codecarbon_version",
                                  "energypred_version")}}

    # --- rows ------------------------------------------------------------------------------
    def _row(self, **kw: Any) -> dict[str, Any]:
        m = self.meter.methods
        row = {**self.common, "timestamp": datetime.now(timezone.utc), "meter": m.meter,
               "cpu_method": m.cpu_method, "ram_method": m.ram_method,
               "gpu_method": m.gpu_method, "cpu_tdp_w": m.cpu_tdp_w,
               "is_estimate": m.is_estimate, "idle_power_w": self.idle_power_w}
        if self.ref is not None:
            row["reference_energy_j"] = self.ref.energy_j
            row["reference_duration_s"] = self.ref.duration_s
        row.update(kw)
        return row

    @staticmethod
    def _measurement_cols(m: Measurement) -> dict[str, Any]:
        return {k: getattr(m, k) for k in (
            "energy_j", "cpu_energy_j", "ram_energy_j", "gpu_energy_j", "duration_s",
            "energy_j_repeats", "duration_s_repeats", "energy_cv", "calls_per_window",
            "repeats", "window_s", "warmup_s", "cpu_power_w", "power_w",
            "minor_faults_per_call", "probe_s_per_call")}

    # --- measuring -------------------------------------------------------------------------
    def _measure(self, module: torch.nn.Module, shape: tuple[int, ...], phase: str,
                 grad_input: bool, copies: int = 1) -> Measurement:
        # a padded heap keeps every page it ever touched: past a share of the machine's
        # memory it goes back to the kernel, between measurements, never inside one
        if release(self.release_above):
            self.summary.heap_releases += 1

        def run() -> Measurement:
            with wl.workload(module, shape, phase, grad_input, copies) as step:
                return measure(step, self.meter, self.opts.window_s, self.opts.repeats)

        m = self.probe.around(run) if self.probe is not None else run()
        self.summary.inside_windows_s += m.windows_total_s
        return m

    def baseline(self, expected_reference_j: float | None = None) -> None:
        """Idle power, then the first reference reading; nothing is written unless the machine
        is in the dataset's state (:meth:`check_state`), so a refused resume adds no rows."""
        r = idle_power(self.meter, max(0.5, self.opts.window_s))
        self.idle_power_w = r.energy_j / r.duration_s
        idle = self._row(row_kind="idle", status="ok", sampler="reference", phase="idle",
                         layer_type="idle", energy_j=r.energy_j, cpu_energy_j=r.cpu_energy_j,
                         ram_energy_j=r.ram_energy_j, gpu_energy_j=r.gpu_energy_j,
                         duration_s=r.duration_s, power_w=self.idle_power_w,
                         cpu_power_w=r.cpu_energy_j / r.duration_s, config_hash="idle")
        self.summary.method = self.meter.methods.describe()
        self.summary.allocator = self.opts.allocator + (
            "" if self.opts.allocator != PADDED else
            " (MKL memory manager off)" if env_ready() else " (MKL memory manager on)")
        self.settle()
        first = self._reference_row()
        self.check_state(expected_reference_j)
        self.writer.append(idle)
        self.writer.append(first)

    def check_state(self, expected_j: float | None) -> None:
        """Refuse to add to a dataset measured in another machine state (module doc).

        Raises:
            MeasurementError: the first reference reading (J per call) is more than
                ``max_reference_shift`` off ``expected_j``.
        """
        tol = self.opts.max_reference_shift
        if expected_j is None or not tol or self.ref is None:
            return
        ratio = self.ref.energy_j / expected_j
        if abs(ratio - 1) > tol:
            raise MeasurementError(
                f"the reference workload costs {self.ref.energy_j:.4g} J per call here, "
                f"{ratio:.2f}x the {expected_j:.4g} J median of {self.opts.out}: this machine "
                f"is not in the state the dataset was measured in (another host, or load); "
                f"wait for a quiet machine, or generate into a new --out "
                f"(--max-reference-shift 0 measures anyway); nothing was written")

    def settle(self) -> None:
        """Run the reference until two readings agree within 3 % (at most ``settle_s``).

        Measured on the project's VMs: the first one to two minutes of a run are up to 2.5x
        slower (reference 2.6 ms/call, then 1.0-1.2 ms); nothing is recorded until it settles.
        """
        t0, previous = time.monotonic(), None
        with wl.workload(wl.build_layer(wl.REFERENCE), wl.REFERENCE.input_shape, "inference",
                         False) as step:
            while time.monotonic() - t0 < self.opts.settle_s:
                e = measure(step, self.meter, self.opts.window_s, 1).energy_j
                if previous is not None and abs(e - previous) <= 0.03 * previous:
                    break
                previous = e
        self.summary.settle_s = time.monotonic() - t0

    def reference(self) -> None:
        """Measure the reference workload and write its row, if it is due."""
        if time.monotonic() - self.last_ref >= self.opts.reference_every_s:
            self.writer.append(self._reference_row())

    def _reference_row(self) -> dict[str, Any]:
        """Measure the reference workload now; returns its row (J per call)."""
        cfg = wl.REFERENCE
        out, counts = wl.layer_counts(cfg)
        self.ref = self._measure(wl.build_layer(cfg), cfg.input_shape, "inference", False)
        self.last_ref = time.monotonic()
        self.summary.reference_j.append(self.ref.energy_j)
        return self._row(
            row_kind="reference", status="ok", sampler="reference", phase="inference",
            input_requires_grad=False,
            layer_type=cfg.layer_type, config_hash=cfg.config_hash(),
            config_json=_json(cfg.payload()),
            **features.layer_columns(cfg.params, cfg.input_shape, out, counts),
            **self._measurement_cols(self.ref))

    def run_layer(self, cfg: LayerConfig, phase: str, sampler: str, index: int,
                  kind: str = "layer", extra: dict[str, Any] | None = None,
                  copies: int = 1) -> None:
        """Guard, measure and write one layer configuration (``copies`` called in turn)."""
        out, counts = wl.layer_counts(cfg)
        est = wl.estimate_layer(cfg, phase, self.rates)
        if copies > 1:  # weights, and in training their gradients and momenta, per copy
            per_copy = counts.weight_elements * 4 * (3 if phase == "training" else 1)
            est = wl.Estimate(est.memory_bytes + (copies - 1) * per_copy, est.call_s)
        grad = phase == "training" and cfg.input_requires_grad
        base = dict(row_kind=kind, sampler=sampler, phase=phase, sample_index=index,
                    layer_type=cfg.layer_type, config_hash=cfg.config_hash(),
                    config_json=_json(cfg.payload()), est_memory_bytes=est.memory_bytes,
                    est_call_s=est.call_s, input_requires_grad=grad,
                    **features.layer_columns(cfg.params, cfg.input_shape, out, counts),
                    **(extra or {}))
        if kind == in_network.ROW_KIND and (why := in_network.weights_lost_in_traffic(counts)):
            self._write(self._row(status="skipped", error=why, **base), "skipped")
            return
        self._guarded(base, est, lambda: self._measure(
            wl.build_layer(cfg), cfg.input_shape, phase, grad_input=grad, copies=copies),
            cfg.layer_type)

    def run_arch(self, cfg: ArchConfig, phase: str, index: int, done: set[tuple[str, str]]) -> None:
        """The whole network, each leaf alone on the shape it sees inside it, the leaves whose
        weights fit the cache once more with their weights evicted, the whole again.

        The whole network's row (written last) pools its measurements before, between and
        after the leaves (bracket.py), so it and its leaves share the machine's state;
        ``bracket_drift`` says how far the machine moved while the leaves ran.
        """
        traced = wl.trace_arch(cfg)
        ctx = {"architecture": cfg.architecture, "width_mult": cfg.width_mult,
               "num_classes": cfg.num_classes}
        whole: WholeNetwork | None = None
        base: dict[str, Any] = {}
        est: wl.Estimate | None = None
        if (cfg.config_hash(), phase) not in done:
            est = wl.estimate_arch(traced, phase, self.rates,
                                   heap_kept=self.opts.allocator == PADDED)
            macs = sum(r.counts.macs for r in traced if r.counts)
            out = traced[-1].output_shape
            whole = WholeNetwork(lambda: self._measure(wl.build_arch(cfg), cfg.input_shape,
                                                       phase, grad_input=False),
                                 self.opts.whole_every_s, self.opts.whole_max_share)
            base = dict(row_kind="architecture", sampler="architecture", phase=phase,
                        sample_index=index, layer_type="architecture",
                        config_hash=cfg.config_hash(), config_json=_json(cfg.payload()),
                        est_memory_bytes=est.memory_bytes, est_call_s=est.call_s, macs=macs,
                        input_requires_grad=False, arch_protocol=whole.protocol,
                        **features.shape_columns(cfg.input_shape, out), **ctx)
            if not self._guarded(base, est, whole.measure, "architecture", write_ok=False):
                whole = None
        leaves = arch_leaves(cfg, traced, phase)
        # evicted-weight leaves only inside a bracket (they are compared with their own whole)
        # and at inference (see in_network's module doc)
        evicted = (in_network.evicted_leaves(leaves, self.llc_bytes)
                   if self.opts.evicted_leaves and whole is not None and phase == "inference"
                   else [])
        for leaf, kind, copies in ([(lf, "arch_layer", 1) for lf in leaves]
                                   + [(lf, in_network.ROW_KIND, n) for lf, n in evicted]):
            if (leaf.config_hash(), phase) in done:
                continue
            if whole is not None:
                whole.between()
            self.reference()
            self.run_layer(leaf, phase, "architecture", index, kind=kind, copies=copies,
                           extra={**ctx, "layer_index": leaf.context["layer_index"],
                                  "layer_name": leaf.context["layer_name"]})
        if whole is not None and est is not None:
            self._guarded(base, est, whole.close, "architecture",
                          extra_of=lambda _m: self._bracket_columns(whole))

    def _bracket_columns(self, whole: WholeNetwork) -> dict[str, Any]:
        cols = whole.columns()
        self.summary.whole_measurements.append(cols["whole_measurements"])
        self.summary.bracket_drift.append(cols["bracket_drift"])
        return cols

    def _guarded(self, base: dict[str, Any], est: wl.Estimate, run: Any, group: str,
                 write_ok: bool = True, extra_of: Any = None) -> bool:
        """Skip (guard), measure and write; True when the measurement succeeded.

        ``write_ok=False`` measures without writing a successful row (the first half of a
        bracket); skipped and failed rows are always written.
        """
        if est.memory_bytes > self.max_memory:
            why = (f"estimated memory {est.memory_bytes / 1e9:.2f} GB > limit "
                   f"{self.max_memory / 1e9:.2f} GB")
            self._write(self._row(status="skipped", error=why, **base), "skipped")
            return False
        if est.call_s > self.opts.max_call_s:
            why = f"estimated {est.call_s:.3g} s per call > limit {self.opts.max_call_s:g} s"
            self._write(self._row(status="skipped", error=why, **base), "skipped")
            return False
        try:
            m = run()
        except (RuntimeError, ValueError, MemoryError) as err:
            msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            if isinstance(err, MeasurementError):
                raise
            self._write(self._row(status="failed", error=msg[:500], **base), "failed")
            return False
        if write_ok:
            self.summary.cv_by_type[group].append(m.energy_cv)
            self.summary.faults_per_call.append(m.minor_faults_per_call)
            extra = extra_of(m) if extra_of is not None else {}
            self._write(self._row(status="ok", **base, **extra, **self._measurement_cols(m)),
                        "measured")
        return True

    def _write(self, row: dict[str, Any], outcome: str) -> None:
        self.writer.append(row)
        setattr(self.summary, outcome, getattr(self.summary, outcome) + 1)
        if outcome == "measured" and bool(faulted(pd.DataFrame([row]), self.fault_rule).iloc[0]):
            self.summary.faulted += 1


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, sort_keys=True)
