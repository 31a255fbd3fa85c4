"""Flat binary rasters with a text header: ENVI ``.hdr``, ROI_PAC/GACOS ``.rsc`` and GAMMA ``.par``.

A flat binary raster is ``offset`` bytes of header (usually none) followed by ``height`` rows of
``width`` samples of one numeric type, possibly with several bands. :class:`BinarySpec` says how
to read one band of such a file; :func:`read_binary` reads a window of it through a memory map
(only the rows asked for are touched), converting to float.

Headers understood:

``ENVI`` (``name.hdr`` or ``name.img.hdr``)
    ``samples``, ``lines``, ``bands``, ``data type`` (1 uint8, 2 int16, 3 int32, 4 float32,
    5 float64, 12 uint16, 13 uint32, 14 int64, 15 uint64), ``byte order`` (0 little, 1 big endian),
    ``interleave`` (bsq, bil, bip), ``header offset``, ``map info`` (``{Geographic Lat/Lon,
    ref_x, ref_y, lon, lat, dx, dy, ...}``: the 1-based image coordinate ``(ref_x, ref_y)`` — where
    ``(1, 1)`` is the outer corner of the top-left pixel, as the ENVI format defines it — lies at
    ``(lon, lat)``; ``dy`` is given positive for north-up images).
``ROI_PAC`` ``.rsc`` (``name.rsc``, e.g. ``20170317.ztd.rsc``; GACOS uses it too)
    ``WIDTH``, ``FILE_LENGTH``, ``X_FIRST``, ``Y_FIRST``, ``X_STEP``, ``Y_STEP``; data are
    little-endian float32. ``X_FIRST``/``Y_FIRST`` are taken as the outer corner of the top-left
    pixel (the convention MintPy documents for these keys). ROI_PAC ``.unw``/``.cor``/``.hgt``
    files are two-band, line-interleaved (amplitude or magnitude, then the value): such a file,
    recognised by its size being twice a single band, is read from its second band.

Every problem raises :class:`~kansho.errors.InputError` with a one-line message naming the file:
a missing header, a header that lacks a required key or has a non-numeric value, an unsupported
data type, or a data file whose size is not what the header says.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kansho.errors import InputError
from kansho.grid import Grid

log = logging.getLogger(__name__)

__all__ = [
    "BinarySpec",
    "check_size",
    "envi_grid",
    "envi_spec",
    "find_header",
    "open_headed",
    "read_binary",
    "read_envi_header",
    "read_rsc",
    "rsc_grid",
    "rsc_spec",
]

ENVI_DTYPES: dict[int, str] = {1: "u1", 2: "i2", 3: "i4", 4: "f4", 5: "f8", 12: "u2", 13: "u4", 14: "i8", 15: "u8"}
_TWO_BAND_SUFFIXES = (".unw", ".cor", ".hgt", ".amp")


@dataclass(frozen=True)
class BinarySpec:
    """How to read one band of a flat binary raster.

    ``dtype`` is a NumPy type string with its byte order (``"<f4"``, ``">f4"``, ``"|u1"``);
    ``interleave`` is ``"bsq"`` (band after band), ``"bil"`` (band-interleaved by line: row 0
    band 0, row 0 band 1, ...) or ``"bip"`` (by pixel); ``band`` is the 0-based band to read.
    """

    width: int
    height: int
    dtype: str = "<f4"
    bands: int = 1
    interleave: str = "bsq"
    band: int = 0
    offset: int = 0

    @property
    def expected_bytes(self) -> int:
        return self.offset + self.width * self.height * self.bands * np.dtype(self.dtype).itemsize

    def to_dict(self) -> dict[str, object]:
        return {"width": self.width, "height": self.height, "dtype": self.dtype, "bands": self.bands,
                "interleave": self.interleave, "band": self.band, "offset": self.offset}


def check_size(path: Path, spec: BinarySpec) -> None:
    """Raise :class:`InputError` if ``path`` is missing or its size differs from ``spec``."""
    if not path.is_file():
        raise InputError(path, "file not found")
    size = path.stat().st_size
    if size != spec.expected_bytes:
        raise InputError(
            path,
            f"wrong byte size: {size} bytes, expected {spec.expected_bytes} for {spec.width} x {spec.height} px "
            f"x {spec.bands} band(s) of {np.dtype(spec.dtype).name} (truncated, or header not for this file)",
        )


def read_binary(
    path: str | Path, spec: BinarySpec, window: tuple[slice, slice] | None = None, *,
    dtype: npt.DTypeLike | None = np.float32,
) -> npt.NDArray[np.floating]:
    """Read band ``spec.band`` of a flat binary file, optionally a ``(rows, cols)`` window.

    Returns an array of ``dtype`` (None: the stored type) in native byte order, shape (rows, cols). The
    file's size is checked against ``spec`` first (a cut download is a one-line :class:`InputError`).
    """
    path = Path(path)
    check_size(path, spec)
    rows, cols = window if window is not None else (slice(0, spec.height), slice(0, spec.width))
    r0, r1 = rows.start or 0, spec.height if rows.stop is None else rows.stop
    c0, c1 = cols.start or 0, spec.width if cols.stop is None else cols.stop
    if not (0 <= r0 <= r1 <= spec.height and 0 <= c0 <= c1 <= spec.width):
        raise InputError(path, f"window rows {r0}:{r1} cols {c0}:{c1} outside the {spec.width} x {spec.height} raster")
    shape = {"bsq": (spec.bands, spec.height, spec.width), "bil": (spec.height, spec.bands, spec.width),
             "bip": (spec.height, spec.width, spec.bands)}[spec.interleave]
    mm = np.memmap(path, dtype=np.dtype(spec.dtype), mode="r", offset=spec.offset, shape=shape)
    b = spec.band
    if spec.interleave == "bsq":
        part = mm[b, r0:r1, c0:c1]
    elif spec.interleave == "bil":
        part = mm[r0:r1, b, c0:c1]
    else:
        part = mm[r0:r1, c0:c1, b]
    out = np.array(part, dtype=np.dtype(spec.dtype).newbyteorder("=") if dtype is None else dtype)
    del mm
    return out


# --------------------------------------------------------------------------------------------- headers
def find_header(data: Path) -> Path | None:
    """The header of ``data``: ``data.hdr``, ``data`` minus its suffix ``.hdr``, or ``data.rsc``."""
    for cand in (data.with_name(data.name + ".hdr"), data.with_suffix(".hdr"), data.with_name(data.name + ".rsc")):
        if cand != data and cand.is_file():
            return cand
    return None


def read_envi_header(path: str | Path) -> dict[str, str]:
    """Keys (lower case) and values of an ENVI ``.hdr``; ``{...}`` values may span lines."""
    path = Path(path)
    text = _read_text(path)
    lines = text.splitlines()
    if not lines or lines[0].strip().upper() != "ENVI":
        raise InputError(path, "malformed ENVI header: the first line is not 'ENVI'")
    out: dict[str, str] = {}
    joined = "\n".join(lines[1:])
    for m in re.finditer(r"^\s*([^=\n]+?)\s*=\s*(\{[^}]*\}|[^\n]*)", joined, flags=re.MULTILINE):
        out[m.group(1).strip().lower()] = m.group(2).strip()
    return out


def read_rsc(path: str | Path) -> dict[str, str]:
    """Keys (upper case) and values of a ROI_PAC ``.rsc`` (``KEY value`` per line)."""
    path = Path(path)
    out: dict[str, str] = {}
    for lineno, raw in enumerate(_read_text(path).splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        toks = line.split(None, 1)
        if len(toks) != 2 or not re.fullmatch(r"[A-Za-z_][\w]*", toks[0]):
            raise InputError(path, f"malformed .rsc header: line {lineno} is not 'KEY value': {line[:50]!r}")
        out[toks[0].upper()] = toks[1].strip()
    return out


def envi_spec(hdr: dict[str, str], path: Path) -> BinarySpec:
    """:class:`BinarySpec` from a parsed ENVI header (``path`` names the header in errors)."""
    width = _int(hdr, "samples", path)
    height = _int(hdr, "lines", path)
    bands = _int(hdr, "bands", path, default=1)
    code = _int(hdr, "data type", path)
    if code not in ENVI_DTYPES:
        raise InputError(path, f"unsupported ENVI data type {code} (complex or unknown)")
    order = _int(hdr, "byte order", path, default=0)
    if order not in (0, 1):
        raise InputError(path, f"malformed ENVI header: byte order {order} (expected 0 or 1)")
    base = ENVI_DTYPES[code]
    dtype = ("|" if base.endswith("1") and base[0] in "ui" else "<>"[order]) + base
    interleave = hdr.get("interleave", "bsq").strip().lower()
    if interleave not in ("bsq", "bil", "bip"):
        raise InputError(path, f"malformed ENVI header: interleave {interleave!r}")
    offset = _int(hdr, "header offset", path, default=0)
    if width < 1 or height < 1 or bands < 1 or offset < 0:
        raise InputError(path, f"malformed ENVI header: {width} samples, {height} lines, {bands} bands")
    band = bands - 1 if bands == 2 else 0  # ISCE/ROI_PAC-style two-band unw: magnitude, phase
    return BinarySpec(width, height, dtype, bands, interleave, band, offset)


def envi_grid(hdr: dict[str, str], spec: BinarySpec, path: Path) -> Grid | None:
    """The lon/lat grid from ``map info`` (``None`` without one); only geographic maps."""
    info = hdr.get("map info")
    if not info:
        return None
    toks = [t.strip() for t in info.strip("{} ").split(",")]
    if len(toks) < 7:
        raise InputError(path, f"malformed ENVI header: map info has {len(toks)} fields, expected at least 7")
    if "lat/lon" not in toks[0].lower() and "geographic" not in toks[0].lower():
        raise InputError(path, f"map projection {toks[0]!r} not supported (only Geographic Lat/Lon)")
    try:
        rx, ry, lon, lat, dx, dy = (float(t) for t in toks[1:7])
    except ValueError:
        raise InputError(path, f"malformed ENVI header: non-numeric map info {info[:80]!r}") from None
    dy = -abs(dy)
    x0 = lon - (rx - 1.0) * dx
    y0 = lat - (ry - 1.0) * dy
    return Grid(spec.width, spec.height, (x0, dx, 0.0, y0, 0.0, dy), "EPSG:4326")


def rsc_spec(rsc: dict[str, str], path: Path, data: Path | None = None, *, dtype: str = "<f4") -> BinarySpec:
    """:class:`BinarySpec` of a ROI_PAC ``.rsc``; a two-band ``.unw``/``.cor``/``.hgt`` is detected by size."""
    width = _int(rsc, "WIDTH", path)
    height = _int(rsc, "FILE_LENGTH", path)
    if width < 1 or height < 1:
        raise InputError(path, f"malformed .rsc header: WIDTH {width}, FILE_LENGTH {height}")
    spec = BinarySpec(width, height, dtype)
    if data is not None and data.suffix.lower() in _TWO_BAND_SUFFIXES and data.is_file():
        two = BinarySpec(width, height, dtype, bands=2, interleave="bil", band=1)
        if data.stat().st_size == two.expected_bytes:
            return two
    return spec


def rsc_grid(rsc: dict[str, str], spec: BinarySpec, path: Path) -> Grid | None:
    """The grid of a geocoded ``.rsc`` (``X_FIRST`` … ``Y_STEP``); ``None`` for a radar-coded one."""
    keys = ("X_FIRST", "Y_FIRST", "X_STEP", "Y_STEP")
    if not any(k in rsc for k in keys):
        return None
    x0, y0, dx, dy = (_float(rsc, k, path) for k in keys)
    if dx == 0 or dy == 0:
        raise InputError(path, "malformed .rsc header: zero X_STEP or Y_STEP")
    return Grid(spec.width, spec.height, (x0, dx, 0.0, y0, 0.0, dy), "EPSG:4326")


def open_headed(data: str | Path) -> tuple[BinarySpec, Grid | None, dict[str, str], Path]:
    """Find and parse the header of ``data``; check the data file's size.

    Returns ``(spec, grid or None, header values, header path)``. Raises :class:`InputError`
    for a missing header (naming the data file), a malformed one, or a wrong byte size.
    """
    data = Path(data)
    if not data.is_file():
        raise InputError(data, "file not found")
    hdr_path = find_header(data)
    if hdr_path is None:
        raise InputError(data, f"missing companion header ({data.name}.hdr, {data.stem}.hdr or {data.name}.rsc)")
    if hdr_path.suffix == ".rsc":
        vals = read_rsc(hdr_path)
        spec = rsc_spec(vals, hdr_path, data)
        grid = rsc_grid(vals, spec, hdr_path)
    else:
        vals = read_envi_header(hdr_path)
        spec = envi_spec(vals, hdr_path)
        grid = envi_grid(vals, spec, hdr_path)
    check_size(data, spec)
    return spec, grid, vals, hdr_path


# --------------------------------------------------------------------------------------------- helpers
def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(path, "header file not found")
    try:
        raw = path.read_bytes()[:1_000_000]
    except OSError as exc:
        raise InputError(path, f"cannot read header ({exc.strerror})") from None
    if b"\x00" in raw[:4096]:
        raise InputError(path, "malformed header: binary content where text was expected")
    return raw.decode("utf-8", errors="replace")


def _int(d: dict[str, str], key: str, path: Path, default: int | None = None) -> int:
    if key not in d:
        if default is not None:
            return default
        raise InputError(path, f"malformed header: required key {key!r} missing")
    try:
        v = float(d[key].split()[0])
    except (ValueError, IndexError):
        raise InputError(path, f"malformed header: {key} = {d[key][:40]!r} is not a number") from None
    if v != int(v):
        raise InputError(path, f"malformed header: {key} = {d[key]!r} is not an integer")
    return int(v)


def _float(d: dict[str, str], key: str, path: Path) -> float:
    if key not in d:
        raise InputError(path, f"malformed header: required key {key!r} missing")
    try:
        return float(d[key].split()[0])
    except (ValueError, IndexError):
        raise InputError(path, f"malformed header: {key} = {d[key][:40]!r} is not a number") from None
