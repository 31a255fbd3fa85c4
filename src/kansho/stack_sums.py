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

from kansho.chunkio import direct

#: the stack store's attribute holding the per-pair sums
ATTR = "qc_sums"
#: the per-pixel arrays, in the order of :class:`kansho.qc.BlockSums`
PIXEL_ARRAYS = (("qc_n_valid", np.int32), ("qc_coh_n", np.int32), ("qc_coh_sum", np.float64))


@dataclass
class StackSums:
    """Step 1-1's sums over a whole frame as ingest takes them: per pair (npair,) ``pair_n_valid`` and
    ``pair_coh_fixed`` (int64), ``n_footprint`` pixels; the per-pixel ones are written strip by strip into
    the arrays ``pixels`` (:data:`PIXEL_ARRAYS`), so memory stays that of a strip."""

    pixels: list[Any]
    pair_n_valid: npt.NDArray[np.int64]
    pair_coh_fixed: npt.NDArray[np.int64]
    n_footprint: int = 0

    @classmethod
    def create(cls, g: zarr.Group, shape: tuple[int, int], npair: int, block: int, compressors: Any) -> StackSums:
        """Create the per-pixel arrays in the stack store group ``g`` (chunks of ``block`` rows)."""
        chunks = (min(block, shape[0]), min(4 * block, shape[1]))
        pixels = [direct(g.create_array(name, shape=shape, dtype=dtype, chunks=chunks, dimension_names=["y", "x"],
                                        compressors=compressors, overwrite=True)) for name, dtype in PIXEL_ARRAYS]
        return cls(pixels, np.zeros(npair, np.int64), np.zeros(npair, np.int64))

    def add_strip(self, unw: np.ndarray, coh: np.ndarray, r0: int, h: int) -> None:
        """Add rows ``r0 .. r0 + h - 1`` from the strip buffers ``unw``, ``coh`` (npair, rows >= h, nx)
        float32, C order, every pair of the store, the strip in their first ``h`` rows (read in place)."""
        from kansho.qc import block_sums  # numba: imported when a store is written, not whenever one is opened

        b = block_sums(unw, coh, rows=h)
        self.pair_n_valid += b.pair_n_valid  # integers: the strips' sums add up to the frame's in any order
        self.pair_coh_fixed += b.pair_coh_fixed
        self.n_footprint += b.n_total
        values: list[np.ndarray] = [b.n_valid, b.coh_n, b.coh_sum]
        for a, v in zip(self.pixels, values, strict=True):
            a[r0:r0 + h, :] = v.reshape(h, -1)

    def finish(self, g: zarr.Group) -> None:
        """Record the per-pair sums in the :data:`ATTR` attribute of ``g``: the sums are complete."""
        g.attrs[ATTR] = {"n_pair": int(self.pair_n_valid.size), "n_valid": self.pair_n_valid.tolist(),
                         "coh_fixed": self.pair_coh_fixed.tolist(), "n_footprint": int(self.n_footprint)}


@dataclass(frozen=True)
class StoredSums:
    """The sums :func:`read_sums` found: the per-pixel arrays (ny, nx) of :data:`PIXEL_ARRAYS` (zarr arrays,
    read by the caller a strip at a time), the per-pair sums and the footprint's pixels."""

    pixels: list[Any]
    pair_n_valid: npt.NDArray[np.int64]
    pair_coh_fixed: npt.NDArray[np.int64]
    n_footprint: int


def read_sums(g: zarr.Group, n_pair: int) -> StoredSums | None:
    """The sums ingest stored in the stack store group ``g`` when they cover its ``n_pair`` pairs, else None."""
    meta = g.attrs.get(ATTR)
    if not isinstance(meta, dict) or meta.get("n_pair") != n_pair:
        return None
    arrays: list[Any] = []
    for name, _ in PIXEL_ARRAYS:
        a = g.get(name)
        if not isinstance(a, zarr.Array):
            return None
        arrays.append(direct(a))
    nv, cf = np.asarray(meta["n_valid"], np.int64), np.asarray(meta["coh_fixed"], np.int64)
    if nv.shape != (n_pair,) or cf.shape != (n_pair,):
        return None
    return StoredSums(arrays, nv, cf, int(meta["n_footprint"]))
