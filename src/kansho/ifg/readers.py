"""Readers of coregistered SLC stacks with their per-date metadata and radar-coded geometry.

Formats (all coregistered on one radar grid of ``(n_azimuth_lines, n_range_samples)``):

``snap_zarr``
    SNAP "ZNAP" Zarr v2 products (one ``*.znap`` folder per date, as written by SNAP's Zarr
    writer): ``i_<pol>_<ddMonYYYY>`` / ``q_<pol>_<ddMonYYYY>`` bands, ``latitude_<pol>`` /
    ``longitude_<pol>`` / ``elevation_<pol>`` rasters, tie-point grids ``incident_angle`` and
    ``slant_range_time`` and ``SNAP/product_metadata.json`` (the reference's Abstracted_Metadata
    with a ``Baselines`` table: perpendicular baseline per reference/secondary date).
``gamma``
    ``yyyymmdd.slc`` (or ``.rslc``) big-endian FCOMPLEX / SCOMPLEX binaries, each with its GAMMA
    parameter file ``yyyymmdd.slc.par``.
``envi``
    ``yyyymmdd.slc`` binaries with an ENVI header ``yyyymmdd.slc.hdr`` (data type 6 = complex64,
    ``byte order``), radar metadata as extra header keys (same names as GAMMA's).
``geotiff``
    ``yyyymmdd.slc.tif`` complex GeoTIFFs (CFloat32 or CInt16) with radar metadata as tags.

For the three binary formats the stack folder also holds ``baselines`` (perpendicular baseline
per date, any form :func:`kansho.io.inputs.read_baselines` reads) and ``geometry/`` with
``lat``, ``lon``, ``hgt`` (and optionally ``inc`` incidence in degrees, ``range`` slant range in
m) as big-endian float32 rasters ``<name>.rdr`` of the SLC size (a radar-coded lookup table).

Per-date radar metadata keys (GAMMA names): ``date``, ``radar_frequency`` (Hz),
``range_pixel_spacing``, ``azimuth_pixel_spacing`` (m), ``near_range_slc`` (m),
``incidence_angle`` (deg), ``heading`` (deg), ``center_time`` (s of day).

Each format is one :class:`SlcReader` in :data:`READERS` (its name, how a folder is recognised
and how it is opened); a new format is one reader function and one entry there.

Baseline sign: Kansho's B⊥ of a date is the one whose pair difference B⊥(d2) − B⊥(d1) gives the
topographic phase +4π·B⊥·h / (λ·R·sin θ) of the interferogram d1·conj(d2) (Hanssen 2001).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kansho.errors import InputError
from kansho.ifg.binary import is_envi_stack, is_gamma_stack, is_geotiff_stack, open_envi, open_gamma, open_geotiff
from kansho.ifg.slc import SlcSource, SlcStack, read_slc
from kansho.ifg.snap import is_snap_stack, open_snap

log = logging.getLogger(__name__)

__all__ = ["FORMATS", "READERS", "SlcReader", "SlcSource", "SlcStack", "open_slc_stack", "read_slc"]


@dataclass(frozen=True)
class SlcReader:
    """One SLC stack format: its ``name`` (the ``format`` option), ``detect(folder)`` (True when the
    folder looks like this format) and ``open(folder)`` (the :class:`SlcStack`; :class:`InputError`
    naming the file on any fault)."""

    name: str
    detect: Callable[[Path], bool]
    open: Callable[[Path], SlcStack]


#: the formats, in the order ``format: auto`` tries them (GeoTIFF and ENVI stacks also match GAMMA's file names)
READERS: tuple[SlcReader, ...] = (
    SlcReader("snap_zarr", is_snap_stack, open_snap),
    SlcReader("geotiff", is_geotiff_stack, open_geotiff),
    SlcReader("envi", is_envi_stack, open_envi),
    SlcReader("gamma", is_gamma_stack, open_gamma),
)
FORMATS = tuple(r.name for r in READERS)
_BY_NAME = {r.name: r for r in READERS}


def open_slc_stack(path: str | Path, fmt: str = "auto") -> SlcStack:
    """Open a coregistered SLC stack folder (see the module docstring for the formats).

    Raises :class:`InputError` (one line, naming the file) for: no SLCs, SLCs of different
    shapes, an SLC without its parameter file, a date without metadata (no baseline), fewer than
    two dates, or unreadable metadata.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise InputError(root, "SLC stack folder not found")
    reader = _detect(root) if fmt == "auto" else _BY_NAME.get(fmt)
    if reader is None:
        raise InputError(root, f"unknown SLC stack format {fmt!r} (expected one of {', '.join(FORMATS)})")
    stack = reader.open(root)
    if stack.n_dates < 2:
        raise InputError(root, f"only {stack.n_dates} SLC date(s); an interferogram needs two")
    log.info(
        "%s: %s stack, %d dates (%d-%d), %dx%d px, wavelength %.5f m",
        root, stack.format, stack.n_dates, stack.dates[0], stack.dates[-1], stack.shape[1], stack.shape[0],
        stack.wavelength,
    )
    return stack


def _detect(root: Path) -> SlcReader:
    for reader in READERS:
        if reader.detect(root):
            return reader
    raise InputError(root, "no SLC stack recognised (expected *.znap folders, "
                           "yyyymmdd.slc(+.par/.hdr) or yyyymmdd.slc.tif)")
