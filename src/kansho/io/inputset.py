"""What :func:`kansho.io.inputs.discover_inputs` finds in an input folder: :class:`InputSet`, one
:class:`PairFiles` per interferogram, and the names of the layouts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kansho.grid import Grid
from kansho.io.envi import BinarySpec

__all__ = [
    "GEOMETRY_KEYS",
    "LAYOUT_ENVI",
    "LAYOUT_GEOTIFF_PAIRS",
    "LAYOUT_LICSAR",
    "LAYOUT_LICSBAS_GEOC",
    "InputSet",
    "PairFiles",
]

LAYOUT_LICSAR = "licsar"
LAYOUT_GEOTIFF_PAIRS = "geotiff_pairs"
LAYOUT_LICSBAS_GEOC = "licsbas_geoc"
LAYOUT_ENVI = "envi"

#: per-pixel geometry: LOS unit-vector components (ground → satellite) and the DEM
GEOMETRY_KEYS = ("E", "N", "U", "hgt")


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
        Radar wavelength in metres; ``None`` when the input does not give it (and is not an
        unambiguous Sentinel-1 frame): the chain then needs ``--wavelength`` or ``--freq``.
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
    wavelength: float | None
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

    @property
    def los_files(self) -> bool:
        """The LOS unit vector comes as E/N/U rasters."""
        return all(self.geometry.get(k) is not None for k in ("E", "N", "U"))

    @property
    def has_los(self) -> bool:
        """The LOS unit vector is known: E/N/U rasters, or a constant one from incidence and heading."""
        return self.los_files or all(k in self.los for k in ("E", "N", "U"))

    def files(self) -> list[Path]:
        """Every raster of the set: unw and cc of each pair, then the geometry files present."""
        out: list[Path] = []
        for p in self.pairs:
            out.append(p.unw)
            if p.cc is not None:
                out.append(p.cc)
        out.extend(v for v in self.geometry.values() if v is not None)
        return out
