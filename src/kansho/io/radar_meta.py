"""Radar metadata and baselines beside the interferograms of an input folder.

Radar metadata come, in this order of precedence, from ``metadata.txt`` (``key=value``), the
GeoTIFF tags of the first interferogram (e.g. ``WAVELENGTH_METRES``, ``INCIDENCE_DEGREES``), and
GAMMA ``*.par`` headers found in the folder, ``headers/`` beside it or ``headers/`` inside it
(``radar_frequency``, ``heading``, ``incidence_angle``, ``center_time``); for ENVI/ROI_PAC inputs
the ``.rsc`` keys (``WAVELENGTH``) come as the tags.

The wavelength (m) is taken from the first source that has one (a ``wavelength`` key, else a
``radar_frequency`` in Hz, MHz or GHz). A value that is not a number, or not a plausible radar
wavelength (0.005-1 m; a value like 23.6 or 5.55 is in centimetres), is refused naming the file
and the field. Nothing is guessed, except for an unambiguous Sentinel-1 frame (a LiCSAR frame id
in ``metadata.txt`` or in the file names, or Sentinel-1 named in the metadata), which gets
Sentinel-1's C band (so does the LiCSAR GEOC layout itself: :func:`kansho.io.inputs.discover_inputs`);
otherwise the wavelength is left unknown (``None``) and the chain asks for it (:func:`resolve_wavelength`).
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kansho._constants import SPEED_OF_LIGHT
from kansho.errors import InputError
from kansho.io.pairnames import date_int, first_file, is_date_token, unique_dirs

log = logging.getLogger(__name__)

__all__ = ["S1_WAVELENGTH_M", "WAVELENGTH_RANGE_M", "RadarInfo", "los_from_angles", "read_baselines",
           "read_metadata_txt", "read_radar_info", "resolve_wavelength", "wavelength_from_frequency",
           "wavelength_problem"]

S1_WAVELENGTH_M = 0.05546576  # Sentinel-1 C band, c / 5.405 GHz
#: plausible radar wavelengths (m): Ka band (8 mm) to P band (0.7 m), with a margin
WAVELENGTH_RANGE_M = (0.005, 1.0)
#: wavelengths from this (m) up are L band (ALOS, NISAR L); Sentinel-1 is 0.055, S band 0.094
L_BAND_MIN_M = 0.15
#: a LiCSAR frame id, e.g. 124D_04854_171313 (track, orbit direction, burst ids)
_FRAME_RE = re.compile(r"(?<![0-9A-Za-z])(\d{3}[AD]_\d{5}_\d{6})(?![0-9])")
_S1_RE = re.compile(r"^\s*(sentinel[-_ ]?1|s1[abcd]?\b)", re.IGNORECASE)
_HOW = "give it, e.g. --wavelength 0.2362 (m; ALOS-2 L band) or --freq 1.2575e9 (Hz)"


@dataclass(frozen=True)
class RadarInfo:
    """What :func:`read_radar_info` found: the ``metadata`` entries of an :class:`~kansho.io.inputset.InputSet`
    (in their order of insertion), the wavelength (m) and the angles (degrees) when known."""

    metadata: dict[str, object]
    #: None when no source gives it (and the input is not an unambiguous Sentinel-1 frame)
    wavelength: float | None
    wavelength_source: str
    incidence_deg: float | None
    heading_deg: float | None


def read_radar_info(root: Path, search_dirs: Sequence[Path], tags: dict[str, str],
                    tags_file: Path | None = None) -> RadarInfo:
    """Radar metadata of the interferograms in ``root``: ``metadata.txt`` (first of ``search_dirs``),
    the ``tags`` of the first interferogram (GeoTIFF tags or ``.rsc`` keys, read from ``tags_file``),
    and a GAMMA header near ``root``. Raises :class:`InputError` naming the file and field of an
    invalid wavelength or frequency."""
    metadata: dict[str, object] = {}
    mtxt = first_file(search_dirs, "metadata.txt")
    meta_txt = read_metadata_txt(mtxt) if mtxt is not None else {}
    if mtxt is not None:
        metadata["metadata_txt"] = meta_txt
        metadata["metadata_file"] = str(mtxt)
    if tags:
        metadata["tags"] = tags
    header_file, header = _read_gamma_header(
        unique_dirs([root, root / "headers", root.parent / "headers", root / "metadata"])
    )
    if header_file is not None:
        metadata["header_file"] = str(header_file)

    tags_label = ".rsc header" if tags_file is not None and tags_file.suffix == ".rsc" else "GeoTIFF tags"
    wavelength, source = _wavelength([("metadata.txt", mtxt, meta_txt), (tags_label, tags_file or root, tags),
                                      ("GAMMA header", header_file or root, header)])
    if wavelength is None:
        s1 = _sentinel1_evidence(meta_txt, tags, header, [root, *search_dirs])
        if s1 is not None:
            wavelength, source = S1_WAVELENGTH_M, f"Sentinel-1 C band ({s1})"
    metadata["wavelength_source"] = source
    if wavelength is not None:
        metadata["radar_frequency_hz"] = SPEED_OF_LIGHT / wavelength
    incidence, heading = _angles(meta_txt, tags, header)
    if incidence is not None:
        metadata["incidence_deg"] = incidence
    if heading is not None:
        metadata["heading_deg"] = heading
    center_time = _center_time(meta_txt, tags, header)
    if center_time is not None:
        metadata["center_time"] = center_time
    processor = tags.get("insar_processor") or meta_txt.get("processor")
    if processor:
        metadata["processor"] = processor
    return RadarInfo(metadata, wavelength, source, incidence, heading)


def read_metadata_txt(path: str | Path) -> dict[str, str]:
    """Read a LiCSAR ``metadata.txt`` (``key=value`` per line; ``key: value`` also accepted).

    Returns ``key → value`` strings with lower-case keys; blank and ``#`` lines are skipped.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror})") from None
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z_][\w.\-]*)\s*[=:]\s*(.*)$", line)
        if m:
            out[m.group(1).lower()] = m.group(2).strip()
    return out


