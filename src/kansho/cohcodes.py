"""Coherence in the stack store as 8-bit codes where the input's coherence is 8-bit.

LiCSAR (and LiCSBAS's GEOCml) coherence is stored as integers 0–255, read as ``code / 255`` (0 = no
data). Kept as float32 in the stack store it took 4 bytes a value, more than the unwrapped phase
once compressed (8.2 against 7.0 GB on the 2500 × 2500 px, 440-pair benchmark frame), written by
ingest and read again by the inversion. Where every pair's coherence file holds integers and no
multilook averages them, the store keeps the codes themselves (uint8, 0 = no data); readers decode
them through :data:`DECODE` to the very float32 values the input gives (``float32(code / 255)``, NaN
for 0), so every result is the same to the bit. Float coherence, or multilooked coherence, stays float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

#: the integer coherence scale of LiCSAR and GEOCml files (code / 255)
SCALE = 255


def _decode_table() -> npt.NDArray[np.float32]:
    t = (np.arange(256, dtype=np.float64) / float(SCALE)).astype(np.float32)  # the reader's float32(raw / 255.0)
    t[0] = np.nan
    return t


#: float32 coherence of each code, NaN for code 0 (no data)
DECODE = _decode_table()


def decode(codes: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Coherence 0–1 (float32, NaN = no data) of uint8 ``codes`` (any shape)."""
    return DECODE[np.asarray(codes, np.uint8)]


def encode(coh: npt.ArrayLike, out: npt.NDArray[np.uint8] | None = None) -> npt.NDArray[np.uint8]:
    """The uint8 codes (0 = NaN) of coherence ``coh`` (any shape) that came from 8-bit codes
    (``float32(code / 255)``, as :func:`decode` gives): ``code = rint(coh · 255)``, exact for such values
    (their error is < 2e-5 of a code)."""
    c = np.asarray(coh, np.float32)
    scaled = np.multiply(c, np.float32(SCALE))
    np.rint(scaled, out=scaled)
    scaled[np.isnan(c)] = 0.0
    if out is None:
        return scaled.astype(np.uint8)
    np.copyto(out, scaled, casting="unsafe")
    return out


def codes_fit(cc_files: list[tuple[Path | None, Any]], nlook: int) -> bool:
    """Whether the store may keep 8-bit codes: no multilook and every pair's coherence file (path and
    flat-binary spec, None for a GeoTIFF; a pair without coherence counts as fitting) stores integers."""
    if nlook != 1:
        return False
    for path, spec in cc_files:
        if path is None:
            continue
        if spec is not None:
            kind = np.dtype(spec.dtype).kind
        else:
            import rasterio

            with rasterio.open(path) as src:
                kind = np.dtype(src.dtypes[0]).kind
        if kind not in "iub":
            return False
    return True
