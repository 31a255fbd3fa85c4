"""Per-epoch LOS delay layers for the Step 0-3 correction: kinds, where they are, how to read them.

A *layer* is one map per acquisition date of something that delays (or shortens) the radar path
and so enters every interferogram as ``φ(date2) − φ(date1)``. The kinds, in the order they are
applied (:data:`ORDER`)::

    kind   files (the date yyyymmdd opens the name)      unit of the file       delay phase φ (rad)
    tide   <date>.tide.geo.tif   (LiCSAR TIDE/)          m, LOS displacement    −4π/λ · v
    iono   <date>.geo.iono.code.tif (LiCSAR IONO/)       rad, phase advance     −v
    gacos  <date>.sltd.geo.tif (LiCSAR GACOS/), or       rad, slant delay       v
           <date>.ztd + .ztd.rsc / <date>.ztd.tif        m, zenith delay        4π/λ · v / cos θ
    icams  <date>.icams.sltd.geo.tif (LiCSAR ICAMS/)     rad, slant delay       v
    user   <date>*.tif in ingest.user_layer              rad | m_los | m_zenith (ingest.user_layer_unit)

Signs follow LiCSAR's correction scripts (phase grows with range): the tide is the solid-earth tide's
E/N/U displacement projected on the ground→satellite unit vector (toward the satellite positive),
subtracted as ``−4π/λ (tide2 − tide1)``; the ionosphere file holds 4π·K·STEC/(c·f) ≥ 0, subtracted as
``iono1 − iono2``. The conversion is :func:`kansho.prep.layer_delay_phase`. The order is that of the
records (and of the sum); the decision of which layers a pair keeps (:func:`kansho.prep.choose_layers`)
judges each layer given the others, so it does not depend on the order. ``kansho download`` puts the
portal's layers in a folder each beside ``GEOC/`` (:data:`kansho.io.licsar_portal.EPOCH_LAYERS`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.gacos import KIND_ZTD_M, find_delay_files, layer_candidates, read_delay
from kansho.io.geotiff import read_grid, read_raster

__all__ = ["COMPUTED", "FOLDERS", "ORDER", "SUFFIXES", "LayerSpec", "find_layer_files", "parse_layer_list",
           "read_layer"]

#: kinds in the order they are applied
ORDER = ("tide", "iono", "gacos", "icams", "user")
#: portal folder beside GEOC/ of each kind (as ``kansho download`` writes them)
FOLDERS = {"tide": "TIDE", "iono": "IONO", "gacos": "GACOS", "icams": "ICAMS"}
#: file name after the date, per portal kind
SUFFIXES = {"tide": ".tide.geo.tif", "iono": ".geo.iono.code.tif", "icams": ".icams.sltd.geo.tif"}
#: unit of the portal kinds (see :data:`kansho.prep.LAYER_UNITS`); gacos: per file (sltd rad or ztd m)
UNITS = {"tide": "m_disp", "iono": "rad_advance", "icams": "rad"}
#: the stand-in ``files`` value of a computed layer's dates
COMPUTED = Path("<computed>")
#: units a user layer may declare
USER_UNITS = ("rad", "m_los", "m_zenith")


@dataclass
class LayerSpec:
    """One layer of a run: its kind, folder, unit (``""`` for gacos: per file) and file per date."""

    kind: str
    folder: Path
    unit: str
    files: dict[int, Path]
    missing: str = "drop"  # a pair lacking the layer for a date: "drop" it or "keep" it uncorrected
    force: bool = False  # keep the correction for every pair (no decision)
    found: list[int] = field(default_factory=list)  # every date with a file in the folder
    #: a layer Kansho computes itself (the tide when no TIDE/ folder is given): the acquisition time
    #: ``HH:MM:SS`` UTC of every epoch; ``files`` then maps each date to :data:`COMPUTED`
    computed_time: str = ""

    @property
    def source(self) -> str:
        """Where the layer comes from, for the reports: its folder, or how it was computed."""
        if self.computed_time:
            return f"computed (IERS 2010 solid-earth tide at {self.computed_time} UTC, kansho.tides)"
        return str(self.folder)


def parse_layer_list(text: str | None) -> list[str]:
    """``"gacos, tide"`` → ``["tide", "gacos"]`` (in :data:`ORDER`); ``"auto"`` → ``["auto"]``.

    Raises ValueError naming an unknown kind.
    """
    if not text or not text.strip():
        return []
    names = [t.strip().lower() for t in text.replace(" ", ",").split(",") if t.strip()]
    if names == ["auto"]:
        return ["auto"]
    bad = [n for n in names if n not in ORDER and n != "all"]
    if bad:
        raise ValueError(f"unknown layer {bad[0]!r}: give some of {', '.join(ORDER)} (or auto)")
    if "all" in names:
        return list(ORDER)
    return [k for k in ORDER if k in names]


def find_layer_files(kind: str, folder: str | Path) -> dict[int, Path]:
    """``date → file`` of a layer ``kind`` in ``folder`` (and its ``epochs/yyyymmdd/`` sub-folders).

    gacos: :func:`kansho.io.gacos.find_delay_files`. Raises :class:`InputError` if the folder is
    missing or holds no file of the kind.
    """
    root = Path(folder).expanduser()
    if kind == "gacos":
        return find_delay_files(root)
    if not root.is_dir():
        raise InputError(root, f"{kind} layer folder not found")
    cands = layer_candidates(root)
    if kind == "user":
        pat = re.compile(r"^(\d{8})[^/]*\.tiff?$", re.IGNORECASE)
    else:
        pat = re.compile(r"^(\d{8})" + re.escape(SUFFIXES[kind]) + "$", re.IGNORECASE)
    found: dict[int, Path] = {}
    for p in sorted(cands):
        m = pat.match(p.name)
        if m is not None:
            found.setdefault(int(m.group(1)), p)
    if not found:
        what = "yyyymmdd*.tif" if kind == "user" else f"yyyymmdd{SUFFIXES[kind]}"
        raise InputError(root, f"no {kind} layer files ({what})")
    return dict(sorted(found.items()))


def read_layer(kind: str, path: Path, unit: str) -> tuple[npt.NDArray[np.float32], Grid, str]:
    """One epoch's layer: values (NaN = no data: 0, non-finite, the file's nodata), its grid, its unit.

    gacos files carry their own unit (``rad`` for LiCSAR's sltd, ``m_zenith`` for a ZTD); the
    others have ``unit``. Raises :class:`InputError` naming the file if it cannot be read.
    """
    if kind == "gacos":
        dm = read_delay(path)
        return dm.data, dm.grid, "m_zenith" if dm.kind == KIND_ZTD_M else "rad"
    grid = read_grid(path)
    data = read_raster(path, dtype=np.float32)
    data = np.where(np.isfinite(data) & (data != 0), data, np.nan).astype(np.float32)
    return data, grid, unit
