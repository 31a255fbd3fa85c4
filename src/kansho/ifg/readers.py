"""Readers of coregistered SLC stacks with their per-date metadata and radar-coded geometry.

Formats (all coregistered on one radar grid of ``(n_azimuth_lines, n_range_samples)``):

``snap_zarr``
    SNAP "ZNAP" Zarr v2 products (one ``*.znap`` folder per date, as written by SNAP's Zarr
    writer): ``i_<pol>_<ddMonYYYY>`` / ``q_<pol>_<ddMonYYYY>`` bands, ``latitude_<pol>`` /
    ``longitude_<pol>`` / ``elevation_<pol>`` rasters, tie-point grids ``incident_angle`` and
    ``slant_range_time`` and ``SNAP/product_metadata.json`` (the reference's Abstracted_Metadata
    with a ``Baselines`` table: perpendicular baseline per reference/secondary date).
``gamma``
    ``yyyymmdd.slc`` (or ``.rslc``) big-endian FCOMPLEX / SCOMPLEX binaries, each with its GAMMA
    parameter file ``yyyymmdd.slc.par``.
``envi``
    ``yyyymmdd.slc`` binaries with an ENVI header ``yyyymmdd.slc.hdr`` (data type 6 = complex64,
    ``byte order``), radar metadata as extra header keys (same names as GAMMA's).
``geotiff``
    ``yyyymmdd.slc.tif`` complex GeoTIFFs (CFloat32 or CInt16) with radar metadata as tags.

For the three binary formats the stack folder also holds ``baselines`` (perpendicular baseline
per date, any form :func:`kansho.io.inputs.read_baselines` reads) and ``geometry/`` with
``lat``, ``lon``, ``hgt`` (and optionally ``inc`` incidence in degrees, ``range`` slant range in
m) as big-endian float32 rasters ``<name>.rdr`` of the SLC size (a radar-coded lookup table).

Per-date radar metadata keys (GAMMA names): ``date``, ``radar_frequency`` (Hz),
``range_pixel_spacing``, ``azimuth_pixel_spacing`` (m), ``near_range_slc`` (m),
``incidence_angle`` (deg), ``heading`` (deg), ``center_time`` (s of day).

Baseline sign: Kansho's B⊥ of a date is the one whose pair difference B⊥(d2) − B⊥(d1) gives the
topographic phase +4π·B⊥·h / (λ·R·sin θ) of the interferogram d1·conj(d2) (Hanssen 2001).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kansho.errors import InputError
from kansho.io.inputs import read_baselines

log = logging.getLogger(__name__)

__all__ = ["FORMATS", "SlcSource", "SlcStack", "open_slc_stack", "read_slc"]

SPEED_OF_LIGHT = 299_792_458.0
FORMATS = ("snap_zarr", "gamma", "envi", "geotiff")
GEOMETRY_NAMES = ("lat", "lon", "hgt", "inc", "range")
_MONTHS = {m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}
_SNAP_BAND_RE = re.compile(r"^([iq])_([A-Z]{2})_(\d{2})([A-Z][a-z]{2})(\d{4})$")
_DATE_FILE_RE = re.compile(r"^(\d{8})\.(r?slc)(\.tif)?$")


@dataclass(frozen=True)
class SlcSource:
    """Where one date's SLC lives (picklable: sent to workers).

    ``kind``: ``"raw"`` (binary, ``dtype`` numpy string e.g. ``">c8"`` or ``">i2"`` for SCOMPLEX),
    ``"zarr"`` (``path`` = I band, ``path_q`` = Q band), ``"geotiff"``.
    """

    path: Path
    kind: str
    shape: tuple[int, int]
    dtype: str = ">c8"
    path_q: Path | None = None


@dataclass
class SlcStack:
    """A coregistered SLC stack: dates, sources, per-date metadata and radar-coded geometry.

    ``geometry`` holds full-resolution (ny, nx) float32 arrays: ``lat``, ``lon`` (deg), ``hgt``
    (m, DEM), ``inc`` (incidence, deg), ``range`` (slant range, m). ``bperp`` is per date (m) in
    Kansho's sign convention (see the module docstring). ``flat_earth_removed`` is True when the
    reader knows the SLCs were already flattened (SNAP's coregistration removes the flat-earth phase).
    """

    root: Path
    format: str
    dates: list[int]
    sources: dict[int, SlcSource]
    shape: tuple[int, int]
    wavelength: float
    range_spacing: float
    azimuth_spacing: float
    heading_deg: float | None
    bperp: dict[int, float]
    geometry: dict[str, npt.NDArray[np.float32]]
    flat_earth_removed: bool = False
    center_time: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_dates(self) -> int:
        return len(self.dates)

    def read(self, date: int) -> npt.NDArray[np.complex64]:
        """The SLC of ``date`` as complex64 (ny, nx)."""
        return read_slc(self.sources[date])


# --------------------------------------------------------------------------------------------
def read_slc(src: SlcSource) -> npt.NDArray[np.complex64]:
    """Read one SLC as complex64 (ny, nx); :class:`InputError` naming the file on any fault."""
    ny, nx = src.shape
    if src.kind == "raw":
        dt = np.dtype(src.dtype)
        per_px = 2 if dt.kind == "i" else 1
        expected = ny * nx * per_px * dt.itemsize
        size = src.path.stat().st_size if src.path.is_file() else -1
        if size < 0:
            raise InputError(src.path, "SLC file not found")
        if size != expected:
            raise InputError(src.path, f"SLC has {size} bytes, expected {expected} for {ny}x{nx} {src.dtype}")
        raw = np.fromfile(src.path, dtype=dt)
        if per_px == 2:
            raw = raw.astype(np.float32)
            return (raw[0::2] + 1j * raw[1::2]).astype(np.complex64).reshape(ny, nx)
        return raw.astype(np.complex64).reshape(ny, nx)
    if src.kind == "zarr":
        assert src.path_q is not None
        i = _read_zarr_band(src.path)
        q = _read_zarr_band(src.path_q)
        if i.shape != src.shape or q.shape != src.shape:
            raise InputError(src.path, f"band shape {i.shape} / {q.shape} differs from the stack's {src.shape}")
        return (i.astype(np.float32) + 1j * q.astype(np.float32)).astype(np.complex64)
    if src.kind == "geotiff":
        import rasterio
        from rasterio.errors import RasterioError

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with rasterio.open(src.path) as ds:
                    arr = ds.read(1)
        except RasterioError as exc:
            raise InputError(src.path, f"not a readable complex GeoTIFF ({str(exc).splitlines()[0][:120]})") from None
        if not np.iscomplexobj(arr):
            raise InputError(src.path, f"not a complex raster (data type {arr.dtype})")
        return arr.astype(np.complex64)
    raise ValueError(f"unknown SLC source kind {src.kind!r}")


def open_slc_stack(path: str | Path, fmt: str = "auto") -> SlcStack:
    """Open a coregistered SLC stack folder (see the module docstring for the formats).

    Raises :class:`InputError` (one line, naming the file) for: no SLCs, SLCs of different
    shapes, an SLC without its parameter file, a date without metadata (no baseline), fewer than
    two dates, or unreadable metadata.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InputError(root, "SLC stack folder not found")
    if fmt == "auto":
        fmt = _detect_format(root)
    if fmt == "snap_zarr":
        stack = _open_snap(root)
    elif fmt in ("gamma", "envi", "geotiff"):
        stack = _open_binary(root, fmt)
    else:
        raise InputError(root, f"unknown SLC stack format {fmt!r} (expected one of {', '.join(FORMATS)})")
    if stack.n_dates < 2:
        raise InputError(root, f"only {stack.n_dates} SLC date(s); an interferogram needs two")
    log.info(
        "%s: %s stack, %d dates (%d-%d), %dx%d px, wavelength %.5f m",
        root, stack.format, stack.n_dates, stack.dates[0], stack.dates[-1], stack.shape[1], stack.shape[0],
        stack.wavelength,
    )
    return stack


def _detect_format(root: Path) -> str:
    if list(root.glob("*.znap")) or root.suffix == ".znap":
        return "snap_zarr"
    files = [p for p in root.iterdir() if p.is_file()]
    if any(p.name.endswith((".slc.tif", ".rslc.tif")) for p in files):
        return "geotiff"
    if any(p.name.endswith((".slc.hdr", ".rslc.hdr")) for p in files):
        return "envi"
    if any(_DATE_FILE_RE.match(p.name) for p in files):
        return "gamma"
    raise InputError(root, "no SLC stack recognised (expected *.znap folders, yyyymmdd.slc(+.par/.hdr) or yyyymmdd.slc.tif)")


# --------------------------------------------------------------------------------------------
# SNAP ZNAP (Zarr v2)
# --------------------------------------------------------------------------------------------
def _read_zarr_band(folder: Path) -> npt.NDArray[Any]:
    """An uncompressed Zarr v2 array (any chunking), read with numpy alone."""
    meta_file = folder / ".zarray"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(meta_file, f"cannot read Zarr array metadata ({exc})") from None
    if meta.get("compressor") is not None or meta.get("filters"):
        try:
            import zarr

            return np.asarray(zarr.open_array(str(folder), mode="r")[:])
        except Exception as exc:  # noqa: BLE001 - any zarr failure is an input problem here
            raise InputError(folder, f"cannot read compressed Zarr array ({exc})") from None
    shape = tuple(int(v) for v in meta["shape"])
    chunks = tuple(int(v) for v in meta["chunks"])
    dt = np.dtype(meta["dtype"])
    sep = meta.get("dimension_separator", ".")
    fill = meta.get("fill_value", 0) or 0
    out = np.full(shape, fill, dtype=dt)
    nch = [math.ceil(s / c) for s, c in zip(shape, chunks, strict=True)]
    for idx in np.ndindex(*nch):
        f = folder / sep.join(str(i) for i in idx)
        if not f.is_file():
            continue
        buf = np.fromfile(f, dtype=dt)
        if buf.size != math.prod(chunks):
            raise InputError(f, f"Zarr chunk has {buf.size} values, expected {math.prod(chunks)}")
        block = buf.reshape(chunks, order=meta.get("order", "C"))
        sl = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(idx, chunks, shape, strict=True))
        out[sl] = block[tuple(slice(0, s.stop - s.start) for s in sl)]
    return out


