"""Step 1-1's statistics taken by ingest from the strips it writes, kept in the stack store.

Ingest reads the stack store's pairs a strip of rows at a time (:mod:`kansho.store_strips`); step 1-1's
per-pixel and per-pair sums (:func:`kansho.qc.block_sums`) are taken there from memory, so that step 1-1 does
not read the whole stack again (on a 2500 x 2500 px, 440-pair frame it read ~22 GB). They are stored with the
pairs they describe:

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

from dataclasses import dataclass, field
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
    #: the strip begun (:meth:`begin_strip`): its footprint (h, nx) bool and finite unwrapped counts int32
    _strip: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def create(cls, g: zarr.Group, shape: tuple[int, int], npair: int, block: int, compressors: Any) -> StackSums:
        """Create the per-pixel arrays in the stack store group ``g`` (chunks of ``block`` rows)."""
        chunks = (min(block, shape[0]), min(4 * block, shape[1]))
        pixels = [direct(g.create_array(name, shape=shape, dtype=dtype, chunks=chunks, dimension_names=["y", "x"],
                                        compressors=compressors, overwrite=True)) for name, dtype in PIXEL_ARRAYS]
        return cls(pixels, np.zeros(npair, np.int64), np.zeros(npair, np.int64))

    def begin_strip(self, h: int, nx: int) -> None:
        """Start a strip of ``h`` rows, ``nx`` wide: its pairs follow in groups (:meth:`add_unw`), in order."""
        self._strip = (np.zeros((h, nx), np.bool_), np.zeros((h, nx), np.int32))

    def add_unw(self, unw: np.ndarray, k0: int, h: int) -> None:
        """Add the unwrapped phase of pairs ``k0 ..`` (the strip buffer ``unw`` (ngroup, rows >= h, nx) float32,
        C order, the strip in its first ``h`` rows, read in place) to the strip begun."""
        from kansho._qc_jit import strip_unw_sums  # numba: imported when a store is written, not when opened

        footprint, px_n = self._require_strip()
        self.pair_n_valid[k0:k0 + unw.shape[0]] += strip_unw_sums(unw, h, footprint, px_n)

    def end_strip(self, coh: np.ndarray, codes: bool, r0: int) -> None:
        """Finish the strip begun, rows ``r0 ..``, with the coherence of every pair: ``coh`` (npair, rows >= h,
        nx), C order, float32, or uint8 codes (``codes``, :mod:`kansho.cohcodes`), read in place. The strip's
        per-pixel sums are written and the per-pair sums added (integers: in any order of the strips)."""
        from kansho import cohcodes
        from kansho._qc_jit import strip_coh_sums

        footprint, px_n = self._require_strip()
        h = footprint.shape[0]
        coh_n, coh_sum = np.zeros(footprint.shape, np.int32), np.zeros(footprint.shape, np.float64)
        self.pair_coh_fixed += strip_coh_sums(coh, cohcodes.DECODE if codes else None, h, footprint, coh_n, coh_sum)
        self.n_footprint += int(np.count_nonzero(footprint))
        for a, v in zip(self.pixels, (px_n, coh_n, coh_sum), strict=True):
            a[r0:r0 + h, :] = v
        self._strip = None

    def _require_strip(self) -> tuple[np.ndarray, np.ndarray]:
        if self._strip is None:
            raise RuntimeError("no strip begun (StackSums.begin_strip)")
        return self._strip

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
