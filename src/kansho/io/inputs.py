"""Discover and validate an input folder of unwrapped interferograms.

The layouts recognised, in the order they are tried (:data:`kansho.io.layouts.LAYOUTS`; each is
described in its module):

``licsbas_geoc``
    LiCSBAS's prepared folder ``GEOCml*`` of flat binaries (:mod:`kansho.io.layouts.geocml`).
``licsar``
    The LiCSAR GEOC layout, ``GEOC/yyyymmdd_yyyymmdd/*.geo.unw.tif`` and ``.geo.cc.tif``, given as
    ``GEOC`` or its parent (:mod:`kansho.io.layouts.licsar`).
``geotiff_pairs``
    A flat folder of date-named GeoTIFFs, GAMMA/PyRate-style (:mod:`kansho.io.layouts.geotiff_pairs`).
``envi``
    A flat folder of date-named ENVI ``.hdr`` / ROI_PAC ``.rsc`` headed binaries
    (:mod:`kansho.io.layouts.envi`).

Radar metadata and baselines are read as :mod:`kansho.io.radar_meta` describes.

:func:`discover_inputs` only looks at names (and reads the first interferogram's header for the
grid and tags); :func:`validate_inputs` opens every file. Both raise
:class:`~kansho.errors.InputError` with a one-line message that names the file or folder at fault.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.windows import Window

from kansho._constants import SPEED_OF_LIGHT
from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.baselines import gamma_bperp_epochs
from kansho.io.envi import check_size, open_headed
from kansho.io.inputset import (
    GEOMETRY_KEYS,
    LAYOUT_ENVI,
    LAYOUT_GEOTIFF_PAIRS,
    LAYOUT_LICSAR,
    LAYOUT_LICSBAS_GEOC,
    InputSet,
    PairFiles,
)
from kansho.io.layouts import detect_layout
from kansho.io.layouts.base import grid_of, short
from kansho.io.pairnames import first_file, unique_dirs
from kansho.io.radar_meta import (
    S1_WAVELENGTH_M,
    RadarInfo,
    los_from_angles,
    read_baselines,
    read_metadata_txt,
    read_radar_info,
)

log = logging.getLogger(__name__)

S1_FREQUENCY_HZ = SPEED_OF_LIGHT / S1_WAVELENGTH_M

__all__ = [
    "GEOMETRY_KEYS",
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


def discover_inputs(path: str | Path) -> InputSet:
    """Find the interferograms, coherence, geometry and metadata in ``path``.

    ``path`` is a folder of one of the layouts of :data:`kansho.io.layouts.LAYOUTS` (see the module
    docstring); they are tried in order and the first found is read. Only names are checked here,
    plus the header of the first interferogram (grid, tags); :func:`validate_inputs` opens every file.

    Raises :class:`InputError` for: a missing folder; no pairs; a LiCSAR pair folder lacking its
    unw or cc file; a GeoTIFF pair lacking coherence while others have it; an invalid calendar
    date, reversed dates (date1 >= date2) or the same pair twice in file or folder names.
    """
    folder = Path(path).expanduser()
    if not folder.exists():
        raise InputError(folder, "input folder not found")
    if not folder.is_dir():
        raise InputError(folder, "not a folder (expected a GEOC folder or a folder of GeoTIFF pairs)")

    layout, found = detect_layout(folder)
    root, pairs = found.root, found.pairs
    search_dirs = layout.metadata_dirs(root)
    geometry, geometry_specs = layout.geometry(found)
    grid, tags = layout.grid_and_tags(found)
    radar = read_radar_info(root, search_dirs, tags, layout.tags_file(found))
    if radar.wavelength is None and layout.name == LAYOUT_LICSAR:  # LiCSAR processes Sentinel-1 only
        radar = dataclasses.replace(radar, wavelength=S1_WAVELENGTH_M,
                                    wavelength_source="Sentinel-1 C band (LiCSAR GEOC layout)")
        radar.metadata.update(wavelength_source=radar.wavelength_source, radar_frequency_hz=S1_FREQUENCY_HZ)
    metadata = radar.metadata
    los = _constant_los(root, geometry, radar)
    epochs = np.unique(np.array([d for p in pairs for d in (p.date1, p.date2)], dtype=np.int64))
    bperp = _baselines(search_dirs, epochs, metadata, root)

    inputs = InputSet(
        layout=layout.name,
        root=root,
        pairs=pairs,
        grid=grid,
        geometry=geometry,
        wavelength=radar.wavelength,
        metadata=metadata,
        bperp=bperp,
        epochs=epochs,
        los=los,
        geometry_specs=geometry_specs,
    )
    log.info(
        "%s: %s layout, %d pairs, %d epochs (%d-%d), grid %dx%d, wavelength %s (%s)",
        root, layout.name, inputs.n_pairs, inputs.n_epochs, int(epochs[0]), int(epochs[-1]),
        grid.width, grid.height, "unknown" if radar.wavelength is None else f"{radar.wavelength:.5f} m",
        radar.wavelength_source,
    )
    return inputs


def _constant_los(root: Path, geometry: dict[str, Path | None], radar: RadarInfo) -> dict[str, float]:
    """A constant LOS vector from the angles when per-pixel E/N/U files are missing (else empty)."""
    if all(geometry[k] is not None for k in ("E", "N", "U")) or radar.incidence_deg is None:
        return {}
    if radar.heading_deg is None:
        log.warning(
            "%s: no per-pixel E/N/U files and no heading known; LOS U = cos(incidence) only, E/N missing", root
        )
    return los_from_angles(radar.incidence_deg, radar.heading_deg)


def _baselines(search_dirs: Sequence[Path], epochs: npt.NDArray[np.int64], metadata: dict[str, object],
               root: Path) -> dict[int, float]:
    """Per-epoch B⊥ from the first ``baselines`` file of ``search_dirs`` (LiCSAR, LiCSBAS GEOC), else from
    GAMMA per-pair ``*_bperp.par``/``*_base.par`` files beside ``root`` (:mod:`kansho.io.baselines`);
    empty without either."""
    bfile = first_file(search_dirs, "baselines")
    if bfile is None:
        dirs = unique_dirs([root, root / "geometry", root.parent / "geometry", root / "baselines",
                            root / "headers", root.parent / "headers", *search_dirs])
        bperp = gamma_bperp_epochs(dirs, [int(e) for e in epochs])
        if bperp:
            metadata["baselines_file"] = "GAMMA per-pair baseline files (*_bperp.par / *_base.par)"
        return bperp
    bperp = read_baselines(bfile)
    metadata["baselines_file"] = str(bfile)
    missing_bp = [int(e) for e in epochs if bperp and int(e) not in bperp]
    if missing_bp:
        log.warning("%s: no perpendicular baseline for %d epoch(s), e.g. %s", bfile, len(missing_bp), missing_bp[0])
    return bperp


def validate_inputs(
    inputset: InputSet, check_grids: bool = True, *, check_files: bool = True, workers: int = 8
) -> None:
    """Check that an :class:`InputSet` can be processed; raise :class:`InputError` if not.

    - the network has at least 2 pairs and 3 epochs;
    - (``check_files``) every unw, cc and geometry file opens as a GeoTIFF, is georeferenced and
      is not truncated (its last pixel is read: the block holding it, the last strip or the
      bottom-right tile, is the last in the file as GDAL and LiCSAR write them, and the end of
      the file is what a cut download loses; one tile where the whole last row of tiles took 4 on
      a 1000-px frame);
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
    # warnings.catch_warnings is not thread-safe (threads restore each other's filters): the warning a
    # file without a geotransform raises is ignored here, for all the threads, and checked explicitly
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
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


def _open_check(path: Path) -> tuple[Grid, object]:
    """Open ``path`` as a GeoTIFF, read its last pixel (its last block); return (grid, CRS)."""
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
                    src.read(1, window=Window(src.width - 1, src.height - 1, 1, 1))
                except RasterioError as exc:
                    problem = f"truncated or corrupt: cannot read its last block ({short(exc, path)})"
                    raise InputError(path, problem) from None
                return grid_of(src), src.crs
    except RasterioError as exc:
        raise InputError(path, f"not a readable GeoTIFF ({short(exc, path)})") from None


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