def _snap_date(day: str, mon: str, year: str, where: Path) -> int:
    if mon not in _MONTHS:
        raise InputError(where, f"unrecognised month {mon!r} in band name")
    d = _dt.date(int(year), _MONTHS[mon], int(day))
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


def _tie_point(folder: Path, shape: tuple[int, int]) -> npt.NDArray[np.float32]:
    """Bilinear interpolation (and extrapolation) of a SNAP tie-point grid to every pixel."""
    grid = _read_zarr_band(folder).astype(np.float64)
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


def _open_snap(root: Path) -> SlcStack:
    products = sorted(root.glob("*.znap")) if root.suffix != ".znap" else [root]
    if not products:
        raise InputError(root, "no *.znap SNAP products")
    sources: dict[int, SlcSource] = {}
    bands: dict[str, Path] = {}
    shape: tuple[int, int] | None = None
    shape_from: Path | None = None
    abstracted: dict[str, Any] | None = None
    meta_file: Path | None = None
    for prod in products:
        for band in sorted(p for p in prod.iterdir() if p.is_dir()):
            bands.setdefault(band.name, band)
        for band in sorted(prod.glob("i_*")):
            m = _SNAP_BAND_RE.match(band.name)
            if m is None:
                continue
            qband = prod / ("q" + band.name[1:])
            if not qband.is_dir():
                raise InputError(band, f"I band without its Q band {qband.name}")
            date = _snap_date(m.group(3), m.group(4), m.group(5), band)
            ashape = tuple(int(v) for v in json.loads((band / ".zarray").read_text())["shape"])
            if shape is None:
                shape, shape_from = ashape, band  # type: ignore[assignment]
            elif ashape != shape:
                raise InputError(band, f"SLC is {ashape[1]}x{ashape[0]} px but {shape_from} is {shape[1]}x{shape[0]}")
            if date in sources:
                raise InputError(band, f"date {date} appears twice in the stack")
            sources[date] = SlcSource(band, "zarr", shape, ">f4", qband)  # type: ignore[arg-type]
        mf = prod / "SNAP" / "product_metadata.json"
        if abstracted is None and mf.is_file():
            abstracted, meta_file = _abstracted(mf), mf
    if not sources or shape is None:
        raise InputError(root, "no i_<pol>_<date> SLC bands in the *.znap products")
    if abstracted is None or meta_file is None:
        raise InputError(products[0] / "SNAP" / "product_metadata.json", "SNAP metadata missing")
    freq_mhz = float(_attr(abstracted, "radar_frequency"))
    wavelength = SPEED_OF_LIGHT / (freq_mhz * 1e6)
    rs = float(_attr(abstracted, "range_spacing"))
    azs = float(_attr(abstracted, "azimuth_spacing"))
    heading = _attr(abstracted, "centre_heading")
    heading = float(heading) if heading is not None else None
    # baselines: Ref_<date>/Secondary_<date> "Perp Baseline"; use the first reference listed
    bl = _child(abstracted, "Baselines")
    bperp: dict[int, float] = {}
    ref_date: int | None = None
    if bl is not None and bl.get("elements"):
        ref = bl["elements"][0]
        mref = re.match(r"Ref_(\d{2})([A-Z][a-z]{2})(\d{4})", ref["name"])
        if mref:
            ref_date = _snap_date(*mref.groups(), meta_file)
        for sec in ref.get("elements", []):
            ms = re.match(r"Secondary_(\d{2})([A-Z][a-z]{2})(\d{4})", sec["name"])
            val = _attr(sec, "Perp Baseline")
            if ms and val is not None:
                # SNAP lists B⊥ of the secondary as seen from the reference; Kansho's per-date value
                # is its negative, matching the sign of SNAP's height-to-phase band of the secondary
                # (h2ph < 0 where SNAP's B⊥ > 0). On the 12-day Amsterdam pair the topographic
                # phase is < 0.2 rad, so the sign cannot be checked from the data there.
                bperp[_snap_date(*ms.groups(), meta_file)] = -float(val)
    missing = [d for d in sources if d not in bperp]
    if missing:
        raise InputError(meta_file, f"date {missing[0]} has no metadata (no Baselines entry for it)")
    pol = _SNAP_BAND_RE.match(next(iter(sources.values())).path.name).group(2)  # type: ignore[union-attr]
    geometry: dict[str, npt.NDArray[np.float32]] = {}
    for key, names in (("lat", (f"latitude_{pol}",)), ("lon", (f"longitude_{pol}",)), ("hgt", (f"elevation_{pol}",))):
        for n in names:
            if n in bands:
                arr = _read_zarr_band(bands[n]).astype(np.float32)
                if arr.shape != shape:
                    raise InputError(bands[n], f"{arr.shape[1]}x{arr.shape[0]} px, the SLCs are {shape[1]}x{shape[0]}")
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
    t = _attr(abstracted, "first_line_time")
    center = None
    if isinstance(t, list) and len(t) == 3:  # MJD2000 days, seconds, microseconds
        secs = float(t[1]) + float(t[2]) * 1e-6
        center = str(_dt.timedelta(seconds=round(secs, 3)))
    dates = sorted(sources)
    return SlcStack(
        root=root, format="snap_zarr", dates=dates, sources=sources, shape=shape, wavelength=wavelength,
        range_spacing=rs, azimuth_spacing=azs, heading_deg=heading, bperp=bperp, geometry=geometry,
        flat_earth_removed=True, center_time=center,
        meta={"reference_date": ref_date, "polarisation": pol, "metadata_file": str(meta_file),
              "pass": _attr(abstracted, "PASS"), "mission": _attr(abstracted, "MISSION")},
    )


