"""A plan that measures a dataset's faulted rows again (``generate --redo-faulted``).

A resume re-measures a faulted row (``faulted.unsettled``) only if it runs the plan the row
came from again, with that run's arguments. This plan is taken from the dataset itself: one
task per configuration whose measurement faulted and was not yet measured again, rebuilt from
its ``config_json``::

    faulted row ─┬─ a sampled layer ("layer")         → that layer configuration, its phase
                 └─ a whole network or one of its      → that network variant (``run_arch``
                    leaves ("architecture", leaf rows)    measures whatever of it is not done)

Layer tasks come first, then networks from the smallest estimated memory up, so a run
stopped by ``--max-time`` has re-measured the most rows before the calls that hold gigabytes.
A configuration that cannot be rebuilt to the hash it was stored under (its layer's
parameters are read differently today) is refused with its hash, never measured as something
else.
"""

from __future__ import annotations

import json

import pandas as pd

from energypred.configs import ArchConfig, LayerConfig
from energypred.dataset import done_keys
from energypred.errors import DatasetError
from energypred.faulted import unsettled
from energypred.measurement import workloads as wl
from energypred.sampling import Task

def layer_from_json(config_json: str, config_hash: str) -> LayerConfig:
    """The layer configuration a row's ``config_json`` stores; refused (``DatasetError``)
    unless it hashes to ``config_hash`` again."""
    cfg = LayerConfig.from_json(config_json)
    if cfg.config_hash() != config_hash:
        raise DatasetError(f"configuration {config_hash} ({cfg.layer_type}) rebuilds to "
                           f"{cfg.config_hash()}: its parameters are read differently now, so "
                           f"it cannot be measured again as it was")
    return cfg


def redo_plan(df: pd.DataFrame) -> list[Task]:
    """Tasks measuring again each configuration of ``df`` with a faulted row, not measured
    again since and with no clean row (see module doc); empty when there is none."""
    done = done_keys(df)
    rows = df[unsettled(df)]
    rows = rows[[(h, p) not in done for h, p in zip(rows["config_hash"], rows["phase"],
                                                     strict=True)]]
    wholes = df[df["row_kind"] == "architecture"].drop_duplicates("config_hash")
    arch_json = dict(zip(wholes["config_hash"], wholes["config_json"], strict=True))
    layers: dict[tuple[str, str], Task] = {}
    archs: dict[tuple[str, str], tuple[int, Task]] = {}
    for r in rows.itertuples():
        phase, index = str(r.phase), int(r.sample_index) if r.sample_index == r.sample_index else 0
        if r.row_kind == "layer":
            cfg = layer_from_json(str(r.config_json), str(r.config_hash))
            layers.setdefault((cfg.config_hash(), phase),
                              Task(0, phase, str(r.sampler), index, layer=cfg))
            continue
        arch_hash = (str(r.config_hash) if r.row_kind == "architecture"
                     else json.loads(str(r.config_json)).get("architecture_hash"))
        if arch_hash not in arch_json:
            raise DatasetError(f"faulted leaf {r.config_hash} belongs to network {arch_hash}, "
                               f"which has no whole-network row to rebuild it from")
        arch = ArchConfig.from_json(arch_json[arch_hash])
        if (arch_hash, phase) not in archs:
            # memory only: the machine's rates do not enter it
            est = wl.estimate_arch(wl.trace_arch(arch), phase, wl.MachineRates(1.0, 1.0),
                                   heap_kept=True)
            archs[(arch_hash, phase)] = (est.memory_bytes,
                                         Task(0, phase, "architecture", index, arch=arch))
    ordered = list(layers.values()) + [t for _, t in sorted(archs.values(),
                                                            key=lambda st: st[0])]
    return [Task(i, t.phase, t.sampler, t.index, layer=t.layer, arch=t.arch)
            for i, t in enumerate(ordered)]
