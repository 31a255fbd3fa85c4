"""Points and boxes as people write them on the command line, and lon/lat as Kansho shows them.

One syntax everywhere (``kansho ts --ref``, ``--clip-lonlat``, ``export --point``, ``plot-ts``):

* a **point** is ``LON,LAT`` in degrees: ``-99.12,19.41``, or with hemisphere letters ``99.12W,19.41N``
  (``°`` allowed: ``99.12°W,19.41°N``; with letters on both the order may also be ``LAT,LON``). A pixel,
  where pixels make sense, is written explicitly: ``px:ROW,COL`` (row first, as ``--pixel ROW,COL``).
* a **box** in degrees is ``LON1/LON2/LAT1/LAT2`` (LiCSBAS's ``--ref_geo`` / ``-g``) or
  ``LON1:LON2/LAT1:LAT2`` written with decimals or signs (``-99.2:-99.1/19.3:19.4``); a box in pixels is
  ``x1:x2/y1:y2`` with whole numbers (columns, then rows, end-exclusive: LiCSBAS's ``--ref_area``),
  or explicitly ``px:x1:x2/y1:y2``. Whole-number ``A:B/C:D`` is read as pixels, as LiCSBAS does; where an
  option takes degrees only (``--clip-lonlat``) it is read as degrees.

Longitudes are shown as ``99.07926°W`` / ``139.69°E``, never ``-99.07926°E`` (:func:`format_lon`).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from typing import Literal, NamedTuple

__all__ = ["BOX_FORMS", "POINT_FORMS", "LonLat", "Pixel", "box_arg", "canonical_box", "format_lat",
           "format_lon", "format_lonlat", "parse_box", "parse_point", "point_arg"]

BoxKind = Literal["lonlat", "pixel"]

POINT_FORMS = "LON,LAT in degrees (e.g. -99.12,19.41 or 99.12W,19.41N)"
PIXEL_POINT_FORM = "px:ROW,COL (pixel row and column)"
BOX_FORMS = {
    "lonlat": "LON1/LON2/LAT1/LAT2 or LON1:LON2/LAT1:LAT2 in degrees (e.g. -99.2/-99.1/19.3/19.4)",
    "pixel": "x1:x2/y1:y2 in pixels (columns, then rows, end-exclusive; e.g. 10:15/20:25)",
    "any": "LON1/LON2/LAT1/LAT2 or LON1:LON2/LAT1:LAT2 in degrees (e.g. -99.2:-99.1/19.3:19.4), or "
           "x1:x2/y1:y2 in whole pixels (columns, then rows, end-exclusive)",
}

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_COORD_RE = re.compile(rf"^\s*({_NUM})\s*°?\s*([NSEWnsew]?)\s*$")
_INT_RE = re.compile(r"^\s*\+?\d+\s*$")


class LonLat(NamedTuple):
    """A point in degrees (longitude in -180..360, latitude in -90..90); a ``(lon, lat)`` tuple."""

    lon: float
    lat: float

    def __str__(self) -> str:
        return format_lonlat(self.lon, self.lat)


class Pixel(NamedTuple):
    """A point in pixels of the run's grid (row 0 = the northern edge); a ``(row, col)`` tuple."""

    row: int
    col: int

    def __str__(self) -> str:
        return f"row {self.row}, col {self.col}"


