"""Every column of a measurement dataset, with its unit in its name, and the schema version.

Row kinds:
    ``layer``            one sampled layer configuration, measured alone.
    ``arch_layer``       one leaf module of an architecture, measured alone on the input shape it
                         sees inside the network (``architecture`` and ``layer_index`` set).
    ``architecture``     a whole network, measured in one piece.
    ``reference``        the fixed reference workload, measured at intervals to expose drift.
    ``idle``             the idle baseline power at the start of a run.

Architecture rows carry ``arch_protocol``: ``whole_before_leaves`` (schema 1: the whole network
once, then its leaves), ``bracketed`` (the whole network before and after its leaves, energy the
mean of both, ``bracket_drift`` = after / before - 1), so both share the machine's state, or
``interleaved`` (schema 4: also between the leaves every ``whole_every_s``; bracket.py), with
``whole_measurements`` saying how many measurements the row pools.

Schema history: version 2 added ``input_requires_grad``, ``arch_protocol`` and ``bracket_drift``;
version 3 added ``allocator``, ``minor_faults_per_call`` and ``cpu_signature``; version 4 added
``whole_measurements`` (read as 2 for older bracketed rows, 1 for whole_before_leaves); version 5
added ``probe_s_per_call`` (NaN in older rows: they were not probed); version 6 added
``llc_bytes`` (null in older rows: the machine's cache was not recorded, and
``context_fit.llc_for`` says where it then comes from). Older
shards are read with the values their runs implied (see ``dataset.read_dataset``): every run
before version 3 measured with the ``system`` allocator.

Status: ``ok`` (measured), ``skipped`` (budget guard, with ``error`` saying why) or ``failed``
(the measurement raised; ``error`` holds the message). Energy columns are per call, in joules.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

SCHEMA_VERSION: int = 6
#: versions ``read_dataset`` can read (older ones are upgraded on reading)
READABLE_VERSIONS: frozenset[int] = frozenset({1, 2, 3, 4, 5, 6})

#: Row kind of a network's leaf measured with its weights evicted (measurement/in_network.py).
EVICTED_LEAF = "arch_layer_evicted"
ROW_KINDS: tuple[str, ...] = ("layer", "arch_layer", EVICTED_LEAF, "architecture", "reference",
                              "idle")
STATUSES: tuple[str, ...] = ("ok", "skipped", "failed")
#: Allocator states a row can be measured in (measurement/allocator.py); rows written before
#: schema 3 were all measured with ``SYSTEM_ALLOCATOR``.
PADDED_ALLOCATOR = "padded"
SYSTEM_ALLOCATOR = "system"
ALLOCATORS: tuple[str, ...] = (PADDED_ALLOCATOR, SYSTEM_ALLOCATOR)

_I, _F, _S, _B = pa.int64(), pa.float64(), pa.string(), pa.bool_()

#: (name, type, description). Units are part of the names: _j, _s, _w, _bytes, _gb.
COLUMNS: tuple[tuple[str, pa.DataType, str], ...] = (
    ("schema_version", _I, "dataset schema version"),
    ("run_id", _S, "id of the generate run that wrote the row"),
    ("timestamp", pa.timestamp("us", tz="UTC"), "when the measurement ended"),
    ("row_kind", _S, "layer | arch_layer | arch_layer_evicted (weights evicted before each "
                     "call, see measurement/in_network.py) | architecture | reference | idle"),
    ("status", _S, "ok | skipped | failed"),
    ("error", _S, "why a row was skipped or failed"),
    # --- what was measured
    ("layer_type", _S, "registry name (conv2d, linear, ...) or 'architecture'"),
    ("architecture", _S, "alexnet, vgg11, ... for arch_layer and architecture rows"),
    ("layer_index", _I, "call order of the leaf inside its architecture"),
    ("layer_name", _S, "module path of the leaf inside its architecture"),
    ("phase", _S, "inference | training"),
    ("sampler", _S, "uniform | realistic | scaled | architecture | reference"),
    ("seed", _I, "seed of the run's sampler"),
    ("sample_index", _I, "position of the configuration in its sampler's sequence"),
    ("config_hash", _S, "hash of the configuration (resume key with phase)"),
    ("config_json", _S, "the full configuration, JSON"),
    ("batch_size", _I, "first dimension of the input"),
    ("input_shape", _S, "input shape, e.g. 16x3x56x56"),
    ("output_shape", _S, "output shape"),
    ("input_channels", _I, "dimension 1 of the input"),
    ("input_height", _I, "dimension 2 of a 4-D input"),
    ("input_width", _I, "dimension 3 of a 4-D input"),
    ("elements_per_sample", _I, "input elements per sample"),
    ("in_channels", _I, "Conv2d"), ("out_channels", _I, "Conv2d"),
    ("kernel_size", _I, "Conv2d, pooling (square)"), ("stride", _I, "Conv2d, pooling"),
    ("padding", _I, "Conv2d, pooling"), ("dilation", _I, "Conv2d"), ("groups", _I, "Conv2d"),
    ("in_features", _I, "Linear"), ("out_features", _I, "Linear"),
    ("inplace", _B, "activation runs in place"),
    ("input_requires_grad", _B, "training: the step computed the input's gradient (False for "
     "the first layer of a network, whose input is data); False at inference"),
    ("width_mult", _F, "architecture channel-width multiplier"),
    ("num_classes", _I, "architecture output classes"),
    # --- work
    ("macs", _I, "multiply-accumulates per call (whole batch)"),
    ("input_elements", _I, "elements of the input per call"),
    ("output_elements", _I, "elements of the output per call"),
    ("weight_elements", _I, "parameter elements"),
    ("window_ops", _I, "pooling: output elements x window size"),
    ("bytes_read", _I, "input + weight bytes per call"),
    ("bytes_written", _I, "output bytes per call"),
    ("est_memory_bytes", _I, "budget guard: estimated peak memory"),
    ("est_call_s", _F, "budget guard: estimated time per call"),
    # --- measurement (per call unless said otherwise)
    ("energy_j", _F, "total energy per call (cpu + ram + gpu), mean over repeats"),
    ("cpu_energy_j", _F, "CPU energy per call"),
    ("ram_energy_j", _F, "RAM energy per call"),
    ("gpu_energy_j", _F, "GPU energy per call"),
    ("duration_s", _F, "wall time per call"),
    ("energy_j_repeats", pa.list_(_F), "energy per call of each repeat window"),
    ("duration_s_repeats", pa.list_(_F), "time per call of each repeat window"),
    ("energy_cv", _F, "coefficient of variation of energy per call over repeats (fraction)"),
    ("calls_per_window", _I, "calls in each window"),
    ("repeats", _I, "windows per configuration"),
    ("window_s", _F, "mean window duration"),
    ("warmup_s", _F, "time spent in warm-up calls before the windows"),
    ("cpu_power_w", _F, "mean CPU power inside the windows"),
    ("arch_protocol", _S, "architecture rows: whole_before_leaves | bracketed | interleaved"),
    ("bracket_drift", _F, "bracketed and interleaved architecture rows: energy of the last / "
                          "first measurement of the whole - 1"),
    ("whole_measurements", _I, "architecture rows: measurements of the whole network pooled "
                               "(count; bracket.py)"),
    ("power_w", _F, "mean total power inside the windows"),
    ("minor_faults_per_call", _F, "minor page faults per call inside the windows (count)"),
    ("probe_s_per_call", _F, "s per call of the reference convolution timed just before and "
                             "after the measurement (mean of the two; pooled whole networks: "
                             "mean over their measurements; measurement/probe.py)"),
    ("allocator", _S, "padded | system: the malloc state measured in (measurement/allocator.py)"),
    # --- how the numbers were obtained
    ("meter", _S, "codecarbon | fake"),
    ("cpu_method", _S, "rapl | cpu_load_tdp_estimate | constant_tdp_estimate | ..."),
    ("ram_method", _S, "ram_power_estimate | ..."),
    ("gpu_method", _S, "nvml | none"),
    ("cpu_tdp_w", _F, "TDP CodeCarbon assumed for a load-based CPU estimate"),
    ("is_estimate", _B, "True unless every component came from a hardware energy counter"),
    ("idle_power_w", _F, "idle baseline power of the run (total)"),
    ("reference_energy_j", _F, "latest reference-workload energy per call before this row"),
    ("reference_duration_s", _F, "latest reference-workload time per call before this row"),
    # --- environment
    ("hardware_id", _S, "hash of the hardware fingerprint"),
    ("cpu_model", _S, "CPU model"), ("cpu_cores", _I, "logical CPUs"),
    ("cpu_signature", _S, "CPU family/model/stepping (a VM's model name can hide them)"),
    ("llc_bytes", _I, "largest CPU cache the machine reports (sysfs); null where unreadable "
                      "or before schema 6"),
    ("ram_gb", _F, "total RAM"), ("gpu_model", _S, "GPU model or empty"),
    ("os", _S, "operating system"), ("python_version", _S, "Python"),
    ("torch_version", _S, "torch"), ("codecarbon_version", _S, "codecarbon"),
    ("energypred_version", _S, "energypred"), ("threads", _I, "torch.get_num_threads()"),
)

COLUMN_NAMES: tuple[str, ...] = tuple(c[0] for c in COLUMNS)
ARROW_SCHEMA: pa.Schema = pa.schema([pa.field(n, t) for n, t, _ in COLUMNS])


def to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Build an Arrow table in the dataset schema; unknown keys raise, missing keys are null."""
    unknown = {k for r in rows for k in r} - set(COLUMN_NAMES)
    if unknown:
        raise KeyError(f"columns not in the schema: {sorted(unknown)}")
    data = {n: [r.get(n) for r in rows] for n in COLUMN_NAMES}
    return pa.Table.from_pydict(data, schema=ARROW_SCHEMA)
