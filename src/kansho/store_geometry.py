"""The geometry arrays of the stack store (LOS unit vector and DEM height), written by ingest
(:func:`kansho.store.create_stack`) and prepared like the pairs: clip, mask, multilook."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import zarr

from kansho.io.inputs import InputSet
from kansho.io.multilook import multilook
from kansho.io.prepare import PrepPlan
from kansho.io.rasters import read_window


class PairReader(Protocol):
    """What :func:`write_geometry` takes of ingest's reader: the inputs, the prep plan, the input window's
    first row and column, the multilook factor and its least fraction of valid looks, the output width."""

    inputs: InputSet
    plan: PrepPlan
    ri0: int
    ci0: int
    nlook: int
    min_valid_looks: float
    nx: int

#: geometry arrays of the store, the InputSet.geometry key each comes from, and their units
GEOMETRY_ARRAYS = {"los_e": "E", "los_n": "N", "los_u": "U", "hgt": "hgt"}
GEOMETRY_UNITS = {"los_e": "1", "los_n": "1", "los_u": "1", "hgt": "m"}


def write_geometry(g: zarr.Group, reader: PairReader, ny: int, block: int,
                   codec: Any) -> dict[str, npt.NDArray[np.float32]]:
    """Write los_e, los_n, los_u and hgt (prepared like the pairs: clip, mask, multilook); return the
    LOS components written, ``{"E", "N", "U"} → (ny, nx)`` (those the input has)."""
    inputs, plan, nlook, nx = reader.inputs, reader.plan, reader.nlook, reader.nx
    los: dict[str, npt.NDArray[np.float32]] = {}
    for name, key in GEOMETRY_ARRAYS.items():
        src = inputs.geometry.get(key)
        a = g.create_array(name, shape=(ny, nx), chunks=(min(block * 4, ny), min(block * 4, nx)), dtype="f4",
                           fill_value=np.nan, dimension_names=["y", "x"], compressors=codec)
        v = None
        if src is not None:
            full = (slice(reader.ri0, reader.ri0 + ny * nlook), slice(reader.ci0, reader.ci0 + nx * nlook))
            v = read_window(src, full, inputs.geometry_specs.get(key), dtype=np.float32)
            if key != "hgt":
                v[v == 0] = np.nan
            if plan.mask is not None:
                v[plan.mask[: ny * nlook, : nx * nlook]] = np.nan
            v = multilook(v, nlook, min_valid=reader.min_valid_looks) if nlook > 1 else v
        elif key in inputs.los:  # a fixed LOS from incidence and heading (no E/N/U rasters)
            v = np.full((ny, nx), inputs.los[key], np.float32)
        if v is not None:
            a[:] = v
            if key != "hgt":
                los[key] = v
    return los