def _wrap180(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0 if not -180.0 <= lon <= 180.0 else lon


def format_lon(lon: float, digits: int | None = 5) -> str:
    """``-99.07926`` → ``'99.07926°W'``; ``139.69`` → ``'139.69000°E'`` (wrapped to -180..180).

    ``digits=None``: the shortest form, as on a map's ticks (``'99.1°W'``; ``'0°'`` and ``'180°'``
    without a letter)."""
    if not math.isfinite(lon):
        return f"{lon}°"
    if digits is None:
        v = _wrap180(float(lon))
        txt = f"{abs(v):.6g}"
        return f"{txt}°" if v == 0 or abs(v) == 180 else f"{txt}°{'E' if v > 0 else 'W'}"
    v = round(_wrap180(float(lon)), digits)
    return f"{abs(v):.{digits}f}°{'W' if v < 0 else 'E'}"


def format_lat(lat: float, digits: int | None = 5) -> str:
    """``19.41`` → ``'19.41000°N'``; ``-33.4`` → ``'33.40000°S'``; ``digits=None`` as :func:`format_lon`."""
    if not math.isfinite(lat):
        return f"{lat}°"
    if digits is None:
        txt = f"{abs(float(lat)):.6g}"
        return f"{txt}°" if lat == 0 else f"{txt}°{'N' if lat > 0 else 'S'}"
    v = round(float(lat), digits)
    return f"{abs(v):.{digits}f}°{'S' if v < 0 else 'N'}"


def format_lonlat(lon: float, lat: float, digits: int = 5) -> str:
    """``(-99.07926, 19.41)`` → ``'99.07926°W, 19.41000°N'``."""
    return f"{format_lon(lon, digits)}, {format_lat(lat, digits)}"


def _coord(text: str) -> tuple[float, str]:
    """``'-99.1'`` → ``(-99.1, '')``; ``'99.1°W'`` → ``(-99.1, 'lon')``; raises ValueError."""
    m = _COORD_RE.match(text)
    if not m:
        raise ValueError(f"{text.strip()!r} is not a number")
    value, letter = float(m.group(1)), m.group(2).upper()
    if not math.isfinite(value):
        raise ValueError(f"{text.strip()!r} is not a finite number")
    if letter and value < 0:
        raise ValueError(f"{text.strip()!r}: give a sign or a hemisphere letter, not both")
    if letter in ("W", "S"):
        value = -value
    return value, {"": "", "E": "lon", "W": "lon", "N": "lat", "S": "lat"}[letter]


def _check_lonlat(lon: float, lat: float) -> LonLat:
    if not -90.0 <= lat <= 90.0:
        swapped = " (longitude comes first: LON,LAT)" if -90.0 <= lon <= 90.0 else ""
        raise ValueError(f"latitude {lat:g} is outside -90..90{swapped}")
    if not -180.0 <= lon <= 360.0:
        raise ValueError(f"longitude {lon:g} is outside -180..360")
    return LonLat(lon, lat)


def _lonlat_pair(a: str, b: str) -> tuple[float, float]:
    """Two coordinates in LON, LAT order unless hemisphere letters say otherwise."""
    (va, ka), (vb, kb) = _coord(a), _coord(b)
    if ka == "lat" or kb == "lon":
        if ka == "lon" or kb == "lat":
            raise ValueError("the hemisphere letters name the same axis twice")
        return vb, va
    return va, vb


def parse_point(text: str, *, pixels: bool = False) -> LonLat | Pixel:
    """``'LON,LAT'`` → :class:`LonLat`; ``'px:ROW,COL'`` → :class:`Pixel` (only with ``pixels``).

    Raises :class:`ValueError` naming the expected form."""
    s = text.strip()
    if s.lower().startswith("px:"):
        if not pixels:
            raise ValueError(f"{text!r}: a pixel is not accepted here; expected {POINT_FORMS}")
        parts = s[3:].split(",")
        if len(parts) != 2 or not all(_INT_RE.match(p) for p in parts):
            raise ValueError(f"{text!r} is not {PIXEL_POINT_FORM}")
        return Pixel(int(parts[0]), int(parts[1]))
    expected = POINT_FORMS + (f" or {PIXEL_POINT_FORM}" if pixels else "")
    parts = s.split(",")
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not {expected}")
    try:
        lon, lat = _lonlat_pair(*parts)
        return _check_lonlat(lon, lat)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}; expected {expected}") from None


def _parse_pixel_box(s: str, text: str) -> tuple[float, float, float, float]:
    m = re.match(r"^\s*(\d+)\s*:\s*(\d+)\s*/\s*(\d+)\s*:\s*(\d+)\s*$", s)
    if not m:
        raise ValueError(f"{text!r} is not {BOX_FORMS['pixel']}")
    x1, x2, y1, y2 = (int(g) for g in m.groups())
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"{text!r} is an empty box: need x1 < x2 and y1 < y2 ({BOX_FORMS['pixel']})")
    return x1, x2, y1, y2


