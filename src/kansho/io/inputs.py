"""Discover and validate an input folder of unwrapped interferograms.

Two layouts are recognised from the folder's contents:

``licsar``
    The LiCSAR GEOC layout (Lazecký et al. 2020) that LiCSBAS reads::

        GEOC/yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.geo.unw.tif   (radians, 0/NaN = no data)
        GEOC/yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.geo.cc.tif    (coherence, required)
        GEOC/<frame>.geo.E.tif .N.tif .U.tif .hgt.tif          (optional; also in GEOC/.. or metadata/)
        GEOC/baselines, GEOC/metadata.txt                      (optional)

    The folder may be given as ``GEOC`` itself or as its parent.

``licsbas_geoc``
    LiCSBAS's prepared folder ``GEOCml*/yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.unw`` and ``.cc`` flat
    binaries with ``slc.mli.par`` and ``EQA.dem_par`` (see :mod:`kansho.io.licsbas_geoc`); the
    folder may be given as ``GEOCml*`` itself or as its parent (holding exactly one).

``envi``
    A flat folder of headed binaries (ENVI ``.hdr`` or ROI_PAC ``.rsc``, see
    :mod:`kansho.io.envi`) whose names carry the two dates (``yyyymmdd``/``yymmdd`` joined by
    ``-``/``_``, or SNAP's ``17Mar2017_10Apr2017``), classified by name tokens as for
    ``geotiff_pairs``; e.g. SNAP's ``Unw_Phase_ifg_17Mar2017_10Apr2017_VV.img`` + ``.hdr`` with
    ``coh_IW2_VV_17Mar2017_10Apr2017.img``, or ROI_PAC ``20170317-20170410.unw`` + ``.unw.rsc``.

``geotiff_pairs``
    A flat folder of GeoTIFFs whose names carry the two dates (``yyyymmdd`` or ``yymmdd``, joined
    by ``-`` or ``_``), e.g. GAMMA/PyRate products ``cropA_20180106-20180130_VV_8rlks_eqa_unw.tif``
    with ``cropA_20180106-20180130_VV_8rlks_flat_eqa_cc.tif``. Files are classified from the tokens
    of their names: ``unw`` → unwrapped phase; ``cc``/``coh``/``cor`` → coherence; ``dem``/``hgt``
    (without dates) → height. Coherence may be absent for *every* pair, never for only some.

Radar metadata come, in this order of precedence, from ``metadata.txt`` (``key=value``), the
GeoTIFF tags of the first interferogram (e.g. ``WAVELENGTH_METRES``, ``INCIDENCE_DEGREES``), and
GAMMA ``*.par`` headers found in the folder, ``headers/`` beside it or ``headers/`` inside it
(``radar_frequency``, ``heading``, ``incidence_angle``, ``center_time``). The wavelength defaults
to Sentinel-1 C band.

:func:`discover_inputs` only looks at names (and reads the first interferogram's header for the
grid and tags); :func:`validate_inputs` opens every file. Both raise
:class:`~kansho.errors.InputError` with a one-line message that names the file or folder at fault.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from kansho._dates import parse_date
from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.envi import BinarySpec, check_size, find_header, open_headed
from kansho.io.licsbas_geoc import (
    GEOMETRY_FILES,
    geocml_cc_spec,
    geocml_float_spec,
    geocml_grid,
    is_geocml,
)

log = logging.getLogger(__name__)

__all__ = [
    "LAYOUT_ENVI",
    "LAYOUT_GEOTIFF_PAIRS",
    "LAYOUT_LICSAR",
    "LAYOUT_LICSBAS_GEOC",
    "S1_WAVELENGTH_M",
    "InputSet",
    "PairFiles",
    "discover_inputs",
    "los_from_angles",
    "read_baselines",
    "read_metadata_txt",
    "validate_inputs",
]

LAYOUT_LICSAR = "licsar"
LAYOUT_GEOTIFF_PAIRS = "geotiff_pairs"
LAYOUT_LICSBAS_GEOC = "licsbas_geoc"
LAYOUT_ENVI = "envi"

SPEED_OF_LIGHT = 299_792_458.0  # m/s
S1_WAVELENGTH_M = 0.05546576  # Sentinel-1 C band, c / 5.405 GHz
GEOMETRY_KEYS = ("E", "N", "U", "hgt")

_PAIR_DIR_RE = re.compile(r"^(\d{8})_(\d{8})$")
_PAIR_NAME_RE = re.compile(r"(?<!\d)(\d{8}|\d{6})[-_](\d{8}|\d{6})(?!\d)")
_TIF_SUFFIXES = (".tif", ".tiff")
_SNAP_PAIR_RE = re.compile(r"(?<![0-9A-Za-z])(\d{2})([A-Za-z]{3})(\d{4})[-_](\d{2})([A-Za-z]{3})(\d{4})(?![0-9])")
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                        "dec"), start=1)}
_HEADER_SUFFIXES = (".hdr", ".rsc", ".xml", ".vrt", ".aux", ".par", ".txt", ".json", ".png", ".jpg", ".kml")
_UNW_TOKENS = {"unw", "unwrapped", "unwrap"}
_CC_TOKENS = {"cc", "coh", "cor", "corr", "coherence"}


# --------------------------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, order=True)
class PairFiles:
    """The files of one interferogram. Ordering is by ``(date1, date2)``.

    ``unw_spec``/``cc_spec`` say how to read a flat binary file (``None``: a GeoTIFF).
    """

    date1: int
    date2: int
    unw: Path = field(compare=False)
    cc: Path | None = field(default=None, compare=False)
    unw_spec: BinarySpec | None = field(default=None, compare=False)
    cc_spec: BinarySpec | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        """``"yyyymmdd_yyyymmdd"`` (LiCSBAS's ifgdate string)."""
        return f"{self.date1}_{self.date2}"


@dataclass
class InputSet:
    """What :func:`discover_inputs` found in an input folder.

    Attributes
    ----------
    layout:
        ``"licsar"``, ``"geotiff_pairs"``, ``"licsbas_geoc"`` or ``"envi"``.
    root:
        The folder holding the interferograms (the ``GEOC`` folder for the LiCSAR layout).
    pairs:
        One :class:`PairFiles` per interferogram, sorted by ``(date1, date2)``.
    grid:
        The grid of the first unwrapped interferogram; every raster must share it.
    geometry:
        ``{"E", "N", "U", "hgt"} → Path | None``: per-pixel LOS unit-vector components (ground →
        satellite) and the DEM (m).
    wavelength:
        Radar wavelength in metres.
    metadata:
        Everything else that was read, with normalised keys where known: ``wavelength_source``,
        ``incidence_deg``, ``heading_deg``, ``center_time`` (``"HH:MM:SS"``), ``radar_frequency_hz``,
        ``processor``, ``metadata_txt`` (raw ``key → str`` of metadata.txt), ``tags`` (GeoTIFF tags
        of the first interferogram), ``header_file``, ``baselines_file``.
    bperp:
        Perpendicular baseline (m) per epoch, relative to the baselines file's reference date (or
        to the first epoch when the file lists per-pair baselines). Empty without a baselines file;
        epochs missing from the file are absent.
    epochs:
        Sorted unique dates (int yyyymmdd) of all pairs, shape (n_epoch,).
    los:
        A constant LOS unit vector ``{"E", "N", "U"} → float`` computed from the incidence angle
        and heading when per-pixel E/N/U files are missing (only ``"U"`` when the heading is
        unknown); empty when files provide the geometry or nothing is known.
    geometry_specs:
        ``key → BinarySpec`` for geometry files that are flat binaries (LiCSBAS ``E.geo`` ...).
    """

    layout: str
    root: Path
    pairs: list[PairFiles]
    grid: Grid
    geometry: dict[str, Path | None]
    wavelength: float
    metadata: dict[str, object]
    bperp: dict[int, float]
    epochs: npt.NDArray[np.int64]
    los: dict[str, float] = field(default_factory=dict)
    geometry_specs: dict[str, BinarySpec] = field(default_factory=dict)

    def spec_of(self, path: Path) -> BinarySpec | None:
        """How to read ``path`` if it is a flat binary of this set (``None``: a GeoTIFF)."""
        for p in self.pairs:
            if p.unw == path:
                return p.unw_spec
            if p.cc == path:
                return p.cc_spec
        for k, v in self.geometry.items():
            if v == path:
                return self.geometry_specs.get(k)
        return None

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    @property
    def n_epochs(self) -> int:
        return int(self.epochs.size)

    @property
    def ifgdates(self) -> list[str]:
        """``["yyyymmdd_yyyymmdd", ...]`` in pair order."""
        return [p.name for p in self.pairs]

    @property
    def has_coherence(self) -> bool:
        return bool(self.pairs) and all(p.cc is not None for p in self.pairs)

    def files(self) -> list[Path]:
        """Every raster of the set: unw and cc of each pair, then the geometry files present."""
        out: list[Path] = []
        for p in self.pairs:
            out.append(p.unw)
            if p.cc is not None:
                out.append(p.cc)
        out.extend(v for v in self.geometry.values() if v is not None)
        return out


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------
def discover_inputs(path: str | Path) -> InputSet:
    """Find the interferograms, coherence, geometry and metadata in ``path``.

    ``path`` is a LiCSAR ``GEOC`` folder, its parent (holding ``GEOC/``), or a flat folder of
    date-named GeoTIFF pairs (see the module docstring). Only names are checked here, plus the
    header of the first interferogram (grid, tags); :func:`validate_inputs` opens every file.

    Raises :class:`InputError` for: a missing folder; no pairs; a LiCSAR pair folder lacking its
    unw or cc file; a GeoTIFF pair lacking coherence while others have it; an invalid calendar
    date, reversed dates (date1 >= date2) or the same pair twice in file or folder names.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise InputError(folder, "input folder not found")
    if not folder.is_dir():
        raise InputError(folder, "not a folder (expected a GEOC folder or a folder of GeoTIFF pairs)")

    root = folder
    geocml = _geocml_folder(folder)
    pair_dirs = [] if geocml is not None else _licsar_pair_dirs(root)
    if geocml is None and not pair_dirs and (folder / "GEOC").is_dir():
        root = folder / "GEOC"
        pair_dirs = _licsar_pair_dirs(root)
    grid: Grid | None = None
    geometry_specs: dict[str, BinarySpec] = {}

    if geocml is not None:
        layout = LAYOUT_LICSBAS_GEOC
        root = geocml
        grid, _ = geocml_grid(root)
        pairs = _geocml_pairs(root, grid)
    elif pair_dirs:
        layout = LAYOUT_LICSAR
        pairs = _licsar_pairs(pair_dirs)
    else:
        flat = _flat_pairs(folder)
        if flat is None and root is not folder:
            flat = _flat_pairs(root)
            folder = root
        layout = LAYOUT_GEOTIFF_PAIRS
        if flat is None:
            flat = _flat_binary_pairs(folder)
            layout = LAYOUT_ENVI
        if flat is None:
            raise InputError(
                folder,
                "no interferogram pairs found (expected yyyymmdd_yyyymmdd/ folders with "
                "*.geo.unw.tif or *.unw (LiCSBAS GEOCml), or GeoTIFFs / headed binaries with two dates "
                "and 'unw' in their names)",
            )
        root = folder
        pairs = flat

    if layout == LAYOUT_LICSBAS_GEOC:
        assert grid is not None
        search_dirs = _unique_dirs([root, root.parent, root.parent / "metadata"])
        geometry = dict.fromkeys(GEOMETRY_KEYS)
        for key, fname in GEOMETRY_FILES.items():
            if (root / fname).is_file():
                geometry[key] = root / fname
                geometry_specs[key] = geocml_float_spec(grid)
    elif layout == LAYOUT_LICSAR:  # LiCSAR/LiCSBAS keep these in GEOC/, its parent or metadata/
        search_dirs = _unique_dirs([root, root / "metadata", root.parent, root.parent / "metadata"])
        geometry = _find_geometry(search_dirs)
    else:  # a flat folder: only the folder itself (and its metadata/, geometry/ siblings)
        search_dirs = _unique_dirs([root, root / "metadata", root.parent / "metadata"])
        geometry = _find_geometry([root, root.parent / "geometry"])
    if layout == LAYOUT_ENVI:
        _, g0, _, hdr0 = open_headed(pairs[0].unw)
        if g0 is None:
            raise InputError(hdr0, "not geocoded: the header has no map info / X_FIRST (need a lon/lat grid)")
        grid, tags = g0, {}
    elif grid is None:
        grid, tags = _grid_and_tags(pairs[0].unw)
    else:
        tags = {}

    metadata: dict[str, object] = {}
    mtxt = _first_file(search_dirs, "metadata.txt")
    meta_txt = read_metadata_txt(mtxt) if mtxt is not None else {}
    if mtxt is not None:
        metadata["metadata_txt"] = meta_txt
        metadata["metadata_file"] = str(mtxt)
    if tags:
        metadata["tags"] = tags
    header_file, header = _read_gamma_header(
        _unique_dirs([root, root / "headers", root.parent / "headers", root / "metadata"])
    )
    if header_file is not None:
        metadata["header_file"] = str(header_file)

    wavelength, source = _wavelength(meta_txt, tags, header)
    metadata["wavelength_source"] = source
    freq = _first_float(meta_txt, ("radar_frequency",)) or _first_float(header, ("radar_frequency",))
    if freq is not None:
        metadata["radar_frequency_hz"] = _as_hz(freq)
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

    los: dict[str, float] = {}
    if not all(geometry[k] is not None for k in ("E", "N", "U")) and incidence is not None:
        los = los_from_angles(incidence, heading)
        if heading is None:
            log.warning(
                "%s: no per-pixel E/N/U files and no heading known; LOS U = cos(incidence) only, E/N missing",
                root,
            )

    bperp: dict[int, float] = {}
    bfile = _first_file(search_dirs, "baselines")
    if bfile is not None:
        bperp = read_baselines(bfile)
        metadata["baselines_file"] = str(bfile)

    epochs = np.unique(np.array([d for p in pairs for d in (p.date1, p.date2)], dtype=np.int64))
    missing_bp = [int(e) for e in epochs if bperp and int(e) not in bperp]
    if missing_bp:
        log.warning("%s: no perpendicular baseline for %d epoch(s), e.g. %s", bfile, len(missing_bp), missing_bp[0])

    inputs = InputSet(
        layout=layout,
        root=root,
        pairs=pairs,
        grid=grid,
        geometry=geometry,
        wavelength=wavelength,
        metadata=metadata,
        bperp=bperp,
        epochs=epochs,
        los=los,
        geometry_specs=geometry_specs,
    )
    log.info(
        "%s: %s layout, %d pairs, %d epochs (%d-%d), grid %dx%d, wavelength %.5f m (%s)",
        root,
        layout,
        inputs.n_pairs,
        inputs.n_epochs,
        int(epochs[0]),
        int(epochs[-1]),
        grid.width,
        grid.height,
        wavelength,
        source,
    )
    return inputs


def validate_inputs(
    inputset: InputSet, check_grids: bool = True, *, check_files: bool = True, workers: int = 8
) -> None:
    """Check that an :class:`InputSet` can be processed; raise :class:`InputError` if not.

    - the network has at least 2 pairs and 3 epochs;
    - (``check_files``) every unw, cc and geometry file opens as a GeoTIFF, is georeferenced and
      is not truncated (its last row is read: cheap, and the end of the file is what a cut
      download loses);
    - (``check_grids``) every raster has the first interferogram's size, geotransform and CRS;
      the message names both files.

    Files are checked in parallel threads; the first fault in pair order is reported.
    """
    if inputset.n_pairs < 2 or inputset.n_epochs < 3:
        raise InputError(
            inputset.root,
            f"network too small to invert: {inputset.n_pairs} pair(s) and {inputset.n_epochs} epoch(s) "
            "(need at least 2 pairs and 3 epochs)",
        )
    if not check_files:
        return
    first = inputset.pairs[0].unw
    ref = _open_check_any(first, inputset)
    ref_grid, ref_crs = ref
    files = inputset.files()[1:]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as ex:
        results = list(ex.map(lambda f: _open_check_safe(f, inputset), files))
    for path, res in zip(files, results, strict=True):
        if isinstance(res, InputError):
            raise res
        if check_grids:
            grid, crs = res
            if not grid.matches(ref_grid):
                raise InputError(
                    path, f"on a different grid than the first interferogram {first} ({_grid_diff(grid, ref_grid)})"
                )
            if crs is not None and ref_crs is not None and crs != ref_crs:
                raise InputError(path, f"CRS {crs} differs from the first interferogram {first} ({ref_crs})")


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

    Raises :class:`InputError` naming the file and the line for a line that fits none of these.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(path, f"cannot read baselines ({exc.strerror})") from None

    per_epoch: dict[int, float] = {}
    triples: list[tuple[int, int, float]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        toks = line.replace(",", " ").split()
        try:
            if len(toks) >= 9 and not _is_date_token(toks[0]) and _is_date_token(toks[1]) and _is_date_token(toks[2]):
                d1, d2 = _date_int(toks[1]), _date_int(toks[2])
                per_epoch[d1] = float(toks[7])
                per_epoch[d2] = float(toks[8])
            elif len(toks) >= 2 and re.fullmatch(r"\d{8}_\d{8}", toks[0]):
                a, b = toks[0].split("_")
                triples.append((_date_int(a), _date_int(b), float(toks[1])))
            elif len(toks) >= 3 and _is_date_token(toks[0]) and _is_date_token(toks[1]):
                triples.append((_date_int(toks[0]), _date_int(toks[1]), float(toks[2])))
            elif len(toks) == 2 and _is_date_token(toks[0]):
                per_epoch[_date_int(toks[0])] = float(toks[1])
            else:
                raise ValueError("unrecognised columns")
        except ValueError as exc:
            raise InputError(path, f"line {lineno} is not a baselines line ({exc}): {line[:60]!r}") from None

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


# --------------------------------------------------------------------------------------------
# Layout detection
# --------------------------------------------------------------------------------------------
def _licsar_pair_dirs(root: Path) -> list[Path]:
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and _PAIR_DIR_RE.match(p.name))
    except OSError as exc:
        raise InputError(root, f"cannot list folder ({exc.strerror})") from None


def _licsar_pairs(pair_dirs: Sequence[Path]) -> list[PairFiles]:
    pairs: list[PairFiles] = []
    for d in pair_dirs:
        m = _PAIR_DIR_RE.match(d.name)
        assert m is not None
        d1, d2 = _check_dates(d, m.group(1), m.group(2), what="folder name")
        name = d.name
        unw = _pick(d, [f"{name}.geo.unw.tif", f"{name}.unw.tif"], "*.geo.unw.tif")
        if unw is None:
            raise InputError(d, f"unwrapped interferogram {name}.geo.unw.tif missing")
        cc = _pick(d, [f"{name}.geo.cc.tif", f"{name}.cc.tif"], "*.geo.cc.tif")
        if cc is None:
            raise InputError(d, f"coherence {name}.geo.cc.tif missing (required for the LiCSAR layout)")
        pairs.append(PairFiles(d1, d2, unw, cc))
    pairs.sort()
    return pairs


def _pick(folder: Path, names: Iterable[str], pattern: str) -> Path | None:
    for n in names:
        p = folder / n
        if p.is_file():
            return p
    found = sorted(p for p in folder.glob(pattern) if p.is_file())
    if len(found) > 1:
        log.warning("%s: several %s files, using %s", folder, pattern, found[0].name)
    return found[0] if found else None


def _flat_pairs(folder: Path) -> list[PairFiles] | None:
    """Date-named unw/cc GeoTIFFs directly in ``folder``; ``None`` if there is no unw file."""
    try:
        tifs = sorted(p for p in folder.iterdir() if p.suffix.lower() in _TIF_SUFFIXES and p.is_file())
    except OSError as exc:
        raise InputError(folder, f"cannot list folder ({exc.strerror})") from None
    unw: dict[tuple[int, int], Path] = {}
    cc: dict[tuple[int, int], Path] = {}
    for p in tifs:
        m = _PAIR_NAME_RE.search(p.name)
        if m is None:
            continue
        kind = _classify(p)
        if kind is None:
            log.debug("%s: neither unw nor coherence by name, ignored", p)
            continue
        if len(m.group(1)) != len(m.group(2)):
            continue
        key = _check_dates(p, m.group(1), m.group(2), what="file name")
        table = unw if kind == "unw" else cc
        if key in table:
            raise InputError(
                p,
                f"duplicate pair {key[0]}_{key[1]}: {table[key].name} has the same dates",
            )
        table[key] = p
    if not unw:
        return None
    orphans = sorted(set(cc) - set(unw))
    if orphans:
        k = orphans[0]
        log.warning("%s: coherence without an unwrapped interferogram, ignored", cc[k])
    if cc:
        lacking = sorted(set(unw) - set(cc))
        if lacking:
            k = lacking[0]
            raise InputError(
                unw[k],
                f"coherence missing for pair {k[0]}_{k[1]} while {len(cc)} other pair(s) have it",
            )
    pairs = [PairFiles(k[0], k[1], unw[k], cc.get(k)) for k in unw]
    pairs.sort()
    if not cc:
        log.warning("%s: no coherence files; coherence-based steps will be skipped", folder)
    return pairs


def _geocml_folder(folder: Path) -> Path | None:
    """``folder`` itself if it is a LiCSBAS GEOCml folder, else its single ``GEOCml*`` child, else None."""
    if is_geocml(folder):
        return folder
    try:
        kids = sorted(d for d in folder.iterdir() if d.is_dir() and d.name.startswith("GEOCml") and is_geocml(d))
    except OSError as exc:
        raise InputError(folder, f"cannot list folder ({exc.strerror})") from None
    if len(kids) > 1:
        raise InputError(folder, f"several LiCSBAS folders ({', '.join(k.name for k in kids)}); give one of them")
    return kids[0] if kids else None


def _geocml_pairs(root: Path, grid: Grid) -> list[PairFiles]:
    """Pairs of a GEOCml folder; each must have ``name.unw`` and ``name.cc`` of the right size."""
    pairs: list[PairFiles] = []
    fspec = geocml_float_spec(grid)
    for d in _licsar_pair_dirs(root):
        m = _PAIR_DIR_RE.match(d.name)
        assert m is not None
        d1, d2 = _check_dates(d, m.group(1), m.group(2), what="folder name")
        unw = d / f"{d.name}.unw"
        cc = d / f"{d.name}.cc"
        if not unw.is_file():
            raise InputError(d, f"unwrapped interferogram {d.name}.unw missing")
        if not cc.is_file():
            raise InputError(d, f"coherence {d.name}.cc missing (required for a LiCSBAS GEOCml folder)")
        pairs.append(PairFiles(d1, d2, unw, cc, fspec, geocml_cc_spec(cc, grid)))
    pairs.sort()
    return pairs


def _pair_dates_in_name(p: Path) -> tuple[int, int] | None:
    """The two dates of a file name (yyyymmdd / yymmdd joined by - or _, or SNAP ddMonyyyy)."""
    m = _PAIR_NAME_RE.search(p.name)
    if m is not None and len(m.group(1)) == len(m.group(2)):
        return _check_dates(p, m.group(1), m.group(2), what="file name")
    s = _SNAP_PAIR_RE.search(p.name)
    if s is not None:
        d = []
        for dd, mon, yyyy in ((s.group(1), s.group(2), s.group(3)), (s.group(4), s.group(5), s.group(6))):
            if mon.lower() not in _MONTHS:
                return None
            d.append(f"{yyyy}{_MONTHS[mon.lower()]:02d}{dd}")
        return _check_dates(p, d[0], d[1], what="file name")
    return None


def _flat_binary_pairs(folder: Path) -> list[PairFiles] | None:
    """Date-named unw/cc binaries with an ENVI ``.hdr`` or ROI_PAC ``.rsc`` header; ``None`` if none."""
    try:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() not in _HEADER_SUFFIXES
                       and p.suffix.lower() not in _TIF_SUFFIXES)
    except OSError as exc:
        raise InputError(folder, f"cannot list folder ({exc.strerror})") from None
    unw: dict[tuple[int, int], Path] = {}
    cc: dict[tuple[int, int], Path] = {}
    for p in files:
        key = _pair_dates_in_name(p)
        if key is None:
            continue
        kind = _classify(p)
        if kind is None:
            continue
        if find_header(p) is None:
            raise InputError(p, f"missing companion header ({p.name}.hdr, {p.stem}.hdr or {p.name}.rsc)")
        table = unw if kind == "unw" else cc
        if key in table:
            raise InputError(p, f"duplicate pair {key[0]}_{key[1]}: {table[key].name} has the same dates")
        table[key] = p
    if not unw:
        return None
    if cc:
        lacking = sorted(set(unw) - set(cc))
        if lacking:
            k = lacking[0]
            raise InputError(unw[k], f"coherence missing for pair {k[0]}_{k[1]} while {len(cc)} other pair(s) have it")
    pairs = []
    for k, u in unw.items():
        c = cc.get(k)
        pairs.append(PairFiles(k[0], k[1], u, c, open_headed(u)[0], None if c is None else open_headed(c)[0]))
    pairs.sort()
    return pairs


def _tokens(name: str) -> list[str]:
    stem = name
    for suf in _TIF_SUFFIXES:
        if stem.lower().endswith(suf):
            stem = stem[: -len(suf)]
    return [t for t in re.split(r"[^a-z0-9]+", stem.lower()) if t]


def _classify(p: Path) -> str | None:
    toks = set(_tokens(p.name))
    is_unw = bool(toks & _UNW_TOKENS)
    is_cc = bool(toks & _CC_TOKENS)
    if is_unw and is_cc:
        log.warning("%s: name has both unw and coherence tokens, ignored", p)
        return None
    return "unw" if is_unw else "cc" if is_cc else None


def _check_dates(path: Path, s1: str, s2: str, *, what: str) -> tuple[int, int]:
    d1 = _date_int(s1, path=path, what=what)
    d2 = _date_int(s2, path=path, what=what)
    if d1 >= d2:
        raise InputError(path, f"reversed or equal dates in {what}: {d1} is not before {d2}")
    return d1, d2


def _is_date_token(tok: str) -> bool:
    return bool(re.fullmatch(r"\d{8}", tok))


def _date_int(tok: str, *, path: Path | None = None, what: str = "name") -> int:
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


# --------------------------------------------------------------------------------------------
# Geometry, metadata
# --------------------------------------------------------------------------------------------
def _unique_dirs(dirs: Iterable[Path]) -> list[Path]:
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


def _first_file(dirs: Iterable[Path], name: str) -> Path | None:
    for d in dirs:
        p = d / name
        if p.is_file():
            return p
    return None


def _find_geometry(dirs: Iterable[Path]) -> dict[str, Path | None]:
    """E/N/U/hgt GeoTIFFs: ``*.geo.E.tif`` … ``*.geo.hgt.tif``; else date-less ``*dem*``/``*hgt*``."""
    out: dict[str, Path | None] = dict.fromkeys(GEOMETRY_KEYS)
    dirs = _unique_dirs(dirs)
    for key in ("E", "N", "U", "hgt"):
        for d in dirs:
            found = sorted(p for p in d.glob(f"*.geo.{key}.tif") if p.is_file())
            if not found and key != "hgt":
                found = sorted(p for p in d.glob(f"*.{key}.tif") if p.is_file())
            if found:
                if len(found) > 1:
                    log.warning("%s: several %s files, using %s", d, key, found[0].name)
                out[key] = found[0]
                break
    if out["hgt"] is None:
        for d in dirs:
            cands = []
            for p in sorted(d.iterdir()):
                if p.suffix.lower() not in _TIF_SUFFIXES or not p.is_file() or _PAIR_NAME_RE.search(p.name):
                    continue
                toks = _tokens(p.name)
                if any(t.startswith(("hgt", "dem", "height")) for t in toks):
                    cands.append(p)
            if cands:
                cands.sort(key=lambda p: (not any(t.startswith("hgt") for t in _tokens(p.name)), p.name))
                if len(cands) > 1:
                    log.warning("%s: several height files, using %s", d, cands[0].name)
                out["hgt"] = cands[0]
                break
    return out


def _grid_and_tags(path: Path) -> tuple[Grid, dict[str, str]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                grid = _grid_of(src)
                tags = {str(k).lower(): str(v) for k, v in src.tags().items()}
    except RasterioError as exc:
        raise InputError(path, f"not a readable GeoTIFF ({_short(exc, path)})") from None
    tags.pop("area_or_point", None)
    return grid, tags


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


def _first_float(d: dict[str, str], keys: Sequence[str]) -> float | None:
    for k in keys:
        if k in d:
            m = re.match(r"^\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)", str(d[k]))
            if m:
                v = float(m.group(1))
                if math.isfinite(v):
                    return v
    return None


def _as_hz(freq: float) -> float:
    return freq * 1e9 if freq < 1e4 else freq  # a value like 5.405 is in GHz


def _wavelength(meta_txt: dict[str, str], tags: dict[str, str], header: dict[str, str]) -> tuple[float, str]:
    wl_keys = ("wavelength", "wavelength_metres", "wavelength_meters", "wavelength_m", "radar_wavelength")
    f_keys = ("radar_frequency", "radar_frequency_hz", "frequency", "carrier_frequency")
    for src_name, d in (("metadata.txt", meta_txt), ("GeoTIFF tags", tags), ("GAMMA header", header)):
        wl = _first_float(d, wl_keys)
        if wl is not None and 0.001 < wl < 1.0:
            return wl, f"{src_name} wavelength"
        f = _first_float(d, f_keys)
        if f is not None and f > 0:
            return SPEED_OF_LIGHT / _as_hz(f), f"{src_name} radar_frequency"
    return S1_WAVELENGTH_M, "default (Sentinel-1 C band)"


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


# --------------------------------------------------------------------------------------------
# File checks
# --------------------------------------------------------------------------------------------
def _open_check(path: Path) -> tuple[Grid, object]:
    """Open ``path`` as a GeoTIFF, read its last row; return (grid, CRS)."""
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                if src.driver not in ("GTiff", "COG"):
                    raise InputError(path, f"not a GeoTIFF (GDAL reads it as {src.driver})")
                if src.crs is None and src.transform.is_identity:
                    raise InputError(path, "not georeferenced (no CRS and no geotransform)")
                if src.width < 1 or src.height < 1:
                    raise InputError(path, "empty raster")
                try:
                    src.read(1, window=Window(0, src.height - 1, src.width, 1))
                except RasterioError as exc:
                    problem = f"truncated or corrupt: cannot read its last row ({_short(exc, path)})"
                    raise InputError(path, problem) from None
                return _grid_of(src), src.crs
    except RasterioError as exc:
        raise InputError(path, f"not a readable GeoTIFF ({_short(exc, path)})") from None


def _grid_of(src: rasterio.io.DatasetReader) -> Grid:
    x0, dx, rx, y0, ry, dy = (float(v) for v in src.transform.to_gdal())
    return Grid(src.width, src.height, (x0, dx, rx, y0, ry, dy), src.crs.to_string() if src.crs else "EPSG:4326")


def _open_check_any(path: Path, inputset: InputSet) -> tuple[Grid, object]:
    """:func:`_open_check` for a GeoTIFF; for a flat binary its size, and its header's grid if it has one."""
    spec = inputset.spec_of(path)
    if spec is None:
        return _open_check(path)
    check_size(path, spec)
    if inputset.layout == LAYOUT_ENVI:
        _, grid, _, hdr = open_headed(path)
        if grid is None:
            raise InputError(hdr, "not geocoded: the header has no map info / X_FIRST")
        return grid, "EPSG:4326"
    return inputset.grid, None


def _open_check_safe(path: Path, inputset: InputSet) -> tuple[Grid, object] | InputError:
    try:
        return _open_check_any(path, inputset)
    except InputError as exc:
        return exc


def _grid_diff(a: Grid, b: Grid) -> str:
    if a.shape != b.shape:
        return f"{a.width}x{a.height} px vs {b.width}x{b.height} px"
    return (
        f"origin ({a.transform[0]:.6f}, {a.transform[3]:.6f}) step ({a.dx:.7g}, {a.dy:.7g}) vs "
        f"origin ({b.transform[0]:.6f}, {b.transform[3]:.6f}) step ({b.dx:.7g}, {b.dy:.7g})"
    )


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


def _short(exc: BaseException, path: Path | None = None) -> str:
    s = str(exc)
    if path is not None:  # GDAL repeats the file name; the message already starts with it
        s = s.replace(f"'{path}' ", "").replace(f"{path}: ", "").replace(str(path), path.name)
    return s.splitlines()[0][:200].strip() if s.strip() else type(exc).__name__
