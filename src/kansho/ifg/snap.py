"""Reader of SNAP "ZNAP" Zarr v2 SLC stacks (format ``snap_zarr``, see :mod:`kansho.ifg.readers`)."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kansho._constants import SPEED_OF_LIGHT
from kansho._dates import month_number
from kansho._types import Float32Array
from kansho.errors import InputError
from kansho.ifg.slc import SlcSource, SlcStack, read_zarr_band

log = logging.getLogger(__name__)

_SNAP_BAND_RE = re.compile(r"^([iq])_([A-Z]{2})_(\d{2})([A-Z][a-z]{2})(\d{4})$")


def is_snap_stack(root: Path) -> bool:
    """True for a ``*.znap`` folder or a folder that holds some."""
    return bool(list(root.glob("*.znap"))) or root.suffix == ".znap"


def open_snap(root: Path) -> SlcStack:
    """Open ``root`` (a ``*.znap`` product or a folder of them) as a stack; flat earth already removed."""
    products = sorted(root.glob("*.znap")) if root.suffix != ".znap" else [root]
    if not products:
        raise InputError(root, "no *.znap SNAP products")
    found = _scan_products(products)
    if not found.sources or found.shape is None:
        raise InputError(root, "no i_<pol>_<date> SLC bands in the *.znap products")
    if found.abstracted is None or found.meta_file is None:
        raise InputError(products[0] / "SNAP" / "product_metadata.json", "SNAP metadata missing")
    abstracted, meta_file, shape, sources = found.abstracted, found.meta_file, found.shape, found.sources
    wavelength = SPEED_OF_LIGHT / (float(_attr(abstracted, "radar_frequency")) * 1e6)  # frequency in MHz
    rs = float(_attr(abstracted, "range_spacing"))
    azs = float(_attr(abstracted, "azimuth_spacing"))
    heading = _attr(abstracted, "centre_heading")
    heading = float(heading) if heading is not None else None
    bperp, ref_date = _snap_baselines(abstracted, meta_file)
    missing = [d for d in sources if d not in bperp]
    if missing:
        raise InputError(meta_file, f"date {missing[0]} has no metadata (no Baselines entry for it)")
    band_match = _SNAP_BAND_RE.match(next(iter(sources.values())).path.name)
    assert band_match is not None  # every source was matched by this pattern in _scan_products
    pol = band_match.group(2)
    geometry = _snap_geometry(root, found.bands, pol, shape, abstracted, rs)
    return SlcStack(
        root=root, format="snap_zarr", dates=sorted(sources), sources=sources, shape=shape, wavelength=wavelength,
        range_spacing=rs, azimuth_spacing=azs, heading_deg=heading, bperp=bperp, geometry=geometry,
        flat_earth_removed=True, center_time=_snap_center_time(abstracted),
        meta={"reference_date": ref_date, "polarisation": pol, "metadata_file": str(meta_file),
              "pass": _attr(abstracted, "PASS"), "mission": _attr(abstracted, "MISSION")},
    )


@dataclass
class _Products:
    """What the ``*.znap`` products hold: the I/Q SLC pair per date, every band folder by name, the
    common SLC shape and the first ``Abstracted_Metadata`` found (with its file)."""

    sources: dict[int, SlcSource] = field(default_factory=dict)
    bands: dict[str, Path] = field(default_factory=dict)
    shape: tuple[int, int] | None = None
    shape_from: Path | None = None
    abstracted: dict[str, Any] | None = None
    meta_file: Path | None = None


def _scan_products(products: list[Path]) -> _Products:
    found = _Products()
    for prod in products:
        for band in sorted(p for p in prod.iterdir() if p.is_dir()):
            found.bands.setdefault(band.name, band)
        for band in sorted(prod.glob("i_*")):
            m = _SNAP_BAND_RE.match(band.name)
            if m is None:
                continue
            qband = prod / ("q" + band.name[1:])
            if not qband.is_dir():
                raise InputError(band, f"I band without its Q band {qband.name}")
            date = _snap_date(m.group(3), m.group(4), m.group(5), band)
            ashape = tuple(int(v) for v in json.loads((band / ".zarray").read_text())["shape"])
            if len(ashape) != 2:
                raise InputError(band, f"SLC band has {len(ashape)} dimensions, expected 2")
            ny, nx = ashape
            if found.shape is None:
                found.shape, found.shape_from = (ny, nx), band
            elif (ny, nx) != found.shape:
                shape = found.shape
                raise InputError(band, f"SLC is {nx}x{ny} px but {found.shape_from} is {shape[1]}x{shape[0]}")
            if date in found.sources:
                raise InputError(band, f"date {date} appears twice in the stack")
            found.sources[date] = SlcSource(band, "zarr", found.shape, ">f4", qband)
        mf = prod / "SNAP" / "product_metadata.json"
        if found.abstracted is None and mf.is_file():
            found.abstracted, found.meta_file = _abstracted(mf), mf
    return found


def _snap_date(day: str, mon: str, year: str, where: Path) -> int:
    try:
        month = month_number(mon)
    except ValueError:
        raise InputError(where, f"unrecognised month {mon!r} in band name") from None
    d = _dt.date(int(year), month, int(day))
    return int(d.strftime("%Y%m%d"))


def _abstracted(meta_json: Path) -> dict[str, Any]:
    try:
        doc = json.loads(meta_json.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(meta_json, f"cannot read SNAP metadata ({exc})") from None
    for el in doc if isinstance(doc, list) else [doc]:
        if isinstance(el, dict) and el.get("name") == "Abstracted_Metadata":
            return el
    raise InputError(meta_json, "no Abstracted_Metadata in SNAP metadata")


def _attr(el: dict[str, Any], name: str) -> Any:
    for a in el.get("attributes", []):
        if a.get("name") == name:
            v = a.get("data", {}).get("elems")
            return v[0] if isinstance(v, list) and len(v) == 1 else v
    return None


def _child(el: dict[str, Any], name: str) -> dict[str, Any] | None:
    for e in el.get("elements", []):
        if e.get("name") == name:
            return e
    return None


def _snap_baselines(abstracted: dict[str, Any], meta_file: Path) -> tuple[dict[int, float], int | None]:
    """B⊥ per date (m, Kansho's sign) from the ``Baselines`` table's first reference, and that reference date."""
    bl = _child(abstracted, "Baselines")
    bperp: dict[int, float] = {}
    ref_date: int | None = None
    if bl is not None and bl.get("elements"):
        ref = bl["elements"][0]
        mref = re.match(r"Ref_(\d{2})([A-Z][a-z]{2})(\d{4})", ref["name"])
        if mref:
            ref_date = _snap_date(mref[1], mref[2], mref[3], meta_file)
        for sec in ref.get("elements", []):
            ms = re.match(r"Secondary_(\d{2})([A-Z][a-z]{2})(\d{4})", sec["name"])
            val = _attr(sec, "Perp Baseline")
            if ms and val is not None:
                # SNAP lists B⊥ of the secondary as seen from the reference; Kansho's per-date value
                # is its negative, matching the sign of SNAP's height-to-phase band of the secondary
                # (h2ph < 0 where SNAP's B⊥ > 0). On the 12-day Amsterdam pair the topographic
                # phase is < 0.2 rad, so the sign cannot be checked from the data there.
                bperp[_snap_date(ms[1], ms[2], ms[3], meta_file)] = -float(val)
    return bperp, ref_date


def _snap_geometry(
    root: Path, bands: dict[str, Path], pol: str, shape: tuple[int, int], abstracted: dict[str, Any], rs: float
) -> dict[str, Float32Array]:
    """lat, lon (deg), hgt (m, if SNAP wrote it), inc (deg) and range (m) at every SLC pixel."""
    geometry: dict[str, Float32Array] = {}
    for key, name in (("lat", f"latitude_{pol}"), ("lon", f"longitude_{pol}"), ("hgt", f"elevation_{pol}")):
        if name in bands:
            arr = read_zarr_band(bands[name]).astype(np.float32)
            if arr.shape != shape:
                raise InputError(bands[name], f"{arr.shape[1]}x{arr.shape[0]} px, the SLCs are {shape[1]}x{shape[0]}")
            geometry[key] = arr
    for key, tp in (("lat", "latitude"), ("lon", "longitude")):
        if key not in geometry and tp in bands:
            geometry[key] = _tie_point(bands[tp], shape)
    if "lat" not in geometry or "lon" not in geometry:
        raise InputError(root, "no latitude/longitude rasters or tie-point grids: cannot geocode")
    if "hgt" not in geometry:
        log.warning("%s: no elevation band; topographic phase is not removed and hgt is 0", root)
    if "incident_angle" in bands:
        geometry["inc"] = _tie_point(bands["incident_angle"], shape)
    else:
        inc = float(_attr(abstracted, "incidence_near") + _attr(abstracted, "incidence_far")) / 2
        geometry["inc"] = np.full(shape, inc, np.float32)
    if "slant_range_time" in bands:  # two-way time, ns
        geometry["range"] = (_tie_point(bands["slant_range_time"], shape).astype(np.float64) * 1e-9
                             * SPEED_OF_LIGHT / 2).astype(np.float32)
    else:
        r0 = float(_attr(abstracted, "slant_range_to_first_pixel"))
        geometry["range"] = np.broadcast_to(r0 + rs * np.arange(shape[1], dtype=np.float32), shape).astype(np.float32)
    return geometry


def _snap_center_time(abstracted: dict[str, Any]) -> str | None:
    """``first_line_time`` (MJD2000 days, seconds, microseconds) as ``h:mm:ss.sss`` of the day."""
    t = _attr(abstracted, "first_line_time")
    if isinstance(t, list) and len(t) == 3:
        secs = float(t[1]) + float(t[2]) * 1e-6
        return str(_dt.timedelta(seconds=round(secs, 3)))
    return None


def _tie_point(folder: Path, shape: tuple[int, int]) -> Float32Array:
    """Bilinear interpolation (and extrapolation) of a SNAP tie-point grid to every pixel."""
    grid = read_zarr_band(folder).astype(np.float64)
    attrs = json.loads((folder / ".zattrs").read_text())
    sx, sy = float(attrs.get("subsampling_x", 1)), float(attrs.get("subsampling_y", 1))
    ox, oy = float(attrs.get("offset_x", 0)), float(attrs.get("offset_y", 0))
    ny, nx = shape
    # tie point j sits at pixel ox + j*sx (SNAP: pixel centre coordinates x + 0.5)
    fx = (np.arange(nx) + 0.5 - ox) / sx
    fy = (np.arange(ny) + 0.5 - oy) / sy
    tny, tnx = grid.shape
    jx = np.clip(np.floor(fx).astype(int), 0, max(tnx - 2, 0))
    jy = np.clip(np.floor(fy).astype(int), 0, max(tny - 2, 0))
    wx = fx - jx if tnx > 1 else np.zeros_like(fx)
    wy = fy - jy if tny > 1 else np.zeros_like(fy)
    jx1 = np.minimum(jx + 1, tnx - 1)
    jy1 = np.minimum(jy + 1, tny - 1)
    g00 = grid[np.ix_(jy, jx)]
    g01 = grid[np.ix_(jy, jx1)]
    g10 = grid[np.ix_(jy1, jx)]
    g11 = grid[np.ix_(jy1, jx1)]
    wx2, wy2 = wx[None, :], wy[:, None]
    out = (1 - wy2) * ((1 - wx2) * g00 + wx2 * g01) + wy2 * ((1 - wx2) * g10 + wx2 * g11)
    return out.astype(np.float32)