def _degree_box(lons: tuple[str, str], lats: tuple[str, str], text: str) -> tuple[float, float, float, float]:
    lon1, lat1 = _lonlat_pair(lons[0], lats[0])
    lon2, lat2 = _lonlat_pair(lons[1], lats[1])
    for lon, lat in ((lon1, lat1), (lon2, lat2)):
        _check_lonlat(lon, lat)
    return min(lon1, lon2), max(lon1, lon2), min(lat1, lat2), max(lat1, lat2)


def parse_box(text: str, kind: Literal["lonlat", "pixel", "any"] = "any"
              ) -> tuple[BoxKind, tuple[float, float, float, float]]:
    """A box → ``("lonlat", (lon1, lon2, lat1, lat2))`` (sorted) or ``("pixel", (x1, x2, y1, y2))``.

    The return matches :func:`kansho.config.parse_ref`. ``kind`` restricts what is accepted (and reads
    whole-number ``A:B/C:D`` as degrees when ``"lonlat"``). Raises :class:`ValueError` naming the form."""
    s = text.strip()
    expected = BOX_FORMS[kind]
    if s.lower().startswith("px:"):
        if kind == "lonlat":
            raise ValueError(f"{text!r}: a pixel box is not accepted here; expected {expected}")
        return "pixel", _parse_pixel_box(s[3:], text)
    slash = s.split("/")
    try:
        if len(slash) == 4 and ":" not in s:
            if kind == "pixel":
                raise ValueError("a box in degrees is not accepted here")
            return "lonlat", _degree_box((slash[0], slash[1]), (slash[2], slash[3]), text)
        if len(slash) == 2 and slash[0].count(":") == 1 and slash[1].count(":") == 1:
            (a, b), (c, d) = slash[0].split(":"), slash[1].split(":")
            whole = all(_INT_RE.match(v) for v in (a, b, c, d))
            if kind == "pixel" or (kind == "any" and whole):
                return "pixel", _parse_pixel_box(s, text)
            return "lonlat", _degree_box((a, b), (c, d), text)
    except ValueError as exc:
        msg = str(exc)
        if msg.startswith(repr(text)):
            raise
        raise ValueError(f"{text!r}: {msg}; expected {expected}") from None
    raise ValueError(f"{text!r} is not {expected}")


def canonical_box(kind: BoxKind, box: tuple[float, float, float, float]) -> str:
    """The box in the run options' syntax (:func:`kansho.config.parse_ref`): ``x1:x2/y1:y2`` or
    ``lon1/lon2/lat1/lat2``."""
    if kind == "pixel":
        x1, x2, y1, y2 = (int(v) for v in box)
        return f"{x1}:{x2}/{y1}:{y2}"
    return "/".join(repr(float(v)) for v in box)


def point_arg(*, pixels: bool = False) -> Callable[[str], LonLat | Pixel]:
    """An argparse ``type``: a point (see :func:`parse_point`); errors come as ``argument --point: ...``."""
    def conv(text: str) -> LonLat | Pixel:
        try:
            return parse_point(text, pixels=pixels)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    conv.__name__ = "point"
    return conv


def box_arg(kind: Literal["lonlat", "pixel", "any"] = "any", *, many: bool = False,
            none_words: tuple[str, ...] = ()) -> Callable[[str], str]:
    """An argparse ``type``: a box (or with ``many`` several, separated by spaces) → its canonical text
    (:func:`canonical_box`), which the run options accept. A value in ``none_words`` is passed through."""
    def conv(text: str) -> str:
        if text.strip().lower() in none_words:
            return text
        parts = text.split() if many else [text]
        if not parts:
            raise argparse.ArgumentTypeError(f"empty value; expected {BOX_FORMS[kind]}")
        try:
            return " ".join(canonical_box(*parse_box(p, kind)) for p in parts)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    conv.__name__ = "box"
    return conv
