"""The memory allocator during measurement: page faults per call, and how to remove them.

Every call of a layer allocates its output (and, in training, its gradients). With glibc's
default malloc, large blocks are mapped fresh from the kernel and freed memory goes back to it
(``munmap``, heap trim), so the next call touches new pages and takes a page fault on each 4 KiB
of them. How many faults a call takes depends on the heap's history, not on the layer: a leaf
called over and over settles into a pattern that a network, whose layers allocate many sizes in
turn, does not.

Measured on a 2-core "AMD EPYC" VM (family 25 model 17, Zen 4; glibc 2.36, torch 2.13 CPU,
2 threads; minor faults per call from ``getrusage``, ``scripts/bench_allocator.py``):

* a minor fault costs about 3.1 µs there (a VM exit and zeroing the page);
* AlexNet (width 0.5, batch 8, 224 px) inference: 677-725 faults per call as a whole network,
  0-4 for its leaves measured alone; VGG16 (batch 1, 160 px): 8,133 against 4,371; AlexNet's
  training step took about 9,700 whole and leaf by leaf, a sixth of its time;
* with ``padded`` below, each of them took 0 faults per call, whole or leaf by leaf, in most
  runs (see ``scripts/bench_allocator.py`` for what remains).

So the ``system`` allocator makes a network cost more or less than its leaves for a reason that
is neither the layers' arithmetic nor the cache, makes repeated measurements of one layer
bimodal (AlexNet's FC1 training step, width 0.5, with a 36 MiB weight gradient, measured
0.26-0.81 J on the shipped data), and makes the machine look slower than it is: the reference
convolution took 1,090 faults per call on that VM and ran in 4.3 ms, against 2.1 ms without.

``padded`` keeps freed memory mapped: glibc never trims its heap and never maps a block of its
own (:data:`MALLOPT`), and MKL's memory manager, which maps buffers of its own for Linear layers
in training (800-8,400 faults per call), is off (:data:`MKL_ENV`). Each part was needed: with a
top pad alone, VGG11's training step (width 1, 1000 classes, 64 px) still took 100,000 faults
per call; with no maps too, one run of it still took 32,000; MKL's buffers remained after that.
After warm-up a call reuses pages it already touched::

    system:  call → malloc → fresh pages → fault × (bytes / 4 KiB) → compute → free → unmap
    padded:  call → malloc → heap pages still mapped ─────────────→ compute → free → keep

Faults are still counted for every measurement (``minor_faults_per_call``), so any that remain
show in the data.

"Never trims" took two tries. Until 2026-12-07 the threshold was ``2**31 - 1``, the largest
``int``: glibc then trimmed whenever more than 2 GiB lay free at the top of its heap, which
only calls holding gigabytes reach (networks at full size and large batches, the largest random
convolutions). VGG16 at 224 px and batch 128 (Zen 5 VM,
inference, ``torch.no_grad``, scratch timing of three calls each) took 2.2-2.8 M faults and
16.5-21.2 s per call that way, and 0.1-0.55 M faults and 10.5-13.3 s with ``-1``, which glibc
reads as the largest ``size_t``: never. At batch 64 it took none after its first call. Rows
measured before then say so themselves: their ``minor_faults_per_call`` runs to thousands or
millions, and ``fit`` leaves them out (``faulted.without_faulted``).

A heap that is never trimmed only grows: every page it ever touched stays resident, and
blocks of gigabytes freed and allocated again do not always land where they were. On
2026-12-07 (Zen 5 VM, 23 GB RAM) a run measuring full-size networks at batch 256 (VGG11-16 at
224 px, calls estimated at 7.1 GB) grew to 24 GB resident and the kernel's OOM killer ended it.
Handing the free pages back (:func:`release`: glibc's ``malloc_trim(0)``, which also returns
the free pages inside the heap) bounds that, but costs faults: the next run, which released
before every measurement once it held 2 GiB, peaked at 17.8 GB, yet its calls then met fresh
pages inside their windows (VGG16's whole 381,251 faults per call where the run before took
8,385; max-pooling leaves a median 25,000-50,000 and a repeat CV of 20-35 %). So a run
releases only when it must: before a measurement, once it holds more than
:data:`RELEASE_ABOVE_SHARE` of the machine's memory, never inside one::

    measurement k ═[windows]═ │ resident > 40 % of RAM? → release() │ measurement k+1 ...

Rows measured in that 2 GiB hour say so in their ``minor_faults_per_call``, and ``fit`` leaves
them out as it does the trimmed ones (``faulted.without_faulted``). This bounds what a run
keeps between measurements, not what one measurement grows to: measuring those networks again
under this rule, one whole VGG at batch 256 grew the heap by about 10 GB past its 7.1 GB
estimate, the run peaked at 20.1 GB, and the measurements released before still faulted.
The budget guard now estimates a whole network under ``padded`` by every output its call
allocates (``workloads.HEAP_KEPT_FACTOR``): 21.1 GB for that VGG16, which the default limit
skips on such a machine.

``padded`` is process-wide and cannot be undone (glibc then stops adapting its thresholds), so
:func:`configure` is called once, before anything is measured, and a process never switches.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import resource

import psutil

from energypred.errors import ConfigError
from energypred.schema import ALLOCATORS, PADDED_ALLOCATOR as PADDED, SYSTEM_ALLOCATOR as SYSTEM

__all__ = ["ALLOCATORS", "MALLOPT", "MKL_ENV", "PADDED", "RELEASE_ABOVE_SHARE", "SYSTEM",
           "configure", "configured", "describe", "env_ready", "minor_faults",
           "peak_resident_bytes", "release", "release_above_bytes", "resident_bytes"]

#: glibc ``mallopt`` settings of ``padded`` (<malloc.h> parameter, value): never trim the heap
#: (-1: mallopt's ``int`` becomes the largest ``size_t``), never map a block of its own, grow the
#: heap 64 MiB at a time
MALLOPT: tuple[tuple[str, int, int], ...] = (
    ("M_TRIM_THRESHOLD", -1, -1), ("M_TOP_PAD", -2, 64 << 20), ("M_MMAP_MAX", -4, 0))
#: the largest ``size_t`` on 64-bit Linux: what glibc makes of -1, and what its environment
#: variables need spelled out
_SIZE_MAX = 2**64 - 1
#: share of the machine's memory a run may hold before it hands its free heap back between
#: measurements (:func:`release_above_bytes`)
RELEASE_ABOVE_SHARE = 0.4
#: read by MKL when it loads (so only from the environment a process starts with): its own
#: memory manager, which maps buffers of its own, off
MKL_ENV: dict[str, str] = {"MKL_DISABLE_FAST_MM": "1"}

log = logging.getLogger(__name__)
_configured: str | None = None


def describe(name: str) -> str:
    """One line saying what an allocator setting means, for reports and metadata."""
    if name == PADDED:
        env = " ".join([f"MALLOC_{n[2:]}_={v & _SIZE_MAX}" for n, _, v in MALLOPT]
                       + [f"{k}={v}" for k, v in MKL_ENV.items()])
        return (f"padded (freed memory stays mapped: no page faults per call after warm-up; "
                f"run with {env} to match)")
    if name == SYSTEM:
        return "system (the C library's malloc as configured by default)"
    raise ConfigError(f"unknown allocator {name!r}; choose one of {', '.join(ALLOCATORS)}")


def env_ready() -> bool:
    """Whether this process started with :data:`MKL_ENV` (MKL reads it only when it loads)."""
    return all(os.environ.get(k) == v for k, v in MKL_ENV.items())


def configure(name: str) -> str:
    """Put this process's allocator in state ``name`` (see module doc); returns ``name``.

    ``padded`` sets :data:`MALLOPT`; MKL's part needs :data:`MKL_ENV` from the start (the
    ``generate`` command restarts itself with it), and a warning says when it is missing.

    Raises:
        ConfigError: unknown name; ``padded`` without glibc; or the process was already
            configured differently (``padded`` cannot be undone: start a new process).
    """
    global _configured
    describe(name)  # validates the name
    if _configured is not None and _configured != name:
        raise ConfigError(f"this process already measures with the {_configured} allocator and "
                          f"cannot switch to {name}; run it in a new process")
    if name == PADDED and _configured != PADDED:
        if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
            raise ConfigError("--allocator padded needs Linux with glibc; use --allocator "
                              "system on this machine")
        libc = ctypes.CDLL(None)
        for pname, param, value in MALLOPT:
            if libc.mallopt(param, value) != 1:
                raise ConfigError(f"glibc refused mallopt({pname}, {value}); use --allocator "
                                  f"system")
        if not env_ready():
            log.warning("MKL's memory manager is on (start the process with %s): Linear layers "
                        "in training may still page-fault", MKL_ENV)
    _configured = name
    return name


def configured() -> str | None:
    """The allocator state :func:`configure` set in this process (None before any call)."""
    return _configured


def minor_faults() -> int:
    """Minor page faults of this process so far (``getrusage``; counts, not seconds)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def resident_bytes() -> int:
    """This process's resident memory now (bytes)."""
    return int(psutil.Process().memory_info().rss)


def peak_resident_bytes() -> int:
    """This process's largest resident memory so far (bytes; ``getrusage``, which Linux gives
    in KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def release_above_bytes() -> int:
    """Resident memory (bytes) above which a run releases its free heap before a measurement:
    :data:`RELEASE_ABOVE_SHARE` of this machine's memory."""
    return int(RELEASE_ABOVE_SHARE * psutil.virtual_memory().total)


def release(above_bytes: int = 0) -> bool:
    """Hand the heap's free memory back to the kernel, between two measurements (module doc),
    when this process holds more than ``above_bytes`` resident.

    Only under ``padded``, whose heap is never trimmed otherwise: glibc's ``malloc_trim(0)``
    returns the free top of every arena and the free pages inside them, so the process keeps
    resident only what is live. The ``system`` state is left as glibc runs it. Returns whether
    anything was released (glibc's answer; False outside ``padded`` or below ``above_bytes``).
    Never call it inside a measurement window: the pages it returns cost a page fault each when
    touched again.
    """
    if _configured != PADDED or resident_bytes() <= above_bytes:
        return False
    return bool(ctypes.CDLL(None).malloc_trim(0))