def read_baselines(path: str | Path) -> dict[int, float]:
    """Perpendicular baseline (m) per epoch from a ``baselines`` file.

    Accepted line forms (whitespace or comma separated, ``#`` comments ignored):

    - LiCSAR ``refdate date bperp btemp`` and ``refdate date bperp``: values are relative to the
      reference date, which gets 0;
    - the older 9-column ``num date1 date2 bp dt dt1 dt2 bp1 bp2`` (per-epoch ``bp1``, ``bp2``);
    - ``date1_date2 bperp [...]`` or ``date1 date2 bperp`` with varying first dates: per-pair
      baselines, turned into per-epoch values by least squares with the first epoch at 0;
    - ``date bperp``: per-epoch values as given.

    A file missing its B⊥ column (a known LiCSAR portal defect) is read with a warning naming the
    file, and its epochs get no baseline (NaN downstream): lines ``refdate date`` with nothing
    after the dates, or a file whose every line is ``refdate date value`` with ``value`` the days
    between the two dates (that is ``btemp``, not ``bperp``).

    Raises :class:`InputError` naming the file and the line for a line that fits none of these.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(path, f"cannot read baselines ({exc.strerror})") from None

    per_epoch: dict[int, float] = {}
    triples: list[tuple[int, int, float]] = []
    no_bperp = short = 0  # lines with two dates only; 'date date value' lines
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        toks = line.replace(",", " ").split()
        try:
            if len(toks) == 2 and is_date_token(toks[0]) and is_date_token(toks[1]):
                date_int(toks[0]), date_int(toks[1])
                no_bperp += 1
                continue
            short += len(toks) == 3 and is_date_token(toks[0]) and is_date_token(toks[1])
            _baselines_line(toks, per_epoch, triples)
        except ValueError as exc:
            raise InputError(path, f"line {lineno} is not a baselines line ({exc}): {line[:60]!r}") from None

    if triples and short == len(triples) and _values_are_btemp(triples):
        no_bperp, triples = no_bperp + len(triples), []
    if no_bperp:
        log.warning("%s: %d line(s) without a perpendicular baseline (B⊥) column: those epochs have no "
                    "B⊥ (a LiCSAR portal defect; only the network figures and tables use it)", path, no_bperp)
    if triples:
        refs = {t[0] for t in triples}
        if len(refs) == 1:  # single reference (LiCSAR): values are already per epoch
            ref = next(iter(refs))
            per_epoch.setdefault(ref, 0.0)
            for _, d2, bp in triples:
                per_epoch[d2] = bp
        else:
            per_epoch.update(_bperp_from_pairs(triples))
    return dict(sorted(per_epoch.items()))


def _values_are_btemp(triples: Sequence[tuple[int, int, float]]) -> bool:
    """True when every value is the whole number of days from the first date to the second (not all 0)."""
    def days(a: int, b: int) -> int:
        return (_dt.date(b // 10000, b // 100 % 100, b % 100) - _dt.date(a // 10000, a // 100 % 100, a % 100)).days

    return any(v != 0 for _a, _b, v in triples) and all(v == days(a, b) for a, b, v in triples)


def _baselines_line(toks: list[str], per_epoch: dict[int, float], triples: list[tuple[int, int, float]]) -> None:
    """Add one line's values to ``per_epoch`` or ``triples``; ValueError if it fits no known form."""
    if len(toks) >= 9 and not is_date_token(toks[0]) and is_date_token(toks[1]) and is_date_token(toks[2]):
        d1, d2 = date_int(toks[1]), date_int(toks[2])
        per_epoch[d1] = float(toks[7])
        per_epoch[d2] = float(toks[8])
    elif len(toks) >= 2 and re.fullmatch(r"\d{8}_\d{8}", toks[0]):
        a, b = toks[0].split("_")
        triples.append((date_int(a), date_int(b), float(toks[1])))
    elif len(toks) >= 3 and is_date_token(toks[0]) and is_date_token(toks[1]):
        triples.append((date_int(toks[0]), date_int(toks[1]), float(toks[2])))
    elif len(toks) == 2 and is_date_token(toks[0]):
        per_epoch[date_int(toks[0])] = float(toks[1])
    else:
        raise ValueError("unrecognised columns")


