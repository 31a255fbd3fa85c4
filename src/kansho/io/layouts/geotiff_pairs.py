"""A flat folder of GeoTIFFs whose names carry the two dates (``yyyymmdd`` or ``yymmdd``, joined by
``-`` or ``_``), e.g. GAMMA/PyRate products ``cropA_20180106-20180130_VV_8rlks_eqa_unw.tif`` with
``cropA_20180106-20180130_VV_8rlks_flat_eqa_cc.tif``. Files are classified from the tokens of their
names: ``unw`` → unwrapped phase, as is a name of the two dates alone (``030118-030222.tif``);
``cc``/``coh``/``cor`` → coherence; ``dem``/``hgt`` (without dates) → height. Coherence may be
absent for *every* pair, never for only some."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from kansho.errors import InputError
from kansho.io.inputset import LAYOUT_GEOTIFF_PAIRS, PairFiles
from kansho.io.layouts.base import Detected, Layout
from kansho.io.pairnames import PAIR_NAME_RE, TIF_SUFFIXES, check_dates, classify, list_folder, tokens

log = logging.getLogger(__name__)

__all__ = ["GeotiffPairsLayout", "add_pair_file", "check_coherence_complete"]

PairKey = tuple[int, int]


class GeotiffPairsLayout(Layout):
    """Date-named unw/cc GeoTIFFs in the folder, else in its ``GEOC/``."""

    name = LAYOUT_GEOTIFF_PAIRS

    def detect(self, folder: Path) -> Detected | None:
        for root in (folder, folder / "GEOC"):
            if root is not folder and not root.is_dir():
                continue
            pairs = _flat_pairs(root)
            if pairs is not None:
                return Detected(root, pairs)
        return None


def add_pair_file(table: dict[PairKey, Path], key: PairKey, p: Path) -> None:
    """Record ``p`` as the file of pair ``key``; InputError if another file has the same dates."""
    if key in table:
        raise InputError(p, f"duplicate pair {key[0]}_{key[1]}: {table[key].name} has the same dates")
    table[key] = p


def check_coherence_complete(unw: dict[PairKey, Path], cc: dict[PairKey, Path]) -> None:
    """InputError naming the first pair without coherence when some pairs have it."""
    if cc:
        lacking = sorted(set(unw) - set(cc))
        if lacking:
            k = lacking[0]
            raise InputError(unw[k], f"coherence missing for pair {k[0]}_{k[1]} while {len(cc)} other pair(s) have it")


def _bare_pair_name(p: Path, m: re.Match[str]) -> bool:
    """A name of the two dates alone (``030118-030222.tif``, as some ENVISAT stacks are delivered):
    unwrapped phase, there being nothing else it could be."""
    return tokens(p.name) == [m.group(1), m.group(2)]


def _flat_pairs(folder: Path) -> list[PairFiles] | None:
    """Date-named unw/cc GeoTIFFs directly in ``folder``; ``None`` if there is no unw file."""
    tifs = [p for p in list_folder(folder) if p.suffix.lower() in TIF_SUFFIXES and p.is_file()]
    unw: dict[PairKey, Path] = {}
    cc: dict[PairKey, Path] = {}
    for p in tifs:
        m = PAIR_NAME_RE.search(p.name)
        if m is None:
            continue
        kind = classify(p) or ("unw" if _bare_pair_name(p, m) else None)
        if kind is None:
            log.debug("%s: neither unw nor coherence by name, ignored", p)
            continue
        if len(m.group(1)) != len(m.group(2)):
            continue
        key = check_dates(p, m.group(1), m.group(2), what="file name")
        add_pair_file(unw if kind == "unw" else cc, key, p)
    if not unw:
        return None
    orphans = sorted(set(cc) - set(unw))
    if orphans:
        log.warning("%s: coherence without an unwrapped interferogram, ignored", cc[orphans[0]])
    check_coherence_complete(unw, cc)
    pairs = sorted(PairFiles(k[0], k[1], unw[k], cc.get(k)) for k in unw)
    if not cc:
        log.warning("%s: no coherence files; coherence-based steps will be skipped", folder)
    return pairs
