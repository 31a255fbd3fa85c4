"""LiCSBAS's prepared folder ``GEOCml*``: ``yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.unw`` and ``.cc`` flat
binaries with ``slc.mli.par`` and ``EQA.dem_par`` (see :mod:`kansho.io.licsbas_geoc`); the folder may
be given as ``GEOCml*`` itself or as its parent (holding exactly one)."""

from __future__ import annotations

from pathlib import Path

from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.envi import BinarySpec
from kansho.io.inputset import GEOMETRY_KEYS, LAYOUT_LICSBAS_GEOC, PairFiles
from kansho.io.layouts.base import Detected, Layout
from kansho.io.layouts.licsar import pair_dirs
from kansho.io.licsbas_geoc import GEOMETRY_FILES, geocml_cc_spec, geocml_float_spec, geocml_grid, is_geocml
from kansho.io.pairnames import PAIR_DIR_RE, check_dates, list_folder, unique_dirs

__all__ = ["GeocmlLayout"]


class GeocmlLayout(Layout):
    """A LiCSBAS ``GEOCml*`` folder (or a folder holding exactly one)."""

    name = LAYOUT_LICSBAS_GEOC

    def detect(self, folder: Path) -> Detected | None:
        root = _geocml_folder(folder)
        if root is None:
            return None
        grid, _ = geocml_grid(root)
        return Detected(root, _pairs(root, grid), grid)

    def metadata_dirs(self, root: Path) -> list[Path]:
        return unique_dirs([root, root.parent, root.parent / "metadata"])

    def geometry(self, found: Detected) -> tuple[dict[str, Path | None], dict[str, BinarySpec]]:
        assert found.grid is not None
        geometry: dict[str, Path | None] = dict.fromkeys(GEOMETRY_KEYS)
        specs: dict[str, BinarySpec] = {}
        for key, fname in GEOMETRY_FILES.items():
            if (found.root / fname).is_file():
                geometry[key] = found.root / fname
                specs[key] = geocml_float_spec(found.grid)
        return geometry, specs

    def grid_and_tags(self, found: Detected) -> tuple[Grid, dict[str, str]]:
        assert found.grid is not None
        return found.grid, {}


def _geocml_folder(folder: Path) -> Path | None:
    """``folder`` itself if it is a LiCSBAS GEOCml folder, else its single ``GEOCml*`` child, else None."""
    if is_geocml(folder):
        return folder
    kids = [d for d in list_folder(folder) if d.is_dir() and d.name.startswith("GEOCml") and is_geocml(d)]
    if len(kids) > 1:
        raise InputError(folder, f"several LiCSBAS folders ({', '.join(k.name for k in kids)}); give one of them")
    return kids[0] if kids else None


def _pairs(root: Path, grid: Grid) -> list[PairFiles]:
    """Pairs of a GEOCml folder; each must have ``name.unw`` and ``name.cc`` of the right size."""
    pairs: list[PairFiles] = []
    fspec = geocml_float_spec(grid)
    for d in pair_dirs(root):
        m = PAIR_DIR_RE.match(d.name)
        assert m is not None
        d1, d2 = check_dates(d, m.group(1), m.group(2), what="folder name")
        unw = d / f"{d.name}.unw"
        cc = d / f"{d.name}.cc"
        if not unw.is_file():
            raise InputError(d, f"unwrapped interferogram {d.name}.unw missing")
        if not cc.is_file():
            raise InputError(d, f"coherence {d.name}.cc missing (required for a LiCSBAS GEOCml folder)")
        pairs.append(PairFiles(d1, d2, unw, cc, fspec, geocml_cc_spec(cc, grid)))
    pairs.sort()
    return pairs
