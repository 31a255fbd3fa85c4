"""Readers of per-date SLC files: GAMMA (``gamma``), ENVI (``envi``) and complex GeoTIFF
(``geotiff``) stacks, see :mod:`kansho.ifg.readers`.

All three share the stack folder layout: ``yyyymmdd.slc`` (or ``.rslc``, ``.slc.tif``) per date, a
``baselines`` file and a radar-coded ``geometry/`` folder; they differ in where each file's size
and radar metadata come from (a :data:`HeaderReader`).
"""

from __future__ import annotations

import datetime as _dt
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kansho._constants import SPEED_OF_LIGHT
from kansho._types import Float32Array
from kansho.errors import InputError
from kansho.ifg.slc import SlcSource, SlcStack
from kansho.io.inputs import read_baselines

GEOMETRY_NAMES = ("lat", "lon", "hgt", "inc", "range")
DATE_FILE_RE = re.compile(r"^(\d{8})\.(r?slc)(\.tif)?$")

#: reads one date's file: its source, the file its metadata came from and that metadata (lower-case keys)
HeaderReader = Callable[[Path], tuple[SlcSource, Path, dict[str, str]]]


def _files(root: Path) -> list[Path]:
    return [p for p in root.iterdir() if p.is_file()]


def is_geotiff_stack(root: Path) -> bool:
    return any(p.name.endswith((".slc.tif", ".rslc.tif")) for p in _files(root))


def is_envi_stack(root: Path) -> bool:
    return any(p.name.endswith((".slc.hdr", ".rslc.hdr")) for p in _files(root))


def is_gamma_stack(root: Path) -> bool:
    return any(DATE_FILE_RE.match(p.name) for p in _files(root))


def open_gamma(root: Path) -> SlcStack:
    """``yyyymmdd.slc`` big-endian FCOMPLEX/SCOMPLEX binaries, each with ``yyyymmdd.slc.par``."""
    return _open_files(root, "gamma", _gamma_header)


def open_envi(root: Path) -> SlcStack:
    """``yyyymmdd.slc`` complex64 binaries, each with an ENVI header ``yyyymmdd.slc.hdr``."""
    return _open_files(root, "envi", _envi_header)


def open_geotiff(root: Path) -> SlcStack:
    """``yyyymmdd.slc.tif`` complex GeoTIFFs with radar metadata as tags."""
    return _open_files(root, "geotiff", _geotiff_header)


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


def _num_or_none(meta: dict[str, str], key: str, path: Path) -> float | None:
    """The leading number of parameter ``key`` (units stripped), None if absent."""
    if key not in meta:
        return None
    m = re.match(r"^\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)", meta[key])
    if m is None:
        raise InputError(path, f"parameter {key!r} is not a number: {meta[key][:40]!r}")
    return float(m.group(1))


def _num(meta: dict[str, str], key: str, path: Path) -> float:
    """Like :func:`_num_or_none` for a required parameter: :class:`InputError` if absent."""
    v = _num_or_none(meta, key, path)
    if v is None:
        raise InputError(path, f"parameter {key!r} missing")
    return v


def _gamma_header(f: Path) -> tuple[SlcSource, Path, dict[str, str]]:
    par = f.with_name(f.name + ".par")
    if not par.is_file():
        raise InputError(f, f"parameter file {par.name} missing")
    meta = parse_gamma_par(par)
    ny = int(_num(meta, "azimuth_lines", par))
    nx = int(_num(meta, "range_samples", par))
    img = meta.get("image_format", "FCOMPLEX").split()[0].upper()
    if img not in ("FCOMPLEX", "SCOMPLEX"):
        raise InputError(par, f"image_format {img} is not an SLC format (FCOMPLEX or SCOMPLEX)")
    return SlcSource(f, "raw", (ny, nx), ">c8" if img == "FCOMPLEX" else ">i2"), par, meta


