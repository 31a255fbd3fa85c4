"""numba options of Kansho's compiled kernels and of their helpers.

A helper kernel that only other kernels call (never Python, nor :func:`kansho._threads.run_ranges`) is
declared ``@njit(**HELPER)``: numba then generates neither the CPython wrapper nor the C callback of
its compiled code, which nothing would call. On an empty cache this takes ~7 % off the first
``kansho demo``'s compilation (25.0-26.5 CPU-s against 27.1-28.1, three alternations on the 2-core
benchmark VM; the cycle solver of step 1-2 alone 5.8-6.1 s against 6.6-6.9 s); the kernels that call them
run as before. Such a helper has no entry point from Python: a call from Python code
would crash the interpreter (a segmentation fault, not an exception), so ``tests/test_jitopts.py`` holds, by
reading the sources, that nothing outside a compiled function's body names one.
"""

from __future__ import annotations

from typing import Any

#: the options of every Kansho kernel (cached on disk, releases the GIL, NumPy's division semantics)
KERNEL: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}

#: a helper called only from other kernels: no wrapper for Python or C
HELPER: dict[str, Any] = {**KERNEL, "no_cpython_wrapper": True, "no_cfunc_wrapper": True}
