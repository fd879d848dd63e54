"""A result dataclass as arrays plus a JSON skeleton, and back, bit for bit.

`encode` walks a value: numpy arrays, numpy scalars and torch tensors go to the arrays
(named ``a0``, ``a1``, ... in order), the rest becomes JSON: dataclasses by module and
qualified name with their fields, tuples, lists, string-keyed dicts, and Python numbers,
strings, bools and None. `decode` rebuilds the value with the same classes, without calling
their ``__init__`` (a stored result is restored, not re-validated). Anything else is refused,
so a result the store cannot hold fails when it is saved, never when it is read.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from typing import Any

import numpy as np
import torch


def encode(value: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The JSON skeleton of `value`; its arrays are added to `arrays`. TypeError names what cannot be stored."""
    if isinstance(value, (np.ndarray, np.generic, torch.Tensor)):
        kind = "tensor" if isinstance(value, torch.Tensor) else "scalar" if isinstance(value, np.generic) else "array"
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        if array.dtype == object:
            raise TypeError(f"cannot store an object array (shape {array.shape})")
        name = f"a{len(arrays)}"
        arrays[name] = array
        return {"__array__": name, "kind": kind}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        return {"__dataclass__": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: encode(getattr(value, f.name), arrays) for f in dataclasses.fields(value)}}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, arrays) for v in value]}
    if isinstance(value, list):
        return [encode(v, arrays) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(f"cannot store a dict with non-string keys {list(value)[:3]}")
        return {"__dict__": {k: encode(v, arrays) for k, v in value.items()}}
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a value of type {type(value).__name__}")


def decode(skeleton: Any, arrays: dict[str, np.ndarray]) -> Any:
    """The value `encode` described, rebuilt from its skeleton and arrays."""
    if isinstance(skeleton, list):
        return [decode(v, arrays) for v in skeleton]
    if not isinstance(skeleton, dict):
        return skeleton
    if "__array__" in skeleton:
        array = arrays[skeleton["__array__"]]
        return {"array": array, "scalar": array[()], "tensor": torch.from_numpy(array)}[skeleton["kind"]]
    if "__dataclass__" in skeleton:
        module, qualname = skeleton["__dataclass__"].split(":")
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        value = object.__new__(cls)
        for name, field in skeleton["fields"].items():
            object.__setattr__(value, name, decode(field, arrays))
        return value
    if "__tuple__" in skeleton:
        return tuple(decode(v, arrays) for v in skeleton["__tuple__"])
    if "__dict__" in skeleton:
        return {k: decode(v, arrays) for k, v in skeleton["__dict__"].items()}
    if "__float__" in skeleton:
        return float(skeleton["__float__"])
    raise ValueError(f"unknown entry in a stored result: {sorted(skeleton)}")
