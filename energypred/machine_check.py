"""Is this machine in the state a predictor's data was measured in? The reference, timed.

The same fingerprint does not mean the same machine. The project's 2-core VMs all say
"AMD EPYC" and hash to one ``hardware_id``, yet one ran the reference convolution in 1.05 ms
per call, another in 2.6 ms for a whole 50-minute run, and a third (``cpu_signature`` family 25
model 17, Zen 4) in 4.3 ms with glibc's malloc as it comes (2.1 ms with the ``padded``
allocator). A predictor fitted on one predicts the others' energies 2-4x low, and nothing in a
fingerprint says so. The check times the workload ``generate`` measures at intervals
(``workloads.REFERENCE``) for a few seconds, in the allocator state the predictor's data was
measured in, and compares it with what that data recorded::

    fit:    reference rows of the dataset -> metadata "reference": median s and J per call
    check:  REFERENCE called for `seconds` here -> median s per call of short batches
            ratio = here / predictor's;  |ratio - 1| <= tolerance: same state

Time, not energy: CodeCarbon's estimate on these machines is power × time at a nearly constant
power (TDP × load), so a time ratio is the energy ratio, and timing needs no meter.

The ratio says *whether* a predictor applies, not by how much to correct it: on another CPU the
layers do not all scale as the reference does. Measured on the Xeon VM's 75 whole networks
(``scripts/transfer.py``, inference): ``zen4-2c-padded`` (reference 0.67x there) was off by
55.4 % as is and 12.7 % scaled by the ratio, but ``epyc-2c`` (1.41x) by 21.4 % as is and
51.2 % scaled; over all six pairs of the three shipped predictors and machines (2026-11-25),
17-54 % as is and 11-95 % scaled (19-54 % and 11-95 % with ``xeon-2c-padded`` on four runs).
So ``check`` tells the user to measure, and nothing rescales predictions.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from energypred.dataset import reference_median
from energypred.errors import ArtifactError
from energypred.hardware import fingerprint
from energypred.measurement import workloads as wl
from energypred.measurement.allocator import SYSTEM, configure, minor_faults
from energypred.predictor import Predictor

#: the ratio beyond which a machine is in another state; ``generate`` refuses to resume a
#: dataset at the same shift (``--max-reference-shift``)
DEFAULT_TOLERANCE = 0.25


def reference_metadata(df: pd.DataFrame) -> dict[str, Any] | None:
    """What a dataset's reference rows say about its machine state, for predictor metadata:
    median ``duration_s`` per call over its readings, and ``energy_j`` per call as
    :func:`energypred.dataset.reference_median` defines the machine state (None without any)."""
    ref = df[(df["row_kind"] == "reference") & (df["status"] == "ok")]
    ref = ref.dropna(subset=["duration_s", "energy_j"])
    if ref.empty:
        return None
    return {"duration_s": float(ref["duration_s"].median()),
            "energy_j": reference_median(ref), "readings": int(len(ref)),
            "workload": wl.REFERENCE.payload()}


def time_reference(seconds: float = 2.0, batch_s: float = 0.1) -> tuple[float, float]:
    """Time the reference workload in this process: (median s per call over batches of about
    ``batch_s``, minor page faults per call), after one warm-up batch."""
    conv = wl.build_layer(wl.REFERENCE)
    with wl.workload(conv, wl.REFERENCE.input_shape, "inference", False) as step:
        t_end = time.perf_counter() + batch_s  # warm-up
        while time.perf_counter() < t_end:
            step()
        per_call, calls, f0 = [], 0, minor_faults()
        t_stop = time.perf_counter() + seconds
        while time.perf_counter() < t_stop or not per_call:
            t0, n = time.perf_counter(), 0
            while time.perf_counter() - t0 < batch_s:
                step()
                n += 1
            per_call.append((time.perf_counter() - t0) / n)
            calls += n
        faults = (minor_faults() - f0) / calls
    return statistics.median(per_call), faults


@dataclass(frozen=True)
class MachineCheck:
    """The reference workload here against a predictor's data; times in s per call."""

    here_s: float
    predictor_s: float
    tolerance: float
    allocator: str
    faults_per_call: float
    cpu_signature_here: str | None
    cpu_signature_predictor: str | None
    same_hardware_id: bool

    @property
    def ratio(self) -> float:
        """Time per call here / in the predictor's data (its energies scale about so)."""
        return self.here_s / self.predictor_s

    @property
    def ok(self) -> bool:
        """Whether this machine is in the predictor's state (within the tolerance)."""
        return abs(self.ratio - 1) <= self.tolerance and (
            self.cpu_signature_predictor is None
            or self.cpu_signature_here == self.cpu_signature_predictor)

    def lines(self) -> list[str]:
        """A human report: the figures, then one verdict line that says what to do."""
        sig = (f"CPU signature here {self.cpu_signature_here or 'unknown'}, predictor's data "
               f"{self.cpu_signature_predictor or 'not recorded'}")
        out = [f"reference convolution ({wl.REFERENCE.input_shape}, 3x3, 64->64), allocator "
               f"{self.allocator}: {1e3 * self.here_s:.2f} ms per call here "
               f"({self.faults_per_call:,.0f} minor page faults per call), "
               f"{1e3 * self.predictor_s:.2f} ms in the predictor's data: {self.ratio:.2f}x",
               f"hardware id {'the same' if self.same_hardware_id else 'differs'}; {sig}"]
        if self.ok:
            out.append(f"ok: within ±{100 * self.tolerance:.0f} % of the predictor's machine "
                       "state; its figures apply here")
        elif abs(self.ratio - 1) > self.tolerance:
            out.append(f"differs: this machine runs the reference {self.ratio:.2f}x as long as "
                       "the predictor's did, and other layers need not scale alike, so its "
                       "figures do not apply here, scaled or not; measure a dataset here "
                       "(energypred generate) and fit on it")
        else:
            out.append("differs: another CPU behind the same name, though the reference runs "
                       "as fast; other layers may not: measure a dataset here (energypred "
                       "generate) and fit on it")
        return out


def check_machine(predictor: Predictor, seconds: float = 2.0,
                  tolerance: float = DEFAULT_TOLERANCE) -> MachineCheck:
    """Time the reference here in the predictor's allocator state and thread count, for
    ``seconds`` (s), and compare with its data (module doc).

    Raises:
        ArtifactError: the predictor records no reference timing (fitted before it was kept).
        ConfigError: this process already runs in another allocator state.
    """
    ref = predictor.metadata.get("reference")
    if not ref:
        raise ArtifactError(f"predictor {predictor.source} records no reference timing (it was "
                            "fitted before energypred kept one); refit it with energypred fit")
    allocator = configure(predictor.metadata.get("allocator") or SYSTEM)
    threads = torch.get_num_threads()
    torch.set_num_threads(int(predictor.metadata.get("threads") or threads))
    try:
        here_s, faults = time_reference(seconds)
    finally:
        torch.set_num_threads(threads)
    fp = fingerprint()
    hw = predictor.metadata.get("hardware", {})
    return MachineCheck(here_s=here_s, predictor_s=float(ref["duration_s"]),
                        tolerance=tolerance, allocator=allocator, faults_per_call=faults,
                        cpu_signature_here=fp.get("cpu_signature"),
                        cpu_signature_predictor=hw.get("cpu_signature"),
                        same_hardware_id=hw.get("hardware_id") == fp["hardware_id"])
