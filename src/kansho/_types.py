"""Array type aliases shared by the numerics (shapes and units are given in each docstring)."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.floating]
Float64Array: TypeAlias = npt.NDArray[np.float64]
Float32Array: TypeAlias = npt.NDArray[np.float32]
IntArray: TypeAlias = npt.NDArray[np.integer]
IndexArray: TypeAlias = npt.NDArray[np.intp]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
ComplexArray: TypeAlias = npt.NDArray[np.complexfloating]


def as_float(a: npt.ArrayLike) -> FloatArray:
    """``a`` as it is when float32 or float64, else as float64: the chain's float32 maps are kept without a
    float64 copy (a frame-wide map of 25 million pixels is 100 MB more each); whoever uses one takes each value
    in float64 where it matters (the same numbers as from a float64 copy)."""
    x = np.asarray(a)
    return x if x.dtype == np.float32 else x.astype(np.float64, copy=False)
