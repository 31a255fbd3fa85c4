"""Interferometry from coregistered SLC stacks to LiCSAR-layout products (the GsiSM2SB chain).

Steps: read the stack (:mod:`.readers`), choose pairs (:mod:`.network`), form multilooked
interferograms and coherence with the reference phase removed (:mod:`.form`), filter
(:mod:`.filter`), unwrap with SNAPHU (:mod:`.unwrap`), optionally remove a height-correlated
tropospheric phase (:mod:`.troposphere`), geocode (:mod:`.geocode`) and write the LiCSAR layout
(:mod:`.export`); :func:`kansho.ifg.chain.run_ifg` runs them all, resumable per pair.
"""

from __future__ import annotations

__all__ = ["IfgConfig", "open_slc_stack", "run_ifg"]


def __getattr__(name: str) -> object:  # lazy: keep `import kansho.ifg` light
    if name == "IfgConfig":
        from kansho.ifg.config import IfgConfig

        return IfgConfig
    if name == "open_slc_stack":
        from kansho.ifg.readers import open_slc_stack

        return open_slc_stack
    if name == "run_ifg":
        from kansho.ifg.chain import run_ifg

        return run_ifg
    raise AttributeError(name)
