"""Kansho: automated InSAR time-series analysis.

LiCSAR-layout interferograms in, line-of-sight deformation time series and velocity maps out
(the LiCSBAS chain, Morishita et al. 2020, reimplemented to be faster and more robust).
"""

from __future__ import annotations

from kansho._version import __version__

__all__ = ["__version__", "run_demo", "run_timeseries"]


def __getattr__(name: str) -> object:  # lazy: keep `import kansho` light
    if name == "run_timeseries":
        from kansho.chain.runner import run_timeseries

        return run_timeseries
    if name == "run_demo":
        from kansho.demo import run_demo

        return run_demo
    raise AttributeError(name)
