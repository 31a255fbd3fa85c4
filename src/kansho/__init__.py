"""Kansho: automated InSAR time-series analysis.

LiCSAR-layout interferograms in, line-of-sight deformation time series and velocity maps out
(the LiCSBAS chain, Morishita et al. 2020, reimplemented to be faster and more robust).
"""

from __future__ import annotations

import os
import sys

from kansho._version import __version__

# numba's LLVM optimisation level, unless the user set one (NUMBA_OPT): 1 rather than numba's default 3. The
# chain's ~100 kernels compile in ~9 % less CPU time (a fresh install's first `kansho demo` waits mostly for
# them), and they run as fast (the M frame's steps and the NSBAS kernel's throughput, alternated runs) with the
# same results bit for bit: without fast-math no LLVM level may reorder floating-point operations (the M frame's
# 53 output rasters and cubes compared at levels 1, 2 and 3; docs/benchmarks_notes.md, round 33). numba reads it
# when first imported: a process that imported numba before kansho keeps its own level.
#: whether this import set NUMBA_OPT (the user had not): tools that time another release beside this one
#: (benchmarks/) leave it out of that release's environment
NUMBA_OPT_SET = "numba" not in sys.modules and "NUMBA_OPT" not in os.environ
if NUMBA_OPT_SET:
    os.environ["NUMBA_OPT"] = "1"

__all__ = ["NUMBA_OPT_SET", "__version__", "run_demo", "run_timeseries"]


def __getattr__(name: str) -> object:  # lazy: keep `import kansho` light
    if name == "run_timeseries":
        from kansho.chain.runner import run_timeseries

        return run_timeseries
    if name == "run_demo":
        from kansho.demo import run_demo

        return run_demo
    raise AttributeError(name)
