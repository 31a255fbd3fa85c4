"""Digests of a run folder's products, to hold results unchanged across refactors.

:func:`digest_run` reads every ``results/*.tif`` band, every dataset of ``cum.h5`` and
``cum_filt.h5`` and every ``info/`` table except ``timings.txt``, and returns per item a SHA-256
of the exact bytes (dtype, shape and values) together with summary statistics (finite count,
sum, min, max) that make a mismatch readable. ``python -m tests.golden.record`` writes the
references in this folder; ``tests/test_golden.py`` compares a fresh run with them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import rasterio

#: packages whose version changes may legitimately change the last bits of a float result
VERSIONED = ("numpy", "scipy", "numba", "rasterio", "h5py", "zarr")


def _simd() -> str:
    """The widest vector instruction level NumPy dispatches to on this CPU (its SIMD paths, AVX-512
    against AVX2 say, may round the last bit of a transcendental function differently) and the CPU
    model numba compiles the kernels for: LLVM's cost model for one model (AMD ``znver4``, say)
    vectorises a reduction with other widths than for another of the same level (an Intel AVX-512
    core), so the kernels' sums may differ in the last bits between them."""
    import os
    import platform

    import llvmlite.binding as llvm

    model = os.environ.get("NUMBA_CPU_NAME") or llvm.get_host_cpu_name()

    try:
        from numpy._core._multiarray_umath import __cpu_features__ as feats
    except ImportError:  # another NumPy layout: the machine name only
        feats = {}
    levels = [k for k in ("X86_V4", "X86_V3", "X86_V2", "ASIMD", "VSX") if feats.get(k)]
    return f"{platform.machine()} {levels[0] if levels else 'baseline'} {model}"


def versions() -> dict[str, str]:
    """Package versions and the CPU's vector level: with all equal, results must be bit-identical."""
    return {**{p: importlib.metadata.version(p) for p in VERSIONED}, "cpu": _simd()}


def _array_digest(a: np.ndarray) -> dict[str, Any]:
    a = np.ascontiguousarray(a)
    h = hashlib.sha256()
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    rec: dict[str, Any] = {"sha256": h.hexdigest(), "dtype": a.dtype.str, "shape": list(a.shape)}
    if a.dtype.kind in "fiub":
        f = a.astype(np.float64)
        fin = np.isfinite(f)
        rec["n_finite"] = int(fin.sum())
        rec["sum"] = float(f[fin].sum()) if fin.any() else 0.0
        rec["min"] = float(f[fin].min()) if fin.any() else None
        rec["max"] = float(f[fin].max()) if fin.any() else None
    return rec


def digest_run(out: str | Path) -> dict[str, dict[str, Any]]:
    """Digest of every product of the run folder ``out`` (see the module docstring)."""
    out = Path(out)
    items: dict[str, dict[str, Any]] = {}
    for tif in sorted((out / "results").glob("*.tif")):
        with rasterio.open(tif) as ds:
            rec = _array_digest(ds.read(1))
            rec["transform"] = list(ds.transform)[:6]
            rec["crs"] = str(ds.crs)
        items[f"results/{tif.name}"] = rec
    for name in ("cum.h5", "cum_filt.h5"):
        with h5py.File(out / name, "r") as f:
            for key in sorted(f):
                v = f[key][()]
                if isinstance(v, bytes):
                    v = np.frombuffer(v, np.uint8)
                items[f"{name}/{key}"] = _array_digest(np.asarray(v))
    for txt in sorted((out / "info").glob("*")):
        if txt.name == "timings.txt" or not txt.is_file():
            continue
        items[f"info/{txt.name}"] = _text_digest(txt.read_text())
    return items


_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _text_digest(text: str) -> dict[str, Any]:
    """SHA-256 of a text table, with its words (the text with every number replaced by ``#``, runs of
    blanks by one: a column padded to another number's width reads the same) and its numbers, so
    that a table whose last printed digit changed can be compared to a tolerance."""
    rec: dict[str, Any] = {"sha256": hashlib.sha256(text.encode()).hexdigest(),
                           "words": hashlib.sha256(" ".join(_NUMBER.sub("#", text).split()).encode()).hexdigest()}
    nums = _NUMBER.findall(text)  # as printed: the tolerance is a unit of the last digit
    if len(nums) <= MAX_NUMBERS:
        rec["numbers"] = nums
    return rec


#: longest list of a text table's numbers kept in a digest (longer tables: compared by SHA-256 only)
MAX_NUMBERS = 5000
