"""GNSS readers and writers: NGL ``tenv3``, PBO/EarthScope ``.pos`` and station-velocity CSV.

Formats
-------
**NGL tenv3** (Nevada Geodetic Laboratory, Blewitt et al. 2018, *Eos* 99): one line per day,
whitespace separated: ``site YYMMMDD yyyy.yyyy MJD week d reflon e0 east n0 north u0 up ant
sig_e sig_n sig_u corr_en corr_eu corr_nu [lat lon height]``; east/north/up are integer plus
fractional parts (m) in a local frame whose east origin is the reference meridian ``reflon``. A
header line starting with ``site`` may come first. The last three columns (geodetic latitude,
longitude (may be given as lon - 360), height) exist in the current files; without them the
position is approximated from ``reflon`` and the northing.

**PBO .pos** (UNAVCO/EarthScope, format version 1.1): a header with ``4-character ID:`` and
``NEU Reference position :`` lines, then after the ``*YYYYMMDD`` column-title line one line per
day with the date, time, MJD, XYZ, their sigmas and correlations, ``NLat Elong Height``,
``dN dE dU`` (m, from the reference position), ``Sn Se Su``, ``Rne Rnu Reu`` and a solution name.

**Station velocity CSV** (published velocity fields): a header row then one station per row with
columns ``name, lon, lat, ve, vn, vu`` and optionally ``se, sn, su`` (1-sigma), velocities in
mm/yr. Header names are case-insensitive; ``station``/``site`` may stand for ``name``,
``sig_e``/``sve``… for the sigmas. Missing sigmas are NaN; a missing ``vu`` is NaN (horizontal-only
fields).

All readers raise :class:`~kansho.errors.InputError` with a one-line message naming the file.
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kansho._dates import MONTHS
from kansho._files import write_text_atomic as _atomic_text
from kansho._types import Float64Array
from kansho.errors import InputError
from kansho.grid import EARTH_RADIUS_KM

__all__ = [
    "GnssSeries",
    "StationVelocities",
    "mjd_to_date",
    "mjd_to_decyear",
    "read_gnss",
    "read_pos",
    "read_station_csv",
    "read_tenv3",
    "write_station_csv",
    "write_tenv3",
]

_MJD_EPOCH = _dt.date(1858, 11, 17)


@dataclass
class GnssSeries:
    """Daily positions of one GNSS station.

    Attributes
    ----------
    name:
        Station id (4 characters for NGL/PBO).
    lon, lat, height:
        Station position (deg east in [-180, 180), deg north, m): the median of the series.
    mjd:
        (n,) modified Julian day of each epoch (float, noon for PBO).
    east, north, up:
        (n,) positions (m) in a local east/north/up frame, as in the file: tenv3 integer plus
        fractional parts; PBO ``dE``/``dN``/``dU`` from the reference position.
    sig_east, sig_north, sig_up:
        (n,) 1-sigma of each position (m).
    source:
        File the series came from.
    """

    name: str
    lon: float
    lat: float
    height: float
    mjd: Float64Array
    east: Float64Array
    north: Float64Array
    up: Float64Array
    sig_east: Float64Array
    sig_north: Float64Array
    sig_up: Float64Array
    source: str = ""
    extra: dict[str, Float64Array] = field(default_factory=dict)

    @property
    def n_epoch(self) -> int:
        return int(self.mjd.size)

    def dates(self) -> npt.NDArray[np.int64]:
        """(n,) int yyyymmdd of each epoch."""
        return np.array([_ymd(mjd_to_date(m)) for m in self.mjd], dtype=np.int64)

    def decyear(self) -> Float64Array:
        """(n,) calendar decimal year of each epoch (see :func:`mjd_to_decyear`)."""
        return mjd_to_decyear(self.mjd)

    def enu_mm(self) -> Float64Array:
        """(n, 3) east, north, up displacement (mm) relative to the first epoch."""
        enu = np.stack([self.east, self.north, self.up], axis=1)
        return (enu - enu[0]) * 1000.0

    def sigma_mm(self) -> Float64Array:
        """(n, 3) east, north, up 1-sigma (mm)."""
        return np.stack([self.sig_east, self.sig_north, self.sig_up], axis=1) * 1000.0


@dataclass
class StationVelocities:
    """A published (or simulated) velocity field: arrays of shape (n_station,), velocities mm/yr."""

    name: list[str]
    lon: Float64Array
    lat: Float64Array
    ve: Float64Array
    vn: Float64Array
    vu: Float64Array
    se: Float64Array
    sn: Float64Array
    su: Float64Array
    source: str = ""

    def __len__(self) -> int:
        return len(self.name)


def mjd_to_date(mjd: float) -> _dt.date:
    """Calendar date of a modified Julian day (fraction dropped)."""
    return _MJD_EPOCH + _dt.timedelta(days=math.floor(mjd))


def mjd_to_decyear(mjd: npt.ArrayLike) -> Float64Array:
    """Decimal year 2000.0 + (MJD − 51544.5) / 365.25 (J2000 epoch; within a day of NGL's column 3)."""
    return 2000.0 + (np.asarray(mjd, dtype=np.float64) - 51544.5) / 365.25


def date_to_mjd(yyyymmdd: int) -> float:
    s = str(int(yyyymmdd))
    d = _dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
    return float((d - _MJD_EPOCH).days)


def _ymd(d: _dt.date) -> int:
    return d.year * 10000 + d.month * 100 + d.day


def _wrap_lon(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        return path.read_text(encoding="utf-8", errors="strict").splitlines()
    except UnicodeDecodeError:
        raise InputError(path, "not a text file") from None


# --------------------------------------------------------------------------------------------------
# NGL tenv3
# --------------------------------------------------------------------------------------------------


def read_tenv3(path: str | Path) -> GnssSeries:
    """Read a Nevada Geodetic Laboratory ``.tenv3`` file (format in the module docstring)."""
    path = Path(path)
    rows: list[list[float]] = []
    name = ""
    has_llh = None
    for i, line in enumerate(_read_lines(path), start=1):
        parts = line.split()
        if not parts or parts[0].lower() == "site" or line.startswith("#"):
            continue
        if len(parts) not in (20, 23):
            raise InputError(path, f"line {i}: {len(parts)} columns, a tenv3 line has 20 or 23")
        if has_llh is None:
            has_llh = len(parts) == 23
            name = parts[0]
        elif has_llh != (len(parts) == 23):
            raise InputError(path, f"line {i}: column count changes within the file")
        if parts[0] != name:
            raise InputError(path, f"line {i}: station {parts[0]!r} differs from {name!r}")
        try:
            vals = [float(p) for p in parts[2:]]
        except ValueError:
            raise InputError(path, f"line {i}: a numeric column is not a number") from None
        if not re.fullmatch(r"\d\d[A-Z]{3}\d\d", parts[1]) or parts[1][2:5].lower() not in MONTHS:
            raise InputError(path, f"line {i}: date {parts[1]!r} is not YYMMMDD")
        rows.append(vals)
    if not rows:
        raise InputError(path, "no tenv3 data lines")
    a = np.asarray(rows, dtype=np.float64)
    # columns after site and date: 0 decyear 1 mjd 2 week 3 day 4 reflon 5 e0 6 e 7 n0 8 n 9 u0 10 u 11 ant
    # 12-14 sigmas 15-17 correlations [18 lat 19 lon 20 height]
    dec, a = a[:, 0], a[:, 1:]
    mjd = a[:, 0]
    if np.any(np.diff(mjd) <= 0):
        raise InputError(path, "epochs are not in increasing order")
    east = a[:, 4] + a[:, 5]
    north = a[:, 6] + a[:, 7]
    up = a[:, 8] + a[:, 9]
    if has_llh:
        lat = float(np.median(a[:, 17]))
        lon = _wrap_lon(float(np.median(a[:, 18])))
        height = float(np.median(a[:, 19]))
    else:  # approximate from the reference meridian and the northing (spherical Earth)
        lat = float(np.median(north)) / 1000.0 / (math.pi / 180.0 * EARTH_RADIUS_KM)
        k = math.pi / 180.0 * EARTH_RADIUS_KM * max(math.cos(math.radians(lat)), 1e-6)
        lon = _wrap_lon(float(np.median(a[:, 3])) + float(np.median(east)) / 1000.0 / k)
        height = float(np.median(up))
    return GnssSeries(
        name=name, lon=lon, lat=lat, height=height, mjd=mjd, east=east, north=north, up=up,
        sig_east=a[:, 11], sig_north=a[:, 12], sig_up=a[:, 13], source=str(path),
        extra={"corr_en": a[:, 14], "corr_eu": a[:, 15], "corr_nu": a[:, 16], "decyear_file": dec},
    )


def write_tenv3(path: str | Path, series: GnssSeries) -> Path:
    """Write ``series`` as a 23-column tenv3 file (atomic). Positions are split into integer and
    fractional parts as NGL does; ``reflon`` is the station longitude rounded to 0.1°."""
    path = Path(path)
    reflon = round(series.lon, 1)
    lines = [("site YYMMMDD yyyy.yyyy __MJD week d reflon _e0(m) __east(m) ____n0(m) _north(m) u0(m) ____up(m) "
             "_ant(m) sig_e(m) sig_n(m) sig_u(m) __corr_en __corr_eu __corr_nu _latitude(deg) _longitude(deg) "
             "__height(m)")]
    e0, n0, u0 = (math.trunc(float(v[0])) for v in (series.east, series.north, series.up))
    dec = series.decyear()
    for k in range(series.n_epoch):
        m = float(series.mjd[k])
        d = mjd_to_date(m)
        gps_days = math.floor(m) - 44244
        lines.append(
            f"{series.name} {d.year % 100:02d}{MONTHS[d.month - 1].upper()}{d.day:02d} {dec[k]:.4f} {math.floor(m)} "
            f"{gps_days // 7:4d} {gps_days % 7} {reflon:6.1f} {e0:6d} {series.east[k] - e0: .6f} {n0:9d} "
            f"{series.north[k] - n0: .6f} {u0:5d} {series.up[k] - u0: .6f} 0.0000 {series.sig_east[k]:.6f} "
            f"{series.sig_north[k]:.6f} {series.sig_up[k]:.6f}  0.000000  0.000000  0.000000 "
            f"{series.lat: .10f} {series.lon: .10f} {series.height: .5f}"
        )
    _atomic_text(path, "\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------------------------------
# PBO .pos
# --------------------------------------------------------------------------------------------------


def read_pos(path: str | Path) -> GnssSeries:
    """Read a PBO/EarthScope ``.pos`` time series (format version 1.1, see module docstring)."""
    path = Path(path)
    lines = _read_lines(path)
    name = ""
    ref: tuple[float, float, float] | None = None
    start = None
    for i, line in enumerate(lines):
        if line.startswith("4-character ID:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("NEU Reference position"):
            nums = re.findall(r"[-+]?\d+\.\d+", line.split(":", 1)[1])
            if len(nums) >= 3:
                ref = (float(nums[0]), float(nums[1]), float(nums[2]))
        elif line.startswith("*YYYYMMDD"):
            start = i + 1
            break
    if start is None:
        raise InputError(path, "no '*YYYYMMDD' column-title line: not a PBO .pos file")
    rows: list[list[float]] = []
    for i, line in enumerate(lines[start:], start=start + 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 24:
            raise InputError(path, f"line {i}: {len(parts)} columns, a .pos line has 25")
        try:
            rows.append([float(p) for p in parts[2:24]])
        except ValueError:
            raise InputError(path, f"line {i}: a numeric column is not a number") from None
    if not rows:
        raise InputError(path, "no data lines after the column titles")
    a = np.asarray(rows, dtype=np.float64)
    # columns after date and time: 0 mjd 1-3 XYZ 4-6 sXYZ 7-9 rXYZ 10 lat 11 lon 12 h 13 dN 14 dE 15 dU
    # 16 Sn 17 Se 18 Su 19 Rne 20 Rnu 21 Reu
    mjd = a[:, 0]
    if np.any(np.diff(mjd) <= 0):
        raise InputError(path, "epochs are not in increasing order")
    lat, lon, h = (ref if ref is not None else (float(np.median(a[:, 10])), float(np.median(a[:, 11])),
                                                 float(np.median(a[:, 12]))))
    return GnssSeries(
        name=name or path.name.split(".")[0], lon=_wrap_lon(lon), lat=lat, height=h, mjd=mjd,
        east=a[:, 14], north=a[:, 13], up=a[:, 15], sig_east=a[:, 17], sig_north=a[:, 16], sig_up=a[:, 18],
        source=str(path), extra={"x": a[:, 1], "y": a[:, 2], "z": a[:, 3]},
    )


# --------------------------------------------------------------------------------------------------
# station-velocity CSV
# --------------------------------------------------------------------------------------------------

_ALIASES = {
    "name": ("name", "station", "site", "id"),
    "lon": ("lon", "longitude", "lon_deg"),
    "lat": ("lat", "latitude", "lat_deg"),
    "ve": ("ve", "v_e", "east", "vel_e"),
    "vn": ("vn", "v_n", "north", "vel_n"),
    "vu": ("vu", "v_u", "up", "vel_u"),
    "se": ("se", "sve", "sig_e", "sigma_e", "s_e", "ve_sig"),
    "sn": ("sn", "svn", "sig_n", "sigma_n", "s_n", "vn_sig"),
    "su": ("su", "svu", "sig_u", "sigma_u", "s_u", "vu_sig"),
}


def read_station_csv(path: str | Path) -> StationVelocities:
    """Read a station-velocity CSV (header ``name, lon, lat, ve, vn[, vu][, se, sn, su]``, mm/yr)."""
    path = Path(path)
    lines = [ln for ln in _read_lines(path) if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InputError(path, "empty station CSV")
    reader = csv.reader(lines)
    header = [h.strip().lower() for h in next(reader)]
    col: dict[str, int] = {}
    for key, aliases in _ALIASES.items():
        for n in aliases:
            if n in header:
                col[key] = header.index(n)
                break
    missing = [k for k in ("name", "lon", "lat", "ve", "vn") if k not in col]
    if missing:
        raise InputError(path, f"station CSV header lacks column(s) {', '.join(missing)} (have {', '.join(header)})")
    data: dict[str, list[float]] = {k: [] for k in _ALIASES if k != "name"}
    names: list[str] = []
    for i, row in enumerate(reader, start=2):
        if len(row) < len(header):
            raise InputError(path, f"row {i}: {len(row)} fields, the header has {len(header)}")
        names.append(row[col["name"]].strip())
        for k, values in data.items():
            if k not in col or row[col[k]].strip() in ("", "nan", "NaN"):
                values.append(math.nan)
                continue
            try:
                values.append(float(row[col[k]]))
            except ValueError:
                raise InputError(path, f"row {i}: {k} = {row[col[k]]!r} is not a number") from None
    if not names:
        raise InputError(path, "station CSV has a header but no stations")
    arr = {k: np.asarray(v, dtype=np.float64) for k, v in data.items()}
    if not (np.all(np.isfinite(arr["lon"])) and np.all(np.isfinite(arr["lat"]))):
        raise InputError(path, "a station has no lon/lat")
    if np.any(np.abs(arr["lat"]) > 90):
        raise InputError(path, "a latitude is outside [-90, 90]")
    lon = (arr["lon"] + 180.0) % 360.0 - 180.0
    return StationVelocities(names, lon, arr["lat"], arr["ve"], arr["vn"], arr["vu"], arr["se"], arr["sn"],
                             arr["su"], source=str(path))


def write_station_csv(path: str | Path, st: StationVelocities) -> Path:
    """Write a station-velocity CSV (atomic) readable by :func:`read_station_csv`."""
    rows = ["name,lon,lat,ve,vn,vu,se,sn,su"]
    for i, n in enumerate(st.name):
        vals = [st.lon[i], st.lat[i], st.ve[i], st.vn[i], st.vu[i], st.se[i], st.sn[i], st.su[i]]
        rows.append(",".join([n] + [f"{v:.6f}" for v in vals]))
    path = Path(path)
    _atomic_text(path, "\n".join(rows) + "\n")
    return path


def read_gnss(path: str | Path) -> GnssSeries | StationVelocities:
    """Read a tenv3, .pos or station CSV file, chosen by its name and first lines."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".tenv3"):
        return read_tenv3(path)
    if name.endswith(".pos"):
        return read_pos(path)
    if name.endswith(".csv"):
        return read_station_csv(path)
    head = _read_lines(path)[:40]
    if any(ln.startswith(("PBO Station Position", "*YYYYMMDD")) for ln in head):
        return read_pos(path)
    first = next((ln for ln in head if ln.strip() and ln.split()[0].lower() != "site"), "")
    if len(first.split()) in (20, 23):
        return read_tenv3(path)
    if "," in (head[0] if head else ""):
        return read_station_csv(path)
    raise InputError(path, "not a tenv3, PBO .pos or station CSV file")



