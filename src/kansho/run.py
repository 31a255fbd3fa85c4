"""A finished (or partly finished) run folder, opened for reading: :func:`open_run`.

The one way the rest of Kansho reads a run: the viewer, the exports, the geodesy tools, batch
catalogues and mosaics take a :class:`Run` and never spell a file name of ``OUT/`` themselves
(those live in :mod:`kansho.layout`). :func:`kansho.chain.run_timeseries` returns one too.

Maps are ``(rows, cols)`` float32 with NaN for no data, in the units of
:data:`kansho.layout.MAP_UNITS`; displacement in mm along the line of sight, positive toward the
satellite; dates int yyyymmdd.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kansho._types import BoolArray, Float32Array, Float64Array
from kansho.errors import InputError
from kansho.grid import Grid
from kansho.layout import MAP_UNITS, RunLayout

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import zarr

    from kansho.chain.spec import StepResult
    from kansho.config import RunConfig
    from kansho.io.licsbas_h5 import CumReader
    from kansho.io.licsbas_ts import LicsbasTs
    from kansho.store import Stack


class Run:
    """Typed read access to the run folder ``path`` (see the module docstring).

    Everything is read on first use: opening a run costs nothing. ``InputError`` names the file
    when something asked for is missing or unreadable.
    """

    def __new__(cls, path: str | Path | None = None, **kwargs: Any) -> Run:
        """A :class:`LicsbasRun` when ``path`` is a LiCSBAS ``TS_GEOCml*`` folder, so every reader of
        runs opens LiCSBAS results too."""
        if cls is Run and path is not None:
            from kansho.io.licsbas_ts import is_licsbas_ts

            if is_licsbas_ts(path):
                return super().__new__(LicsbasRun)
        return super().__new__(cls)

    #: True for a LiCSBAS folder read through :class:`LicsbasRun`
    is_licsbas = False

    def __init__(self, path: str | Path, *, timings: dict[str, float] | None = None) -> None:
        self.path = Path(path)
        self.layout = RunLayout(self.path)
        self._timings = timings

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def out(self) -> Path:
        """The run folder (the name the chain uses)."""
        return self.path

    # ------------------------------------------------------------------ maps
    def layers(self) -> list[str]:
        """Names of the maps in ``results/`` (``vel``, ``vel.filt``, ``mask``, ...), sorted."""
        d = self.layout.results
        return sorted(p.name[:-4] for p in d.glob("*.tif")) if d.is_dir() else []

    def has_map(self, name: str) -> bool:
        return self.layout.result_map(name).is_file()

    def map_path(self, name: str) -> Path:
        """The file of a result map (``results/<name>.tif``), for readers that need its tags or windows."""
        return self.layout.result_map(name)

    def read_map(self, name: str) -> Float32Array:
        """``results/<name>.tif`` as (rows, cols) float32."""
        from kansho.io.geotiff import read_raster

        path = self.layout.result_map(name)
        if not path.is_file():
            raise InputError(path, f"no '{name}' map in this run")
        return np.asarray(read_raster(path), np.float32)

    @staticmethod
    def units(name: str) -> str:
        """Units of a result map ('' if unknown)."""
        return MAP_UNITS.get(name, "")

    @cached_property
    def grid(self) -> Grid:
        """The run's grid: from ``results/vel.tif``, else from the georeference of ``cum.h5``."""
        from kansho.io.geotiff import read_grid

        vel = self.layout.result_map("vel")
        if vel.is_file():
            return read_grid(vel)
        with self.cum_reader() as r:
            if r.grid is None:
                raise InputError(self.layout.cum,
                                 "no georeference (corner_lat/lon, post_lat/lon) and no results/vel.tif")
            return r.grid

    @property
    def shape(self) -> tuple[int, int]:
        return self.grid.shape

    def mask(self) -> BoolArray | None:
        """True where the noisy-pixel mask keeps the pixel; None if the run has no mask map."""
        if not self.has_map("mask"):
            return None
        return np.asarray(self.read_map("mask") == 1)

    # ------------------------------------------------------------------ time series
    @property
    def has_cum(self) -> bool:
        return self.layout.cum.is_file()

    @property
    def has_filt(self) -> bool:
        return self.layout.cum_filt.is_file()

    def cum_path(self, filtered: bool = False) -> Path:
        return self.layout.cum_filt if filtered else self.layout.cum

    @contextmanager
    def cum_reader(self, filtered: bool = False) -> Iterator[CumReader]:
        """Epoch-by-epoch reader of ``cum.h5`` (or ``cum_filt.h5``), closed on exit."""
        from kansho.io.licsbas_h5 import CumReader

        with CumReader(self.cum_path(filtered)) as r:
            yield r

    def read_cum(self, filtered: bool = False) -> dict[str, Any]:
        """Every dataset of ``cum.h5`` (or the filtered cube) in memory (:func:`kansho.io.licsbas_h5.read_cum_h5`)."""
        from kansho.io.licsbas_h5 import read_cum_h5

        return read_cum_h5(self.cum_path(filtered))

    def read_cube(self, filtered: bool = False) -> Float32Array:
        """The whole cube ``cum`` of ``cum.h5`` (or the filtered one): (n_epoch, rows, cols) float32 mm."""
        cube = self.cum_dataset("cum", filtered)
        if cube is None:
            raise InputError(self.cum_path(filtered), "no 'cum' dataset: not a LiCSBAS cum.h5")
        return np.asarray(cube, np.float32)

    def cum_dataset(self, name: str, filtered: bool = False) -> np.ndarray | None:
        """One dataset of ``cum.h5`` (or the filtered cube) as stored (e.g. ``bperp``), None if absent."""
        import h5py

        path = self.cum_path(filtered)
        try:
            with h5py.File(path, "r") as f:
                return np.asarray(f[name][()]) if name in f else None
        except OSError as exc:
            raise InputError(path, f"not a readable HDF5 file ({str(exc).splitlines()[0][:160]})") from None

    def cum_pixels(self, pixels: Sequence[tuple[int, int]], filtered: bool = False) -> Float64Array:
        """Series of the pixels ``(row, col)``: (n_pixel, n_epoch) float64 mm; only those pixels are read."""
        import h5py

        path = self.cum_path(filtered)
        try:
            with h5py.File(path, "r") as f:
                cum = f["cum"]
                rows = [np.asarray(cum[:, r, c], np.float64) for r, c in pixels]
                return np.stack(rows) if rows else np.zeros((0, cum.shape[0]))
        except OSError as exc:
            raise InputError(path, f"not a readable HDF5 file ({str(exc).splitlines()[0][:160]})") from None

    @cached_property
    def _cum_header(self) -> tuple[np.ndarray, tuple[int, int, int, int] | None, tuple[int, int]]:
        with self.cum_reader() as r:
            return np.asarray(r.imdates, np.int64), r.refarea_box, r.shape

    @property
    def cum_shape(self) -> tuple[int, int]:
        """(rows, cols) of the cube in ``cum.h5`` (the grid's shape in a consistent run)."""
        return self._cum_header[2]

    @property
    def dates(self) -> np.ndarray:
        """Epochs of the time series, (n_epoch,) int64 yyyymmdd."""
        return self._cum_header[0]

    @property
    def refarea(self) -> tuple[int, int, int, int] | None:
        """The run's one reference area ``(row0, row1, col0, col1)``, end-exclusive."""
        return self._cum_header[1]

    # ------------------------------------------------------------------ stores
    @cached_property
    def stack(self) -> Stack:
        """The stack store (``stack.zarr``)."""
        from kansho.store import open_stack

        return open_stack(self.path)

    @property
    def has_stack(self) -> bool:
        return self.layout.stack.is_dir()

    @property
    def wavelength(self) -> float | None:
        """Radar wavelength (m) from the stack store, None without one."""
        if not self.has_stack:
            return None
        try:
            return float(self.stack.wavelength)
        except (InputError, OSError, KeyError, ValueError):
            return None

    def los(self) -> tuple[Float32Array, Float32Array, Float32Array]:
        """LOS unit vector (east, north, up), ground -> satellite, from the stack store."""
        try:
            arrs = tuple(np.asarray(self.stack.read2d(n), np.float32) for n in ("los_e", "los_n", "los_u"))
        except KeyError:
            raise InputError(self.layout.stack, "has no LOS unit vectors (los_e/los_n/los_u)") from None
        if not all(np.isfinite(a).any() for a in arrs):
            raise InputError(self.layout.stack, "LOS unit vectors are missing (all NaN): the input had no E/N/U "
                                                "rasters, so the LOS direction is unknown")
        return arrs[0], arrs[1], arrs[2]

    @cached_property
    def work(self) -> zarr.Group:
        """The chain's work store (``work/ts.zarr``), read-only."""
        import zarr

        p = self.layout.work_store
        if not p.is_dir():
            raise InputError(p, "no work store: the chain has not run here")
        return zarr.open_group(str(p), mode="r")

    def array(self, name: str) -> zarr.Array:
        """A work array of the chain, read-only (e.g. ``cum``, ``cum_filt``, ``gap``)."""
        import zarr

        try:
            a = self.work[name]
        except KeyError:
            raise InputError(self.layout.work_store / name, "no such work array in this run") from None
        if not isinstance(a, zarr.Array):
            raise InputError(self.layout.work_store / name, "not a work array")
        return a

    def read2d(self, name: str) -> np.ndarray:
        """A 2-D work array of the chain (e.g. ``vel``, ``mask``, ``vel_filt``, ``loop_rms``)."""
        return np.asarray(self.array(name)[:])

    # ------------------------------------------------------------------ records
    @cached_property
    def state(self) -> dict[str, Any]:
        """``work/state.json``: each finished step's record ({} without one)."""
        p = self.layout.state
        if not p.is_file():
            return {}
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(p, f"unreadable ({exc})") from None
        return data if isinstance(data, dict) else {}

    @property
    def has_state(self) -> bool:
        """Whether the chain left its step records (:attr:`state`)."""
        return self.layout.state.is_file()

    def steps_done(self) -> list[str]:
        return list(self.state)

    def result(self, step: str) -> StepResult:
        """The typed result of a finished step (e.g. ``run.result("loops").ref``)."""
        from kansho.chain.registry import result_from_record

        rec = self.state.get(step)
        if rec is None:
            raise InputError(self.layout.state, f"step {step} has not finished in this run")
        return result_from_record(step, rec)

    @property
    def timings(self) -> dict[str, float]:
        """Seconds each step took: in the invocation that returned this run (0 = up to date, skipped),
        else the last time each step ran."""
        if self._timings is not None:
            return self._timings
        return {k: float(v.get("seconds", 0.0)) for k, v in self.state.items()}

    @property
    def n_pair(self) -> int:
        """Interferograms in the stack store (0 if unknown)."""
        rec = self.state.get("ingest", {}).get("result", {})
        return int(rec.get("n_pair", 0))

    @property
    def n_pair_used(self) -> int:
        """Interferograms the inversion used (0 if unknown)."""
        return len(self.state.get("loops", {}).get("result", {}).get("pairs", []))

    def config(self) -> RunConfig:
        """The options of the run, from ``info/parameters.yaml``."""
        from kansho.config import load_config

        return load_config(self.layout.info_file("parameters"))

    def info_text(self, key: str, *, missing_ok: bool = False) -> str:
        """The text of an ``info/`` table (:data:`kansho.layout.INFO_FILES` key); '' if absent and ``missing_ok``."""
        p = self.layout.info_file(key)
        if not p.is_file():
            if missing_ok:
                return ""
            raise InputError(p, "not in this run")
        return p.read_text(errors="replace")