def _bperp_from_pairs(triples: Sequence[tuple[int, int, float]]) -> dict[int, float]:
    """Per-epoch baselines from per-pair ones (bp(d2) − bp(d1)), first epoch fixed at 0."""
    epochs = sorted({d for t in triples for d in t[:2]})
    idx = {d: i for i, d in enumerate(epochs)}
    a = np.zeros((len(triples) + 1, len(epochs)))
    b = np.zeros(len(triples) + 1)
    for r, (d1, d2, bp) in enumerate(triples):
        a[r, idx[d1]] = -1.0
        a[r, idx[d2]] = 1.0
        b[r] = bp
    a[-1, 0] = 1.0  # anchor: first epoch at 0
    x, *_ = np.linalg.lstsq(a, b, rcond=None)
    return {d: float(x[i]) for d, i in idx.items()}


def los_from_angles(incidence_deg: float, heading_deg: float | None) -> dict[str, float]:
    """LOS unit vector (ground → satellite, east/north/up) of a right-looking SAR.

    ``heading_deg`` is the azimuth of the flight direction, clockwise from north (about −10° for
    ascending and −170° (190°) for descending Sentinel-1 tracks). With incidence θ and heading α:
    E = −sin θ cos α, N = sin θ sin α, U = cos θ. Without a heading only ``"U"`` is returned.
    """
    inc = math.radians(incidence_deg)
    out = {"U": math.cos(inc)}
    if heading_deg is not None:
        head = math.radians(heading_deg)
        out["E"] = -math.sin(inc) * math.cos(head)
        out["N"] = math.sin(inc) * math.sin(head)
    return out


