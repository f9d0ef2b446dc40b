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


def run_in_process(capsys: pytest.CaptureFixture[str], *args: str
                   ) -> subprocess.CompletedProcess[str]:
    """Run ``energypred ARGS`` through ``cli.main`` in this process, as ``run_cli`` does in a
    subprocess, minus the 2-4 s of interpreter and torch start-up each call costs there; for
    tests of many error cases, which keep one ``run_cli`` case to check the process end to end
    (output from warnings and logging at start-up goes elsewhere in process)."""
    from energypred.cli import main

    capsys.readouterr()  # drop what the test printed before
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse's errors exit; as the interpreter maps the code
        code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["energypred", *args], code, out.out, out.err)


@pytest.fixture
def tiny_args() -> list[str]:
    """Arguments that keep a real generate run to a few seconds."""
    return list(TINY)