# --------------------------------------------------------------------------------------------
# GAMMA / ENVI / complex GeoTIFF
# --------------------------------------------------------------------------------------------
def parse_gamma_par(path: Path) -> dict[str, str]:
    """``key: value`` lines of a GAMMA parameter file → lower-case keys, raw value strings."""
    from kansho.io.licsbas_geoc import read_gamma_par

    return read_gamma_par(path)


def parse_envi_hdr(path: Path) -> dict[str, str]:
    """``key = value`` lines of an ENVI header (``{...}`` values may span lines) → lower-case keys."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(path, f"cannot read ENVI header ({exc.strerror})") from None
    if not text.lstrip().startswith("ENVI"):
        raise InputError(path, "not an ENVI header (first line is not 'ENVI')")
    out: dict[str, str] = {}
    for m in re.finditer(r"^\s*([^=\n]+?)\s*=\s*(\{[^}]*\}|[^\n]*)", text, flags=re.MULTILINE):
        out[m.group(1).strip().lower().replace(" ", "_")] = m.group(2).strip().strip("{}").strip()
    return out


def _num(meta: dict[str, str], key: str, path: Path, *, required: bool = True) -> float | None:
    if key not in meta:
        if required:
            raise InputError(path, f"parameter {key!r} missing")
        return None
    m = re.match(r"^\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)", meta[key])
    if m is None:
        raise InputError(path, f"parameter {key!r} is not a number: {meta[key][:40]!r}")
    return float(m.group(1))


def _open_binary(root: Path, fmt: str) -> SlcStack:
    files = sorted(p for p in root.iterdir() if p.is_file() and _DATE_FILE_RE.match(p.name))
    if fmt == "geotiff":
        files = [p for p in files if p.name.endswith(".tif")]
    else:
        files = [p for p in files if not p.name.endswith(".tif")]
    if not files:
        raise InputError(root, f"no yyyymmdd.slc files for format {fmt}")
    sources: dict[int, SlcSource] = {}
    metas: dict[int, tuple[Path, dict[str, str]]] = {}
    shape: tuple[int, int] | None = None
    first: Path | None = None
    for f in files:
        date = int(_DATE_FILE_RE.match(f.name).group(1))  # type: ignore[union-attr]
        try:
            _dt.datetime.strptime(str(date), "%Y%m%d")
        except ValueError:
            raise InputError(f, f"invalid date {date} in file name") from None
        if fmt == "gamma":
            par = f.with_name(f.name + ".par")
            if not par.is_file():
                raise InputError(f, f"parameter file {par.name} missing")
            meta = parse_gamma_par(par)
            ny = int(_num(meta, "azimuth_lines", par))  # type: ignore[arg-type]
            nx = int(_num(meta, "range_samples", par))  # type: ignore[arg-type]
            img = meta.get("image_format", "FCOMPLEX").split()[0].upper()
            if img not in ("FCOMPLEX", "SCOMPLEX"):
                raise InputError(par, f"image_format {img} is not an SLC format (FCOMPLEX or SCOMPLEX)")
            src = SlcSource(f, "raw", (ny, nx), ">c8" if img == "FCOMPLEX" else ">i2")
        elif fmt == "envi":
            hdr = f.with_name(f.name + ".hdr")
            if not hdr.is_file():
                raise InputError(f, f"ENVI header {hdr.name} missing")
            meta = parse_envi_hdr(hdr)
            par = hdr
            ny = int(_num(meta, "lines", hdr))  # type: ignore[arg-type]
            nx = int(_num(meta, "samples", hdr))  # type: ignore[arg-type]
            dtype_code = int(_num(meta, "data_type", hdr))  # type: ignore[arg-type]
            if dtype_code != 6:
                raise InputError(hdr, f"data type {dtype_code} is not complex64 (ENVI data type 6)")
            order = ">" if int(_num(meta, "byte_order", hdr, required=False) or 0) == 1 else "<"
            src = SlcSource(f, "raw", (ny, nx), order + "c8")
        else:
            import rasterio

            par = f
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with rasterio.open(f) as ds:
                    meta = {str(k).lower(): str(v) for k, v in ds.tags().items()}
                    ny, nx = ds.height, ds.width
            src = SlcSource(f, "geotiff", (ny, nx))
        if shape is None:
            shape, first = (ny, nx), f
        elif (ny, nx) != shape:
            raise InputError(f, f"SLC is {nx}x{ny} px but {first.name if first else '?'} is {shape[1]}x{shape[0]}")
        sources[date] = src
        metas[date] = (par, meta)
    assert shape is not None
    dates = sorted(sources)
    p0, m0 = metas[dates[0]]
    freq = _num(m0, "radar_frequency", p0)
    wavelength = SPEED_OF_LIGHT / float(freq)  # type: ignore[arg-type]
    rs = float(_num(m0, "range_pixel_spacing", p0))  # type: ignore[arg-type]
    azs = float(_num(m0, "azimuth_pixel_spacing", p0))  # type: ignore[arg-type]
    heading = _num(m0, "heading", p0, required=False)
    for d in dates[1:]:
        p, m = metas[d]
        f = _num(m, "radar_frequency", p)
        if abs(float(f) - float(freq)) > 1e-6 * float(freq):  # type: ignore[arg-type]
            raise InputError(p, f"radar_frequency {f} differs from {p0.name}'s {freq}")
    bfile = root / "baselines"
    if not bfile.is_file():
        raise InputError(bfile, "baselines file missing (perpendicular baseline per date)")
    bperp = read_baselines(bfile)
    missing = [d for d in dates if d not in bperp]
    if missing:
        raise InputError(bfile, f"date {missing[0]} has no metadata (no perpendicular baseline)")
    geometry = _read_geometry(root / "geometry", shape)
    if "inc" not in geometry:
        inc = _num(m0, "incidence_angle", p0)
        geometry["inc"] = np.full(shape, float(inc), np.float32)  # type: ignore[arg-type]
    if "range" not in geometry:
        r0 = float(_num(m0, "near_range_slc", p0))  # type: ignore[arg-type]
        geometry["range"] = np.broadcast_to((r0 + rs * np.arange(shape[1])).astype(np.float32), shape).copy()
    ct = _num(m0, "center_time", p0, required=False)
    center = str(_dt.timedelta(seconds=round(ct, 3))) if ct is not None else None
    return SlcStack(
        root=root, format=fmt, dates=dates, sources=sources, shape=shape, wavelength=wavelength,
        range_spacing=rs, azimuth_spacing=azs, heading_deg=heading,
        bperp={d: bperp[d] for d in dates}, geometry=geometry, flat_earth_removed=False, center_time=center,
        meta={"parameter_file": str(p0)},
    )


def _read_geometry(folder: Path, shape: tuple[int, int]) -> dict[str, npt.NDArray[np.float32]]:
    if not folder.is_dir():
        raise InputError(folder, "geometry folder missing (lat.rdr, lon.rdr, hgt.rdr: radar-coded lookup table)")
    out: dict[str, npt.NDArray[np.float32]] = {}
    for name in GEOMETRY_NAMES:
        f = folder / f"{name}.rdr"
        if not f.is_file():
            if name in ("lat", "lon", "hgt"):
                raise InputError(f, "geometry raster missing")
            continue
        expected = shape[0] * shape[1] * 4
        if f.stat().st_size != expected:
            raise InputError(f, f"has {f.stat().st_size} bytes, expected {expected} ({shape[1]}x{shape[0]} float32)")
        out[name] = np.fromfile(f, dtype=">f4").astype(np.float32).reshape(shape)
    return out
