"""Turn what a user names (a built-in, ``file.py:Name``, ``package.module:name``) into a model.

Models are constructed under ``torch.device("meta")``: their weights are never allocated, so
predicting a large network costs almost no memory. Every failure is one ConfigError line.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from energypred.architectures import ARCHITECTURES
from energypred.errors import ConfigError


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


def _import_file(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist")
    name = f"_energypred_user_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # noqa: BLE001 - any error in user code becomes one line
        raise ConfigError(f"importing {path} failed: {_one_line(err)}") from err
    return module


def resolve(spec: str) -> Any:
    """The object a model spec names (not yet called)."""
    if spec.lower() in ARCHITECTURES:
        return ARCHITECTURES[spec.lower()]
    if ":" not in spec:
        raise ConfigError(f"cannot read model {spec!r}: use a built-in name "
                          f"({', '.join(ARCHITECTURES)}), path/to/file.py:Name or "
                          "package.module:name")
    where, attr = spec.rsplit(":", 1)
    if where.endswith(".py") or "/" in where:
        module = _import_file(Path(where))
    else:
        try:
            module = importlib.import_module(where)
        except Exception as err:  # noqa: BLE001
            raise ConfigError(f"cannot import module {where!r}: {_one_line(err)}") from err
    if not hasattr(module, attr):
        public = sorted(n for n in vars(module) if not n.startswith("_"))
        raise ConfigError(f"{where} has no attribute {attr!r}; it defines: "
                          f"{', '.join(public[:12]) or 'nothing public'}")
    return getattr(module, attr)


def build_model(spec: str | nn.Module, kwargs: dict[str, Any] | str | None = None) -> nn.Module:
    """Build the model a spec names, on the meta device.

    Args:
        spec: built-in name, ``path/file.py:Name``, ``package.module:name`` (a class or a
            factory returning an ``nn.Module``), or a module instance (returned as is).
        kwargs: keyword arguments for the class or factory (a dict or a JSON object string).
    """
    if isinstance(spec, nn.Module):
        return spec
    if isinstance(kwargs, str):
        try:
            kwargs = json.loads(kwargs)
        except json.JSONDecodeError as err:
            raise ConfigError(f"--kwargs is not valid JSON: {err.msg}") from err
        if not isinstance(kwargs, dict):
            raise ConfigError("--kwargs must be a JSON object, e.g. '{\"width\": 2}'")
    obj = resolve(spec)
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise ConfigError(f"{spec} is a {type(obj).__name__}, not a model class or factory")
    try:
        with torch.device("meta"):
            model = obj(**(kwargs or {}))
    except Exception as err:  # noqa: BLE001 - user code: report in one line
        raise ConfigError(f"building {spec} failed: {_one_line(err)}") from err
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{spec} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def parse_shape(text: str) -> tuple[int, ...]:
    """``"3,224,224"`` -> (3, 224, 224): the input of one sample, without the batch."""
    if not re.fullmatch(r"\s*\d+(\s*[,x]\s*\d+)*\s*", text):
        raise ConfigError(f"--input-shape must be integers like 3,224,224, got {text!r}")
    shape = tuple(int(x) for x in re.split(r"[,x]", text))
    if any(d <= 0 for d in shape):
        raise ConfigError(f"--input-shape must be positive integers, got {text!r}")
    return shape
