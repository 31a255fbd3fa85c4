"""A stand-in for CuPy on a machine without a GPU, strict where CuPy is strict.

Device arrays are a numpy subclass (:class:`Dev`). Like CuPy, an operation refuses a host (numpy)
array mixed with device arrays, ``repeat`` refuses a device array of repeats, and a device array
leaves for the host only through ``.get()``. It lets the tests run kansho's GPU code path (the
numpy/CuPy solver) on the CPU and catch host/device mix-ups that would only fail on a GPU.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np


class Dev(np.ndarray):
    """A "device" array."""

    def get(self) -> np.ndarray:
        return np.array(self.view(np.ndarray))

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, out: Any = None, **kw: Any) -> Any:
        _check(inputs, f"{ufunc.__name__}")
        if out is not None:
            _check(out, f"{ufunc.__name__} out")
            kw["out"] = tuple(_host(o) for o in out)
        return _wrap(getattr(ufunc, method)(*(_host(x) for x in inputs), **kw))

    def __array_function__(self, func: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        _check(args, func.__name__)
        _check(tuple(kwargs.values()), func.__name__)
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    def __setitem__(self, key: Any, value: Any) -> None:
        _check((value,), "setitem")
        _check(key if isinstance(key, tuple) else (key,), "setitem index")
        self.view(np.ndarray)[_unwrap(key)] = _host(value)

    def __getitem__(self, key: Any) -> Any:
        _check(key if isinstance(key, tuple) else (key,), "getitem index")
        return _wrap(self.view(np.ndarray)[_unwrap(key)])


def _host(x: Any) -> Any:
    return x.view(np.ndarray) if isinstance(x, Dev) else x


def _unwrap(x: Any) -> Any:
    if isinstance(x, tuple):
        return tuple(_unwrap(v) for v in x)
    if isinstance(x, list):
        return [_unwrap(v) for v in x]
    if isinstance(x, dict):
        return {k: _unwrap(v) for k, v in x.items()}
    return _host(x)


def _wrap(r: Any) -> Any:
    if isinstance(r, tuple):
        return tuple(_wrap(v) for v in r)
    if isinstance(r, np.ndarray) and not isinstance(r, Dev):
        return r.view(Dev)
    return r


def _check(items: Any, what: str) -> None:
    for x in items:
        if isinstance(x, (tuple, list)):
            _check(x, what)
        elif isinstance(x, np.ndarray) and not isinstance(x, Dev) and x.ndim > 0:
            raise TypeError(f"{what}: a host (numpy) array mixed with device arrays")


def _module() -> types.ModuleType:
    """The fake ``cupy`` module: numpy's functions, returning device arrays."""
    mod = types.ModuleType("cupy")

    def asarray(a: Any, dtype: Any = None) -> Dev:
        return np.array(_host(a), dtype=dtype).view(Dev)

    def repeat(a: Any, repeats: Any, axis: Any = None) -> Dev:
        if isinstance(repeats, Dev):
            raise ValueError("cupy.ndarray cannot be specified as `repeats` argument.")
        return _wrap(np.repeat(_host(a), repeats, axis))

    def lift(f: Any) -> Any:
        def g(*args: Any, **kwargs: Any) -> Any:
            _check(args, f.__name__)
            _check(tuple(kwargs.values()), f.__name__)
            return _wrap(f(*_unwrap(args), **_unwrap(kwargs)))
        return g

    def getattr_(name: str) -> Any:
        obj = getattr(np, name)
        return lift(obj) if callable(obj) and not isinstance(obj, type) else obj

    mod.__getattr__ = getattr_  # type: ignore[method-assign]
    mod.asarray = asarray  # type: ignore[attr-defined]
    mod.array = asarray  # type: ignore[attr-defined]
    mod.repeat = repeat  # type: ignore[attr-defined]
    mod.ndarray = Dev  # type: ignore[attr-defined]
    linalg = types.ModuleType("cupy.linalg")
    linalg.inv = lift(np.linalg.inv)  # type: ignore[attr-defined]
    linalg.solve = lift(np.linalg.solve)  # type: ignore[attr-defined]
    mod.linalg = linalg  # type: ignore[attr-defined]
    return mod


cupy = _module()