def _envi_header(f: Path) -> tuple[SlcSource, Path, dict[str, str]]:
    hdr = f.with_name(f.name + ".hdr")
    if not hdr.is_file():
        raise InputError(f, f"ENVI header {hdr.name} missing")
    meta = parse_envi_hdr(hdr)
    ny = int(_num(meta, "lines", hdr))
    nx = int(_num(meta, "samples", hdr))
    dtype_code = int(_num(meta, "data_type", hdr))
    if dtype_code != 6:
        raise InputError(hdr, f"data type {dtype_code} is not complex64 (ENVI data type 6)")
    order = ">" if int(_num_or_none(meta, "byte_order", hdr) or 0) == 1 else "<"
    return SlcSource(f, "raw", (ny, nx), order + "c8"), hdr, meta


def _geotiff_header(f: Path) -> tuple[SlcSource, Path, dict[str, str]]:
    import rasterio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(f) as ds:
            meta = {str(k).lower(): str(v) for k, v in ds.tags().items()}
            ny, nx = ds.height, ds.width
    return SlcSource(f, "geotiff", (ny, nx)), f, meta


def _open_files(root: Path, fmt: str, header: HeaderReader) -> SlcStack:
    """The stack of the ``fmt`` date files in ``root``, their metadata read by ``header``."""
    files = sorted(p for p in root.iterdir() if p.is_file() and DATE_FILE_RE.match(p.name))
    files = [p for p in files if p.name.endswith(".tif") == (fmt == "geotiff")]
    if not files:
        raise InputError(root, f"no yyyymmdd.slc files for format {fmt}")
    sources, metas, shape = _read_headers(files, header)
    dates = sorted(sources)
    p0, m0 = metas[dates[0]]
    freq = _num(m0, "radar_frequency", p0)
    rs = _num(m0, "range_pixel_spacing", p0)
    azs = _num(m0, "azimuth_pixel_spacing", p0)
    heading = _num_or_none(m0, "heading", p0)
    for d in dates[1:]:
        p, m = metas[d]
        f = _num(m, "radar_frequency", p)
        if abs(f - freq) > 1e-6 * freq:
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
        geometry["inc"] = np.full(shape, _num(m0, "incidence_angle", p0), np.float32)
    if "range" not in geometry:
        r0 = _num(m0, "near_range_slc", p0)
        geometry["range"] = np.broadcast_to((r0 + rs * np.arange(shape[1])).astype(np.float32), shape).copy()
    ct = _num_or_none(m0, "center_time", p0)
    return SlcStack(
        root=root, format=fmt, dates=dates, sources=sources, shape=shape, wavelength=SPEED_OF_LIGHT / freq,
        range_spacing=rs, azimuth_spacing=azs, heading_deg=heading,
        bperp={d: bperp[d] for d in dates}, geometry=geometry, flat_earth_removed=False,
        center_time=str(_dt.timedelta(seconds=round(ct, 3))) if ct is not None else None,
        meta={"parameter_file": str(p0)},
    )


def _read_headers(
    files: list[Path], header: HeaderReader
) -> tuple[dict[int, SlcSource], dict[int, tuple[Path, dict[str, str]]], tuple[int, int]]:
    """Source and (metadata file, metadata) per date, and the SLC shape every file must share."""
    sources: dict[int, SlcSource] = {}
    metas: dict[int, tuple[Path, dict[str, str]]] = {}
    shape: tuple[int, int] | None = None
    first: Path | None = None
    for f in files:
        m = DATE_FILE_RE.match(f.name)
        assert m is not None  # the files were selected by this pattern
        date = int(m.group(1))
        try:
            _dt.datetime.strptime(str(date), "%Y%m%d")
        except ValueError:
            raise InputError(f, f"invalid date {date} in file name") from None
        src, par, meta = header(f)
        ny, nx = src.shape
        if shape is None:
            shape, first = (ny, nx), f
        elif (ny, nx) != shape:
            raise InputError(f, f"SLC is {nx}x{ny} px but {first.name if first else '?'} is {shape[1]}x{shape[0]}")
        sources[date] = src
        metas[date] = (par, meta)
    assert shape is not None  # files is not empty
    return sources, metas, shape


def _read_geometry(folder: Path, shape: tuple[int, int]) -> dict[str, Float32Array]:
    if not folder.is_dir():
        raise InputError(folder, "geometry folder missing (lat.rdr, lon.rdr, hgt.rdr: radar-coded lookup table)")
    out: dict[str, Float32Array] = {}
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
