"""Hardware and software fingerprint stored with every row and every fitted predictor."""

from __future__ import annotations

import hashlib
import json
import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

import psutil
import torch

#: the last-level cache assumed where the machine's cannot be read, bytes
DEFAULT_LLC_BYTES = 32 * 1024 * 1024


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall back to platform below
    return platform.processor() or platform.machine()


def _cpu_signature() -> str | None:
    """'family F model M stepping S' from /proc/cpuinfo (x86 Linux), None elsewhere.

    A VM's model name can hide the CPU behind it: the project's VMs all say "AMD EPYC", and one
    of them (family 25 model 17, Zen 4) ran the reference convolution 4x slower than the one
    the shipped data was measured on. Not part of ``hardware_id`` (older rows lack it)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    break  # first processor only
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        return None  # not Linux: no signature
    if "cpu family" not in fields:
        return None
    return (f"family {fields['cpu family']} model {fields.get('model', '?')} "
            f"stepping {fields.get('stepping', '?')}")


def _llc_bytes() -> int | None:
    """Size of the largest CPU cache (Linux sysfs), bytes; None where it cannot be read."""
    sizes = []
    for d in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (d / "size").read_text().strip()
        except OSError:
            continue
        units = {"K": 1024, "M": 1024**2, "G": 1024**3}
        sizes.append(int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text))
    return max(sizes) if sizes else None


def _gpu_model() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return ""


@lru_cache(maxsize=1)
def fingerprint() -> dict[str, Any]:
    """The machine and versions that measurements or predictions run on.

    Returns:
        A dict with ``cpu_model``, ``cpu_signature``, ``cpu_cores`` (logical), ``ram_gb``
        (total, GB), ``gpu_model``, ``os``, versions, and ``hardware_id`` (hash of the hardware
        part).
    """
    import codecarbon

    from energypred import __version__

    hw = {
        "cpu_model": _cpu_model(),
        "cpu_signature": _cpu_signature(),
        "cpu_cores": psutil.cpu_count(logical=True) or 1,
        "ram_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "gpu_model": _gpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "llc_bytes": _llc_bytes(),
    }
    hw_id = hashlib.sha256(json.dumps(
        {k: hw[k] for k in ("cpu_model", "cpu_cores", "ram_gb", "gpu_model")},
        sort_keys=True).encode()).hexdigest()[:16]
    return {
        **hw,
        "hardware_id": hw_id,
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "codecarbon_version": codecarbon.__version__,
        "energypred_version": __version__,
    }
