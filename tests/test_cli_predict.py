"""predict / fit / evaluate from the command line: the shipped default and one-line errors."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from conftest import run_cli, run_in_process

from energypred.cli import main

NET = '''
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, width=1):
        super().__init__()
        self.conv = nn.Conv2d(3, 8 * width, 3)
        self.fc = nn.Linear(8 * width, 4)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.conv(x), 1), 1))

def broken():
    raise RuntimeError("boom")
'''


def test_predict_builtin_with_the_shipped_predictor_prints_json() -> None:
    res = run_cli("predict", "vgg16", "--batch-size", "2", "--input-shape", "3,64,64", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["energy_j"] > 0 and out["energy_j_per_sample"] == out["energy_j"] / 2
    assert len(out["layers"]) == 40 and out["unsupported"] == []
    assert "estimate" in out["measurement_method"] or "rapl" in out["measurement_method"]
    assert "allocator" in out["measurement_method"]  # which allocator state the data had
    assert "(shipped; " in out["predictor"]  # which shipped predictor, chosen for this CPU


def test_predict_user_file_with_kwargs_reports_functional_work(tmp_path: Path,
                                                                capsys: object) -> None:
    f = tmp_path / "net.py"
    f.write_text(NET)
    code = main(["predict", f"{f}:Net", "--batch-size", "2", "--input-shape", "3,16,16",
                 "--kwargs", '{"width": 2}'])
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert code == 0
    assert "J per forward pass" in out and "lower bound" in out and "functional" in out


def test_bad_model_specs_are_one_line_errors(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "net.py"
    f.write_text(NET)
    cases = [
        ([str(tmp_path / "missing.py") + ":Net"], "does not exist"),
        ([f"{f}:Nope"], "has no attribute 'Nope'"),
        ([f"{f}:broken"], "building"),
        ([f"{f}:Net", "--input-shape", "5,16,16"], "does not accept input shape"),
        (["vgg16", "--input-shape", "3,x"], "--input-shape"),
        (["vgg16", "--kwargs", "{"], "--kwargs is not valid JSON"),
        (["vgg16", "--predictor", str(tmp_path)], "not a predictor directory"),
        (["nosuchnet"], "cannot read model"),
    ]
    for i, (extra, message) in enumerate(cases):  # the first in a process of its own
        res = (run_cli if i == 0 else partial(run_in_process, capsys))("predict", *extra)
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1 and message in lines[0], (extra, res.stderr)
