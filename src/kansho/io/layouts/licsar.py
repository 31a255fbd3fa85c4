"""The LiCSAR GEOC layout (Lazecký et al. 2020) that LiCSBAS reads::

    GEOC/yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.geo.unw.tif   (radians, 0/NaN = no data)
    GEOC/yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.geo.cc.tif    (coherence, required)
    GEOC/<frame>.geo.E.tif .N.tif .U.tif .hgt.tif          (optional; also in GEOC/.. or metadata/)
    GEOC/baselines, GEOC/metadata.txt                      (optional)

The folder may be given as ``GEOC`` itself or as its parent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from kansho.errors import InputError
from kansho.io.envi import BinarySpec
from kansho.io.inputset import LAYOUT_LICSAR, PairFiles
from kansho.io.layouts.base import Detected, Layout, find_geometry
from kansho.io.pairnames import PAIR_DIR_RE, check_dates, list_folder, unique_dirs, utf8_names

log = logging.getLogger(__name__)

__all__ = ["LicsarLayout", "pair_dirs"]


class LicsarLayout(Layout):
    """``yyyymmdd_yyyymmdd/`` folders of ``*.geo.unw.tif`` and ``*.geo.cc.tif`` in the folder or its ``GEOC/``."""

    name = LAYOUT_LICSAR

    def detect(self, folder: Path) -> Detected | None:
        root = folder
        dirs = pair_dirs(root)
        if not dirs and (folder / "GEOC").is_dir():
            root = folder / "GEOC"
            dirs = pair_dirs(root)
        if not dirs:
            return None
        return Detected(root, _pairs(dirs))

    def metadata_dirs(self, root: Path) -> list[Path]:
        # LiCSAR/LiCSBAS keep these in GEOC/, its parent or metadata/
        return unique_dirs([root, root / "metadata", root.parent, root.parent / "metadata"])

    def geometry(self, found: Detected) -> tuple[dict[str, Path | None], dict[str, BinarySpec]]:
        return find_geometry(self.metadata_dirs(found.root)), {}


def pair_dirs(root: Path) -> list[Path]:
    """The ``yyyymmdd_yyyymmdd`` sub-folders of ``root``, sorted."""
    return [p for p in list_folder(root) if p.is_dir() and PAIR_DIR_RE.match(p.name)]


def _pairs(dirs: Sequence[Path]) -> list[PairFiles]:
    pairs: list[PairFiles] = []
    for d in dirs:
        m = PAIR_DIR_RE.match(d.name)
        assert m is not None
        d1, d2 = check_dates(d, m.group(1), m.group(2), what="folder name")
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
    found = utf8_names(folder, sorted(p for p in folder.glob(pattern) if p.is_file()))
    if len(found) > 1:
        log.warning("%s: several %s files, using %s", folder, pattern, found[0].name)
    return found[0] if found else None
