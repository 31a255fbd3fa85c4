"""Writers of the LiCSAR GEOC layout that ``kansho ts`` reads (Lazecký et al. 2020).

::

    GEOC/yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.geo.unw.tif   float32 rad, NaN = no data
    GEOC/yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.geo.cc.tif    uint8 coherence × 255, 0 = no data
    GEOC/yyyymmdd_yyyymmdd/yyyymmdd_yyyymmdd.geo.iono.tif  float32 rad, removed dispersive phase (optional)
    GEOC/<frame>.geo.E.tif | .N.tif | .U.tif | .hgt.tif    LOS unit vector ground → satellite, DEM (m)
    GEOC/baselines                                         "refdate date bperp btemp" per date
    GEOC/metadata.txt                                      key=value radar metadata

Every file is written under a temporary name and renamed, so a file that exists is complete; the
unwrapped phase is written last, so a pair whose ``.geo.unw.tif`` and ``.geo.cc.tif`` exist is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kansho._dates import to_ordinal
from kansho._files import write_text_atomic
from kansho.grid import Grid
from kansho.io.geotiff import write_geotiff

__all__ = ["pair_done", "pair_paths", "write_pair", "write_pair_layer", "write_static", "write_text_atomic"]


def pair_paths(geoc: Path, d1: int, d2: int) -> tuple[Path, Path]:
    """(unw, cc) paths of a pair."""
    name = f"{d1}_{d2}"
    return geoc / name / f"{name}.geo.unw.tif", geoc / name / f"{name}.geo.cc.tif"


def pair_done(geoc: Path, d1: int, d2: int) -> bool:
    """True if both files of the pair exist (atomic writes: existing means complete)."""
    unw, cc = pair_paths(geoc, d1, d2)
    return unw.is_file() and cc.is_file()


def write_pair(geoc: Path, d1: int, d2: int, unw: npt.NDArray[np.floating], coh: npt.NDArray[np.floating],
               grid: Grid) -> tuple[Path, Path]:
    """Write one pair's coherence (uint8 × 255, 0 = no data) then unwrapped phase (float32, NaN = no data)."""
    unw_p, cc_p = pair_paths(geoc, d1, d2)
    cc8 = np.where(np.isfinite(coh), np.clip(np.rint(np.nan_to_num(coh) * 255), 1, 255), 0).astype(np.uint8)
    write_geotiff(cc_p, cc8, grid, nodata=0, description="coherence x 255")
    write_geotiff(unw_p, np.asarray(unw, np.float32), grid, description="unwrapped phase", units="rad")
    return unw_p, cc_p


def write_pair_layer(geoc: Path, d1: int, d2: int, key: str, data: npt.NDArray[np.floating], grid: Grid, *,
                     description: str | None = None, units: str | None = None) -> Path:
    """Write an extra float32 layer of a pair, ``yyyymmdd_yyyymmdd.geo.<key>.tif`` (NaN = no data)."""
    name = f"{d1}_{d2}"
    path = geoc / name / f"{name}.geo.{key}.tif"
    write_geotiff(path, np.asarray(data, np.float32), grid, description=description, units=units)
    return path


def write_static(
    geoc: Path, frame: str, grid: Grid, layers: dict[str, npt.NDArray[np.floating]], dates: Sequence[int],
    bperp: dict[int, float], metadata: dict[str, str],
) -> None:
    """E/N/U/hgt GeoTIFFs (``layers`` keys), ``baselines`` relative to the first date, ``metadata.txt``."""
    for key in ("E", "N", "U", "hgt"):
        if key in layers:
            write_geotiff(geoc / f"{frame}.geo.{key}.tif", np.asarray(layers[key], np.float32), grid,
                          units="m" if key == "hgt" else None)
    ds = sorted(int(d) for d in dates)
    ref = ds[0]
    ords = to_ordinal(ds)
    lines = [f"{ref} {d} {bperp[d] - bperp[ref]:.4f} {int(o - ords[0])}" for d, o in zip(ds, ords, strict=True)]
    write_text_atomic(geoc / "baselines", "\n".join(lines) + "\n")
    write_text_atomic(geoc / "metadata.txt", "".join(f"{k}={v}\n" for k, v in metadata.items()))
