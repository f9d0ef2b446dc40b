"""Shared fixtures. Tests use real CodeCarbon on tiny workloads, or FakeMeter where the test is
about something other than the measurement itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: A tiny, fast generate invocation: small windows, big configurations skipped by the guard.
#: tiny windows read the reference too noisily for the resume check; its own test turns it on
TINY = ["--max-reference-shift", "0",
        "--window-s", "0.02", "--repeats", "2", "--max-call-s", "0.01", "--settle-s", "0.2",
        "--reference-every-s", "5", "--probe-s", "0.002", "--no-progress"]


def run_cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run ``python -m energypred ARGS`` in a subprocess, capturing output."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "energypred", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


@pytest.fixture
def tiny_args() -> list[str]:
    """Arguments that keep a real generate run to a few seconds."""
    return list(TINY)