class LicsbasRun(Run):
    """A LiCSBAS time-series folder (``TS_GEOCml*``) behind the :class:`Run` interface.

    Maps are its flat ``results/`` files (``map_path`` gives a GDAL VRT of each, so rasterio
    readers work unchanged), the grid comes from ``EQA.dem_par``, the epochs and reference from
    ``cum.h5`` or, without one, from ``info/13used_image.txt`` and ``info/13ref.txt``
    (:class:`kansho.io.licsbas_ts.LicsbasTs`). It has no stack store and no step records.
    """

    is_licsbas = True

    @cached_property
    def licsbas(self) -> LicsbasTs:
        from kansho.io.licsbas_ts import LicsbasTs

        return LicsbasTs(self.path)

    def layers(self) -> list[str]:
        return self.licsbas.layers()

    def has_map(self, name: str) -> bool:
        return name in self.layers()

    def map_path(self, name: str) -> Path:
        """A GDAL VRT over ``results/<name>`` (the flat file itself is :meth:`flat_path`)."""
        if not self.has_map(name):
            raise InputError(self.licsbas.map_file(name), f"no '{name}' map in this LiCSBAS folder")
        return self.licsbas.vrt(name)

    def flat_path(self, name: str) -> Path:
        return self.licsbas.map_file(name)

    def read_map(self, name: str) -> Float32Array:
        return self.licsbas.read_map(name)

    @cached_property
    def grid(self) -> Grid:
        return self.licsbas.grid

    @property
    def cum_shape(self) -> tuple[int, int]:
        return self._cum_header[2] if self.has_cum else self.grid.shape

    @property
    def dates(self) -> np.ndarray:
        return self.licsbas.dates

    @property
    def refarea(self) -> tuple[int, int, int, int] | None:
        return self.licsbas.refarea

    @property
    def wavelength(self) -> float | None:
        return self.licsbas.wavelength

    def los(self) -> tuple[Float32Array, Float32Array, Float32Array]:
        return self.licsbas.los()

    def info_text(self, key: str, *, missing_ok: bool = False) -> str:
        """Kansho's table ``key`` from LiCSBAS's ``info/`` (:meth:`kansho.io.licsbas_ts.LicsbasTs.info_text`)."""
        text = self.licsbas.info_text(key)
        if text is None:
            if missing_ok:
                return ""
            raise InputError(self.licsbas.info_file(key), "not in this LiCSBAS folder")
        return text


def open_run(path: str | Path, *, need_cum: bool = True) -> Run:
    """Open the run folder ``path``; ``InputError`` unless it is a folder (with ``cum.h5`` if ``need_cum``).

    A LiCSBAS ``TS_GEOCml*`` folder opens as a :class:`LicsbasRun`; one without ``cum.h5`` (only
    ``results/`` and ``info/``) is accepted: its maps can be viewed and exported, its series not.
    """
    p = Path(path)
    if not p.is_dir():
        raise InputError(p, "not a folder (expected a Kansho run output or a LiCSBAS TS_GEOCml* folder)")
    run = Run(p)
    if isinstance(run, LicsbasRun):
        if need_cum and not run.has_cum:
            log.info("%s: LiCSBAS folder without cum.h5: maps only, no time series", p)
        return run
    if need_cum and not run.has_cum:
        raise InputError(p, "no cum.h5 here: not a finished Kansho/LiCSBAS run folder")
    return run
