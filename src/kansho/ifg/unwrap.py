"""Phase unwrapping with SNAPHU (Chen & Zebker 2001, 2002) through the ``snaphu`` Python package."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from kansho.errors import KanshoError

log = logging.getLogger(__name__)

__all__ = ["unwrap_phase"]


def unwrap_phase(
    ifg: npt.NDArray[np.complexfloating],
    coherence: npt.NDArray[np.floating],
    nlooks: float,
    *,
    min_coherence: float = 0.2,
    cost: str = "smooth",
    init: str = "mcf",
    tile_size: int = 1000,
    tile_overlap: int = 64,
    nproc: int = 1,
    min_conncomp_frac: float = 0.01,
    keep_unconnected: bool = False,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint32]]:
    """Unwrap a complex interferogram (ny, nx) with SNAPHU.

    ``coherence`` (ny, nx, 0..1) weights the statistical cost; pixels below ``min_coherence`` or
    invalid (NaN) are masked: no data (NaN) in the result. Interferograms larger than
    ``tile_size`` a side are cut into tiles (``tile_overlap`` px overlap, ``nproc`` processes).
    Returns the unwrapped phase (rad, float32, NaN = no data) and SNAPHU's connected-component
    labels (0 = in no component; set to NaN in the phase unless ``keep_unconnected``).
    The unwrapped phase re-wraps to the input phase wherever it is valid.
    """
    try:
        import snaphu
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise KanshoError("unwrapping needs the 'snaphu' package (pip install snaphu)") from exc
    a = np.asarray(ifg)
    coh = np.nan_to_num(np.asarray(coherence, dtype=np.float32), nan=0.0)
    valid = np.isfinite(a) & (np.abs(np.nan_to_num(a)) > 0) & (coh >= min_coherence)
    ny, nx = a.shape
    if valid.sum() < 4:
        log.warning("fewer than 4 coherent pixels; nothing unwrapped")
        return np.full(a.shape, np.nan, np.float32), np.zeros(a.shape, np.uint32)
    igram = np.where(valid, a, 0).astype(np.complex64)
    ntiles = (max(1, math.ceil(ny / tile_size)), max(1, math.ceil(nx / tile_size)))
    overlap = tile_overlap if ntiles != (1, 1) else 0
    with _quiet_stdout():
        unw, cc = snaphu.unwrap(
            igram, np.clip(coh, 0, 1), nlooks=float(nlooks), cost=cost, init=init, mask=valid.astype(np.uint8),
            ntiles=ntiles, tile_overlap=overlap, nproc=nproc if ntiles != (1, 1) else 1,
            min_conncomp_frac=min_conncomp_frac,
        )
    unw = np.asarray(unw, dtype=np.float32)
    cc = np.asarray(cc, dtype=np.uint32)
    keep = valid if keep_unconnected else valid & (cc > 0)
    return np.where(keep, unw, np.nan).astype(np.float32), cc


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Send the SNAPHU executable's progress chatter (it writes to file descriptor 1) to /dev/null."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # no real stdout (e.g. captured): nothing to hide
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
