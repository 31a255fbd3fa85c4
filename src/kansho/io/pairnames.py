"""Dates and kinds read from the names of interferogram files and folders, and folder look-ups.

A pair folder is ``yyyymmdd_yyyymmdd``; a file name carries the two dates as ``yyyymmdd`` or
``yymmdd`` joined by ``-``/``_``, or as SNAP's ``17Mar2017_10Apr2017``. The kind of a file comes
from the tokens of its name: ``unw`` → unwrapped phase, ``cc``/``coh``/``cor`` → coherence.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from kansho._dates import month_number, parse_date
from kansho.errors import InputError

log = logging.getLogger(__name__)

PAIR_DIR_RE = re.compile(r"^(\d{8})_(\d{8})$")
PAIR_NAME_RE = re.compile(r"(?<!\d)(\d{8}|\d{6})[-_](\d{8}|\d{6})(?!\d)")
SNAP_PAIR_RE = re.compile(r"(?<![0-9A-Za-z])(\d{2})([A-Za-z]{3})(\d{4})[-_](\d{2})([A-Za-z]{3})(\d{4})(?![0-9])")
TIF_SUFFIXES = (".tif", ".tiff")
#: suffixes of companion files (headers, side cars, quick looks) that are never a raster of a pair
HEADER_SUFFIXES = (".hdr", ".rsc", ".xml", ".vrt", ".aux", ".par", ".txt", ".json", ".png", ".jpg", ".kml")
UNW_TOKENS = frozenset({"unw", "unwrapped", "unwrap"})
CC_TOKENS = frozenset({"cc", "coh", "cor", "corr", "coherence"})


def tokens(name: str) -> list[str]:
    """Lower-case alphanumeric tokens of a file name, without a GeoTIFF suffix."""
    stem = name
    for suf in TIF_SUFFIXES:
        if stem.lower().endswith(suf):
            stem = stem[: -len(suf)]
    return [t for t in re.split(r"[^a-z0-9]+", stem.lower()) if t]


def classify(p: Path) -> str | None:
    """``"unw"``, ``"cc"`` or ``None`` (neither, or both: then a warning) from the tokens of ``p``'s name."""
    toks = set(tokens(p.name))
    is_unw = bool(toks & UNW_TOKENS)
    is_cc = bool(toks & CC_TOKENS)
    if is_unw and is_cc:
        log.warning("%s: name has both unw and coherence tokens, ignored", p)
        return None
    return "unw" if is_unw else "cc" if is_cc else None


def check_dates(path: Path, s1: str, s2: str, *, what: str) -> tuple[int, int]:
    """Two date tokens of ``path``'s name → ``(date1, date2)``; InputError unless valid and increasing."""
    d1 = date_int(s1, path=path, what=what)
    d2 = date_int(s2, path=path, what=what)
    if d1 >= d2:
        raise InputError(path, f"reversed or equal dates in {what}: {d1} is not before {d2}")
    return d1, d2


def is_date_token(tok: str) -> bool:
    """True for eight digits (a ``yyyymmdd`` candidate)."""
    return bool(re.fullmatch(r"\d{8}", tok))


def date_int(tok: str, *, path: Path | None = None, what: str = "name") -> int:
    """``yyyymmdd`` or ``yymmdd`` → int yyyymmdd, checking it is a calendar date."""
    s = tok
    if len(s) == 6:
        yy = int(s[:2])
        s = ("19" if yy >= 90 else "20") + s
    try:
        parse_date(s)
    except ValueError:
        if path is None:
            raise ValueError(f"{tok!r} is not a calendar date") from None
        raise InputError(path, f"invalid date {tok!r} in {what} (not a calendar date)") from None
    return int(s)


def pair_dates_in_name(p: Path) -> tuple[int, int] | None:
    """The two dates of a file name (yyyymmdd / yymmdd joined by - or _, or SNAP ddMonyyyy)."""
    m = PAIR_NAME_RE.search(p.name)
    if m is not None and len(m.group(1)) == len(m.group(2)):
        return check_dates(p, m.group(1), m.group(2), what="file name")
    s = SNAP_PAIR_RE.search(p.name)
    if s is not None:
        d = []
        for dd, mon, yyyy in ((s.group(1), s.group(2), s.group(3)), (s.group(4), s.group(5), s.group(6))):
            try:
                month = month_number(mon)
            except ValueError:
                return None
            d.append(f"{yyyy}{month:02d}{dd}")
        return check_dates(p, d[0], d[1], what="file name")
    return None


def list_folder(folder: Path) -> list[Path]:
    """The entries of ``folder``, sorted; InputError naming it if it cannot be listed.

    An entry whose name is not valid UTF-8 (on POSIX, undecodable bytes come back as surrogate
    escapes) is never skipped silently: a folder, or a name with a date (six digits in a row), may be
    a pair, so the input is refused with an InputError (GDAL cannot open such a path, and its name
    could not go into the run's UTF-8 tables and logs); any other such entry is left out with a warning.
    """
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise InputError(folder, f"cannot list folder ({exc.strerror})") from None
    odd = [p for p in entries if not is_utf8(p.name)]
    utf8_names(folder, [p for p in odd if p.is_dir() or re.search(r"\d{6}", p.name)])
    for p in odd:
        log.warning("%s: ignoring %s, its name is not valid UTF-8", shown(folder), shown(p.name))
    return [p for p in entries if is_utf8(p.name)]


def utf8_names(folder: Path, paths: list[Path]) -> list[Path]:
    """``paths`` (entries of ``folder``); InputError naming the first whose name is not valid UTF-8."""
    for p in paths:
        if not is_utf8(p.name):
            raise InputError(folder, f"the name {shown(p.name)} of an entry is not valid UTF-8; rename it "
                             "(e.g. with convmv) or move it out of this folder")
    return paths


def is_utf8(text: str) -> bool:
    """False for a file name with undecodable bytes (surrogate escapes of :func:`os.fsdecode`)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(name: str | Path) -> str:
    """A printable form of a file name: itself if valid UTF-8, else the repr of its bytes."""
    text = str(name)
    return text if is_utf8(text) else repr(os.fsencode(text))


def check_utf8_path(path: Path) -> None:
    """InputError unless ``path`` is valid UTF-8 (GDAL/rasterio cannot open other paths)."""
    if not is_utf8(str(path)):
        raise InputError(None, f"input path {shown(path)} is not valid UTF-8; GDAL cannot open it: rename it "
                         "(e.g. with convmv) or give a symbolic link with a UTF-8 name")


def unique_dirs(dirs: Iterable[Path]) -> list[Path]:
    """The existing folders of ``dirs``, in order, each once (compared after resolving links)."""
    out: list[Path] = []
    seen: set[Path] = set()
    for d in dirs:
        try:
            r = d.resolve()
        except OSError:
            continue
        if r not in seen and d.is_dir():
            seen.add(r)
            out.append(d)
    return out


def first_file(dirs: Iterable[Path], name: str) -> Path | None:
    """``d / name`` for the first folder ``d`` of ``dirs`` holding such a file."""
    for d in dirs:
        p = d / name
        if p.is_file():
            return p
    return None
