"""What an input layout is (:class:`Layout`), and what the GeoTIFF-based layouts share."""

from __future__ import annotations

import logging
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.envi import BinarySpec
from kansho.io.inputset import GEOMETRY_KEYS, PairFiles
from kansho.io.pairnames import PAIR_NAME_RE, TIF_SUFFIXES, tokens, unique_dirs, utf8_names

log = logging.getLogger(__name__)

__all__ = ["Detected", "Layout", "find_geometry", "grid_and_tags", "grid_of", "short"]


@dataclass
class Detected:
    """A layout found in a folder: its ``root`` (the folder holding the interferograms), its pairs
    sorted by dates, and the grid when detection already read it (LiCSBAS GEOCml)."""

    root: Path
    pairs: list[PairFiles]
    grid: Grid | None = None


class Layout(ABC):
    """One input layout: how it is recognised and how it is read into an :class:`~kansho.io.inputset.InputSet`.

    :func:`kansho.io.inputs.discover_inputs` asks each registered layout in turn
    (:data:`kansho.io.layouts.LAYOUTS`) to :meth:`detect` itself in the given folder; the first that
    does is used. The defaults below are those of a flat folder of GeoTIFFs.
    """

    #: the ``InputSet.layout`` name
    name: str = ""

    @abstractmethod
    def detect(self, folder: Path) -> Detected | None:
        """The pairs of this layout in ``folder`` (or the folder it designates), else ``None``.

        Raise :class:`InputError` when the folder is of this layout but broken (a pair lacking a file).
        """

    def metadata_dirs(self, root: Path) -> list[Path]:
        """Folders searched, in order, for ``metadata.txt`` and ``baselines``."""
        return unique_dirs([root, root / "metadata", root.parent / "metadata"])

    def geometry(self, found: Detected) -> tuple[dict[str, Path | None], dict[str, BinarySpec]]:
        """``{E, N, U, hgt} → Path | None`` and the read specs of those that are flat binaries."""
        return find_geometry([found.root, found.root.parent / "geometry"]), {}

    def grid_and_tags(self, found: Detected) -> tuple[Grid, dict[str, str]]:
        """The grid of the first interferogram and its tags (lower-case keys)."""
        return grid_and_tags(found.pairs[0].unw)

    def tags_file(self, found: Detected) -> Path:
        """The file the tags of :meth:`grid_and_tags` come from (named in errors about them)."""
        return found.pairs[0].unw


def find_geometry(dirs: Iterable[Path]) -> dict[str, Path | None]:
    """E/N/U/hgt GeoTIFFs: ``*.geo.E.tif`` … ``*.geo.hgt.tif``; else date-less ``*dem*``/``*hgt*``."""
    out: dict[str, Path | None] = dict.fromkeys(GEOMETRY_KEYS)
    dirs = unique_dirs(dirs)
    for key in GEOMETRY_KEYS:
        for d in dirs:
            found = sorted(p for p in d.glob(f"*.geo.{key}.tif") if p.is_file())
            if not found and key != "hgt":
                found = sorted(p for p in d.glob(f"*.{key}.tif") if p.is_file())
            if utf8_names(d, found):
                if len(found) > 1:
                    log.warning("%s: several %s files, using %s", d, key, found[0].name)
                out[key] = found[0]
                break
    if out["hgt"] is None:
        out["hgt"] = _height_by_name(dirs)
    return out


def _height_by_name(dirs: Iterable[Path]) -> Path | None:
    """A date-less GeoTIFF named ``hgt*``/``dem*``/``height*`` (``hgt`` first) in the first folder that has one."""
    for d in dirs:
        cands = []
        for p in sorted(d.iterdir()):
            if p.suffix.lower() not in TIF_SUFFIXES or not p.is_file() or PAIR_NAME_RE.search(p.name):
                continue
            if any(t.startswith(("hgt", "dem", "height")) for t in tokens(p.name)):
                cands.append(p)
        if utf8_names(d, cands):
            cands.sort(key=lambda p: (not any(t.startswith("hgt") for t in tokens(p.name)), p.name))
            if len(cands) > 1:
                log.warning("%s: several height files, using %s", d, cands[0].name)
            return cands[0]
    return None


def grid_and_tags(path: Path) -> tuple[Grid, dict[str, str]]:
    """Grid and tags (lower-case keys, without ``area_or_point``) of a GeoTIFF."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                grid = grid_of(src)
                tags = {str(k).lower(): str(v) for k, v in src.tags().items()}
    except RasterioError as exc:
        raise InputError(path, f"not a readable GeoTIFF ({short(exc, path)})") from None
    tags.pop("area_or_point", None)
    return grid, tags


def grid_of(src: rasterio.io.DatasetReader) -> Grid:
    """The :class:`Grid` of an open rasterio dataset (EPSG:4326 when it has no CRS)."""
    x0, dx, rx, y0, ry, dy = (float(v) for v in src.transform.to_gdal())
    return Grid(src.width, src.height, (x0, dx, rx, y0, ry, dy), src.crs.to_string() if src.crs else "EPSG:4326")


def short(exc: BaseException, path: Path | None = None) -> str:
    """A GDAL error as one short line, without the file name it repeats."""
    s = str(exc)
    if path is not None:  # GDAL repeats the file name; the message already starts with it
        s = s.replace(f"'{path}' ", "").replace(f"{path}: ", "").replace(str(path), path.name)
    return s.splitlines()[0][:200].strip() if s.strip() else type(exc).__name__