def _read_gamma_header(dirs: Iterable[Path]) -> tuple[Path | None, dict[str, str]]:
    """The first GAMMA image parameter file (``*mli.par`` preferred, then ``*slc.par``)."""
    cands: list[Path] = []
    for d in dirs:
        pars = [p for p in d.glob("*.par") if p.is_file()]
        pars.sort(key=lambda p: (not p.name.endswith("mli.par"), not p.name.endswith("slc.par"), p.name))
        cands.extend(pars)
    for p in cands:
        try:
            text = p.read_text(errors="replace")[:20000]
        except OSError:
            continue
        vals: dict[str, str] = {}
        for line in text.splitlines():
            m = re.match(r"^\s*([A-Za-z_][\w]*)\s*:\s*(.*)$", line)
            if m:
                vals[m.group(1).lower()] = m.group(2).strip()
        if "radar_frequency" in vals or "heading" in vals:
            return p, vals
    return None, {}


def _first_float(d: Mapping[str, str], keys: Sequence[str]) -> float | None:
    for k in keys:
        if k in d:
            m = re.match(r"^\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)", str(d[k]))
            if m:
                v = float(m.group(1))
                if math.isfinite(v):
                    return v
    return None


def wavelength_problem(wavelength: float) -> str | None:
    """Why ``wavelength`` (m) is not a plausible radar wavelength, in a few words; None when it is."""
    lo, hi = WAVELENGTH_RANGE_M
    if not math.isfinite(wavelength) or wavelength <= 0:
        return f"wavelength {wavelength:g} is not a positive length in metres"
    if 1.0 < wavelength <= 100.0:
        return (f"wavelength {wavelength:g} looks like centimetres: give metres "
                f"({wavelength:g} cm = {wavelength / 100:g} m)")
    if wavelength >= 1e6:
        return f"wavelength {wavelength:g} looks like a frequency in Hz: give it as the frequency, not the wavelength"
    if not lo <= wavelength <= hi:
        return f"wavelength {wavelength:g} m is outside the radar bands ({lo:g}-{hi:g} m)"
    return None


def wavelength_from_frequency(freq: float) -> float:
    """Wavelength (m) of a radar frequency given in Hz (>= 1e6), MHz (>= 1e3, as SNAP writes it) or GHz.

    Raises :class:`ValueError` with a few words for a value that is not positive or gives no
    plausible radar wavelength."""
    if not math.isfinite(freq) or freq <= 0:
        raise ValueError(f"frequency {freq:g} is not positive")
    hz = freq * 1e9 if freq < 1e3 else freq * 1e6 if freq < 1e6 else freq
    wl = SPEED_OF_LIGHT / hz
    lo, hi = WAVELENGTH_RANGE_M
    if not lo <= wl <= hi:
        raise ValueError(f"frequency {freq:g} (read as {hz:.6g} Hz) gives a wavelength of {wl:.3g} m, "
                         f"outside the radar bands ({lo:g}-{hi:g} m)")
    return wl


_WL_KEYS = ("wavelength", "wavelength_metres", "wavelength_meters", "wavelength_m", "radar_wavelength")
_F_KEYS = ("radar_frequency", "radar_frequency_hz", "frequency", "carrier_frequency")


def _number(raw: str, path: Path, key: str) -> float:
    """The number at the start of a header value (``5.405e9 Hz``); InputError naming file and field if none."""
    tok = str(raw).strip().split()[0] if str(raw).strip() else ""
    try:
        return float(tok)
    except ValueError:
        raise InputError(path, f"{key} {str(raw)[:40]!r} is not a number; fix the file or {_HOW}") from None


def _wavelength(sources: Sequence[tuple[str, Path | None, Mapping[str, str]]]) -> tuple[float | None, str]:
    """(wavelength in m, where it came from) from the first ``(label, file, values)`` holding a wavelength
    or frequency key; (None, "unknown") when none does. An invalid value is an InputError naming file and field."""
    for label, path, d in sources:
        if path is None or not d:
            continue
        for key in _WL_KEYS:
            if key in d:
                wl = _number(d[key], path, key)
                problem = wavelength_problem(wl)
                if problem is not None:
                    raise InputError(path, f"{key}: {problem}; fix the file or {_HOW}")
                return wl, f"{label} wavelength"
        for key in _F_KEYS:
            if key in d:
                try:
                    return wavelength_from_frequency(_number(d[key], path, key)), f"{label} radar_frequency"
                except ValueError as exc:
                    raise InputError(path, f"{key}: {exc}; fix the file or {_HOW}") from None
    return None, "unknown"


