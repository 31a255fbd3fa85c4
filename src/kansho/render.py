"""Array → image helpers of the viewer and the exports: colour mapping, hillshade, decimation, PNG.

Pure functions on arrays (no file access) except :func:`encode_png`, which returns bytes.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = ["colormap_lut", "colourize", "decimation_step", "encode_png", "hillshade", "robust_limits"]


@lru_cache(maxsize=16)
def colormap_lut(name: str) -> npt.NDArray[np.uint8]:
    """A matplotlib colour map as a ``(256, 4)`` uint8 RGBA table; ``ValueError`` if unknown."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown colour map {name!r}") from None
    lut = (cmap(np.linspace(0.0, 1.0, 256)) * 255.0 + 0.5).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def colourize(values: npt.ArrayLike, vmin: float, vmax: float, cmap: str = "RdBu_r") -> npt.NDArray[np.uint8]:
    """Map a 2-D array onto a colour map: ``(ny, nx)`` values → ``(ny, nx, 4)`` uint8 RGBA.

    Values are clipped to ``[vmin, vmax]``; NaN becomes fully transparent. ``vmax`` must exceed
    ``vmin``.
    """
    a = np.asarray(values, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {a.shape}")
    if not (np.isfinite(vmin) and np.isfinite(vmax) and vmax > vmin):
        raise ValueError(f"colour limits must be finite with vmax > vmin, got {vmin}, {vmax}")
    lut = colormap_lut(cmap)
    fin = np.isfinite(a)
    idx = np.clip((np.where(fin, a, vmin) - vmin) * (255.0 / (vmax - vmin)), 0, 255).astype(np.uint8)
    rgba = lut[idx]
    rgba[..., 3] = np.where(fin, rgba[..., 3], 0)
    return rgba


def robust_limits(values: npt.ArrayLike, *, symmetric: bool, pct: float = 98.0) -> tuple[float, float]:
    """Colour limits from the ``100 - pct`` and ``pct`` percentiles of the finite values.

    ``symmetric`` gives ``(-m, m)`` with ``m`` the ``pct`` percentile of ``|values|``. Falls back to
    ``(-1, 1)`` / ``(0, 1)`` when there are no finite values or they are all equal.
    """
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return (-1.0, 1.0) if symmetric else (0.0, 1.0)
    if symmetric:
        m = float(np.percentile(np.abs(a), pct))
        m = m if m > 0 else (float(np.abs(a).max()) or 1.0)
        return -m, m
    lo, hi = (float(v) for v in np.percentile(a, [100.0 - pct, pct]))
    if not hi > lo:
        lo, hi = float(a.min()), float(a.max())
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def decimation_step(shape: tuple[int, int], max_px: int) -> int:
    """Integer stride so that the longer side of ``shape`` becomes at most ``max_px`` pixels."""
    if max_px < 1:
        raise ValueError(f"max_px must be >= 1, got {max_px}")
    return max(1, math.ceil(max(shape) / max_px))


def hillshade(
    hgt: npt.ArrayLike, dx_m: float, dy_m: float, azimuth_deg: float = 315.0, altitude_deg: float = 45.0
) -> npt.NDArray[np.uint8]:
    """Shaded relief of a height map, ``(ny, nx)`` m → ``(ny, nx)`` uint8 grey (0 = dark).

    Lambertian reflectance of the surface lit from ``azimuth_deg`` (clockwise from north) at
    ``altitude_deg`` above the horizon, as in Horn (1981, Proc. IEEE 69(1):14-47, "Hill shading
    and the reflectance map"); slopes from central differences with pixel sizes ``dx_m``,
    ``dy_m`` (metres, positive). NaN heights give mid-grey.
    """
    z = np.asarray(hgt, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"expected a 2-D height map, got shape {z.shape}")
    fin = np.isfinite(z)
    if not fin.any() or min(z.shape) < 2:
        return np.full(z.shape, 128, np.uint8)
    zf = np.where(fin, z, np.nanmean(z))
    dzdy, dzdx = np.gradient(zf, abs(dy_m), abs(dx_m))  # rows run north → south
    slope = np.arctan(np.hypot(dzdx, dzdy))
    aspect = np.arctan2(-dzdx, dzdy)  # direction of steepest descent, clockwise from north
    zen = math.radians(90.0 - altitude_deg)
    az = math.radians(azimuth_deg)
    shade = math.cos(zen) * np.cos(slope) + math.sin(zen) * np.sin(slope) * np.cos(az - aspect)
    out = np.clip(shade, 0.0, 1.0) * 255.0
    return np.where(fin, out, 128).astype(np.uint8)


def encode_png(image: npt.ArrayLike) -> bytes:
    """PNG bytes of a ``(ny, nx)`` grey or ``(ny, nx, 4)`` RGBA uint8 image."""
    from PIL import Image

    a = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    mode = "L" if a.ndim == 2 else {3: "RGB", 4: "RGBA"}[a.shape[2]]
    buf = io.BytesIO()
    Image.fromarray(a, mode=mode).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
