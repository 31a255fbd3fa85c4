"""The input layouts :func:`kansho.io.inputs.discover_inputs` recognises, in the order it tries them.

A new layout is one module here with a :class:`~kansho.io.layouts.base.Layout` subclass (its name,
``detect``, and where they differ from a flat GeoTIFF folder: ``metadata_dirs``, ``geometry``,
``grid_and_tags``) and one entry in :data:`LAYOUTS`.
"""

from __future__ import annotations

from pathlib import Path

from kansho.errors import InputError
from kansho.io.layouts.base import Detected, Layout
from kansho.io.layouts.envi import EnviLayout
from kansho.io.layouts.geocml import GeocmlLayout
from kansho.io.layouts.geotiff_pairs import GeotiffPairsLayout
from kansho.io.layouts.licsar import LicsarLayout
from kansho.io.pairnames import check_utf8_path

__all__ = ["LAYOUTS", "Detected", "Layout", "detect_layout"]

#: tried in this order; the first whose ``detect`` finds pairs is used
LAYOUTS: tuple[Layout, ...] = (GeocmlLayout(), LicsarLayout(), GeotiffPairsLayout(), EnviLayout())


def detect_layout(folder: Path) -> tuple[Layout, Detected]:
    """The first layout of :data:`LAYOUTS` found in ``folder``, with what it found; InputError if none."""
    check_utf8_path(folder)
    for layout in LAYOUTS:
        found = layout.detect(folder)
        if found is not None:
            return layout, found
    raise InputError(
        folder / "GEOC" if (folder / "GEOC").is_dir() else folder,
        "no interferogram pairs found (expected yyyymmdd_yyyymmdd/ folders with "
        "*.geo.unw.tif or *.unw (LiCSBAS GEOCml), or GeoTIFFs / headed binaries with two dates "
        "and 'unw' in their names)",
    )