def _sentinel1_evidence(meta_txt: Mapping[str, str], tags: Mapping[str, str], header: Mapping[str, str],
                        dirs: Sequence[Path]) -> str | None:
    """What shows the input is a Sentinel-1 frame (a few words), or None: a LiCSAR frame id in
    ``metadata.txt``, Sentinel-1 named as the platform/sensor, or a frame id in a file or folder name."""
    m = _FRAME_RE.search(str(meta_txt.get("frame", "")))
    if m:
        return f"LiCSAR frame {m.group(1)} in metadata.txt"
    for d in (meta_txt, tags, header):
        for key in ("platform", "mission", "sensor", "spacecraft", "satellite", "sensor_name", "mission_id"):
            if _S1_RE.match(str(d.get(key, ""))):
                return f"{key} {str(d[key]).split()[0]}"
    for folder in dirs:
        for name in [folder.name, *_names(folder)]:
            m = _FRAME_RE.search(name)
            if m:
                return f"LiCSAR frame {m.group(1)} in the name {name}"
    return None


def _names(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as it:
            return sorted(e.name for e in it)
    except OSError:
        return []


def resolve_wavelength(found: float | None, source: str, where: Path, given: float | None, band: str) -> float:
    """The wavelength (m) a run uses: ``given`` (``--wavelength``/``--freq``) over ``found`` (the input's).

    Warns when both are known and differ by more than 0.5 %, and when the wavelength and ``band``
    (the thresholds' defaults) disagree. Raises :class:`InputError` naming ``where`` when neither is
    known, and for ``band == "L"`` when the input only implies Sentinel-1 (nothing is guessed then).
    """
    if given is not None:
        if found is not None and abs(given - found) > 0.005 * found:
            log.warning("%s: the wavelength given (%.6g m) overrides the input's %.6g m (%s)", where, given, found,
                        source)
        wl = given
    elif found is None:
        raise InputError(where, f"no radar wavelength in the input (metadata.txt, GeoTIFF tags, .par/.rsc headers) "
                                f"and it is not a Sentinel-1 frame: {_HOW}")
    elif band == "L" and source.startswith("Sentinel-1 C band"):
        raise InputError(where, f"--band L, but the input gives no wavelength (only that it looks like a Sentinel-1 "
                                f"frame, C band): {_HOW}")
    else:
        wl = found
    if band != "L" and wl >= L_BAND_MIN_M:
        log.warning("%s: the wavelength %.4g m is L band, but the thresholds are the C-band defaults: "
                    "add --band L for the L-band ones", where, wl)
    elif band == "L" and wl < L_BAND_MIN_M:
        log.warning("%s: --band L (L-band thresholds), but the wavelength %.4g m is not L band", where, wl)
    return wl


def _angles(
    meta_txt: dict[str, str], tags: dict[str, str], header: dict[str, str]
) -> tuple[float | None, float | None]:
    """(incidence, heading) in degrees, each from the first source that has it."""
    incidence = (
        _first_float(meta_txt, ("avg_incidence_angle", "incidence_angle", "incidence"))
        or _first_float(tags, ("incidence_degrees", "incidence_angle", "incidence", "avg_incidence_angle"))
        or _first_float(header, ("incidence_angle",))
    )
    heading = _first_float(meta_txt, ("heading",))
    if heading is None:
        heading = _first_float(tags, ("heading", "heading_degrees", "heading_deg", "platform_heading"))
    if heading is None:
        heading = _first_float(header, ("heading",))
    return incidence, heading


def _center_time(meta_txt: dict[str, str], tags: dict[str, str], header: dict[str, str]) -> str | None:
    t = meta_txt.get("center_time") or tags.get("center_time") or tags.get("first_time")
    if t:
        return t
    raw = header.get("center_time", "")
    if ":" in raw:  # already "H:MM:SS.ssss" (LiCSBAS's slc.mli.par)
        return raw.split()[0]
    secs = _first_float(header, ("center_time",))
    if secs is not None:
        return str(_dt.timedelta(seconds=round(secs, 6)))
    return None
