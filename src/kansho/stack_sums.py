"""Step 1-1's statistics taken by ingest from the strips it writes, kept in the stack store.

Ingest holds every pair of a strip of rows in memory before writing it (:func:`kansho.store.create_stack`);
the per-pixel and per-pair sums of step 1-1 (:func:`kansho.qc.block_sums`) are taken there, in one pass
over memory, so that step 1-1 does not read the whole stack again (on a 2500 x 2500 px, 440-pair frame it
read ~22 GB). They are stored with the pairs they describe:

    qc_n_valid  (y, x)  int32    pairs with a finite unwrapped value
    qc_coh_n    (y, x)  int32    pairs with a finite coherence
    qc_coh_sum  (y, x)  float64  their coherence summed, pairs in order

and the attribute ``qc_sums``: ``n_pair``, per pair ``n_valid`` and ``coh_fixed`` (coherence summed over the
footprint in units of 1 / :data:`kansho.qc.COH_SCALE`), ``n_footprint``. Step 1-1 uses them when they are
there for every pair of the store (:func:`read_sums`); an append in place or a delay-layer correction
(which may blank pixels after the strips were read) leaves none, and step 1-1 reads the stack as before.
The values are the same bit for bit either way (:mod:`kansho._qc_jit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import zarr

from kansho import _qc_jit

#: the stack store's attribute holding the per-pair sums
ATTR = "qc_sums"
#: the per-pixel arrays, in the order of :class:`kansho.qc.BlockSums`
PIXEL_ARRAYS = (("qc_n_valid", np.int32), ("qc_coh_n", np.int32), ("qc_coh_sum", np.float64))


@dataclass
class StackSums:
    """Step 1-1's sums over a whole frame: per pixel (ny, nx) ``n_valid``, ``coh_n``, ``coh_sum``; per
    pair (npair,) ``pair_n_valid`` and ``pair_coh_fixed`` (int64); ``n_footprint`` pixels."""

    n_valid: npt.NDArray[np.int32]
    coh_n: npt.NDArray[np.int32]
    coh_sum: npt.NDArray[np.float64]
    pair_n_valid: npt.NDArray[np.int64]
    pair_coh_fixed: npt.NDArray[np.int64]
    n_footprint: int = 0

    @classmethod
    def zeros(cls, shape: tuple[int, int], npair: int) -> StackSums:
        return cls(np.zeros(shape, np.int32), np.zeros(shape, np.int32), np.zeros(shape),
                   np.zeros(npair, np.int64), np.zeros(npair, np.int64))

    def add_strip(self, unw: np.ndarray, coh: np.ndarray, r0: int, h: int) -> None:
        """Add rows ``r0 .. r0 + h - 1`` from the strip buffers ``unw``, ``coh`` (npair, rows >= h, nx)
        float32, C order, every pair of the store, the strip in their first ``h`` rows."""
        fp = np.zeros((h, unw.shape[2]), bool)
        rows = slice(r0, r0 + h)
        self.n_footprint += _qc_jit.stack_sums(unw, coh, h, fp, False, self.n_valid[rows], self.coh_n[rows],
                                               self.coh_sum[rows], self.pair_n_valid, self.pair_coh_fixed)

    def write(self, g: zarr.Group, compressors: Any) -> None:
        """Store the sums in the stack store group ``g`` (arrays and the :data:`ATTR` attribute)."""
        values: list[np.ndarray] = [self.n_valid, self.coh_n, self.coh_sum]
        for (name, dtype), v in zip(PIXEL_ARRAYS, values, strict=True):
            a = g.create_array(name, shape=v.shape, dtype=dtype, dimension_names=["y", "x"],
                               chunks=tuple(min(1024, n) for n in v.shape), compressors=compressors,
                               overwrite=True)
            a[:] = v
        g.attrs[ATTR] = {"n_pair": int(self.pair_n_valid.size), "n_valid": self.pair_n_valid.tolist(),
                         "coh_fixed": self.pair_coh_fixed.tolist(), "n_footprint": int(self.n_footprint)}


def read_sums(g: zarr.Group, n_pair: int) -> StackSums | None:
    """The sums ingest stored in the stack store group ``g`` when they cover its ``n_pair`` pairs, else None."""
    meta = g.attrs.get(ATTR)
    if not isinstance(meta, dict) or meta.get("n_pair") != n_pair:
        return None
    arrays: list[zarr.Array] = []
    for name, _ in PIXEL_ARRAYS:
        a = g.get(name)
        if not isinstance(a, zarr.Array):
            return None
        arrays.append(a)
    nv, cf = np.asarray(meta["n_valid"], np.int64), np.asarray(meta["coh_fixed"], np.int64)
    if nv.shape != (n_pair,) or cf.shape != (n_pair,):
        return None
    n, cn = (np.asarray(a[:], np.int32) for a in arrays[:2])
    return StackSums(n, cn, np.asarray(arrays[2][:], np.float64), nv, cf, int(meta["n_footprint"]))

