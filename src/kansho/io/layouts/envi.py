"""A flat folder of headed binaries (ENVI ``.hdr`` or ROI_PAC ``.rsc``, see :mod:`kansho.io.envi`)
whose names carry the two dates (``yyyymmdd``/``yymmdd`` joined by ``-``/``_``, or SNAP's
``17Mar2017_10Apr2017``), classified by name tokens as for ``geotiff_pairs``; e.g. SNAP's
``Unw_Phase_ifg_17Mar2017_10Apr2017_VV.img`` + ``.hdr`` with ``coh_IW2_VV_17Mar2017_10Apr2017.img``,
or ROI_PAC ``20170317-20170410.unw`` + ``.unw.rsc``."""

from __future__ import annotations

from pathlib import Path

from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.envi import find_header, open_headed
from kansho.io.inputset import LAYOUT_ENVI, PairFiles
from kansho.io.layouts.base import Detected, Layout
from kansho.io.layouts.geotiff_pairs import PairKey, add_pair_file, check_coherence_complete
from kansho.io.pairnames import HEADER_SUFFIXES, TIF_SUFFIXES, classify, list_folder, pair_dates_in_name

__all__ = ["EnviLayout"]


class EnviLayout(Layout):
    """Date-named unw/cc binaries with a header, in the folder's ``GEOC/`` if it has one, else in the folder."""

    name = LAYOUT_ENVI

    def detect(self, folder: Path) -> Detected | None:
        root = folder / "GEOC" if (folder / "GEOC").is_dir() else folder
        pairs = _flat_binary_pairs(root)
        return None if pairs is None else Detected(root, pairs)

    def grid_and_tags(self, found: Detected) -> tuple[Grid, dict[str, str]]:
        _, grid, vals, hdr = open_headed(found.pairs[0].unw)
        if grid is None:
            raise InputError(hdr, "not geocoded: the header has no map info / X_FIRST (need a lon/lat grid)")
        # a ROI_PAC .rsc carries WAVELENGTH (m); an ENVI .hdr's "wavelength" is of spectral bands: left out
        return grid, ({k.lower(): v for k, v in vals.items()} if hdr.suffix == ".rsc" else {})

    def tags_file(self, found: Detected) -> Path:
        return open_headed(found.pairs[0].unw)[3]


def _flat_binary_pairs(folder: Path) -> list[PairFiles] | None:
    """Date-named unw/cc binaries with an ENVI ``.hdr`` or ROI_PAC ``.rsc`` header; ``None`` if none."""
    files = [p for p in list_folder(folder) if p.is_file() and p.suffix.lower() not in HEADER_SUFFIXES
             and p.suffix.lower() not in TIF_SUFFIXES]
    unw: dict[PairKey, Path] = {}
    cc: dict[PairKey, Path] = {}
    for p in files:
        key = pair_dates_in_name(p)
        if key is None:
            continue
        kind = classify(p)
        if kind is None:
            continue
        if find_header(p) is None:
            raise InputError(p, f"missing companion header ({p.name}.hdr, {p.stem}.hdr or {p.name}.rsc)")
        add_pair_file(unw if kind == "unw" else cc, key, p)
    if not unw:
        return None
    check_coherence_complete(unw, cc)
    pairs = []
    for k, u in unw.items():
        c = cc.get(k)
        pairs.append(PairFiles(k[0], k[1], u, c, open_headed(u)[0], None if c is None else open_headed(c)[0]))
    pairs.sort()
    return pairs
