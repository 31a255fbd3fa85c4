"""Read access to a finished run folder for the viewer: maps at screen resolution, per-pixel time
series sliced from ``cum.h5`` (never the whole cube), re-referencing, network and QC tables.

Everything here reads files and returns arrays or plain dicts; the HTTP layer is in
:mod:`kansho.viewer.server`. Pixel addresses are ``(row, col)``, 0-based, on the run's grid;
a reference area is ``(row0, row1, col0, col1)``, end-exclusive (as ``refarea`` in ``cum.h5``).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import h5py
import numpy as np
import numpy.typing as npt

from kansho._dates import years_since_first
from kansho.errors import InputError, KanshoError
from kansho.grid import Grid
from kansho.run import Run, open_run

log = logging.getLogger(__name__)

#: layers drawn with a diverging, zero-centred colour map
SYMMETRIC_LAYERS = frozenset({"vel", "vel.filt", "vel.mskd", "vel.filt.mskd", "cum", "cum_filt", "vintercept"})
#: largest reference box (pixels per side) read for on-the-fly re-referencing
MAX_REF_SIDE = 101
_MAP_CACHE_ITEMS = 48


class ViewerError(KanshoError):
    """A request the viewer cannot answer; ``status`` is the HTTP status, ``code`` a short tag."""

    def __init__(self, message: str, status: int = 400, code: str = "bad_request") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def safe_path(root: Path, relative: str) -> Path:
    """Resolve ``relative`` (as sent in a URL) inside ``root``; :class:`ViewerError` (403) otherwise.

    Percent-encoding is undone repeatedly (so ``%252e%252e`` cannot hide a ``..``); absolute
    paths, drive letters, backslashes, NUL bytes, any ``..`` component, and symbolic links that
    lead out of ``root`` are refused.
    """
    text = relative
    for _ in range(5):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    else:
        raise ViewerError("path refused: too many levels of percent-encoding", 403, "forbidden_path")
    parts = text.replace("\\", "/").split("/")
    if ("\x00" in text or "\\" in text or text.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", text)
            or ".." in parts):
        raise ViewerError(f"path refused: {relative!r} is not inside the run folder", 403, "forbidden_path")
    base = root.resolve()
    target = (base / text).resolve()
    if not target.is_relative_to(base):
        raise ViewerError(f"path refused: {relative!r} is not inside the run folder", 403, "forbidden_path")
    return target


def parse_ref(text: str | None, shape: tuple[int, int], grid: Grid | None = None) -> tuple[int, int, int, int] | None:
    """The ``ref`` of a request → a reference box ``(row0, row1, col0, col1)`` inside ``shape``; ``None`` for empty.

    Accepts the syntax of the run options (:func:`kansho.config.parse_ref`): ``'x1:x2/y1:y2'``
    (columns, then rows, end-exclusive) or ``'lon1/lon2/lat1/lat2'`` (needs ``grid``: the box of
    pixels holding its corners), and ``'r0:r1,c0:c1'`` (rows first), which the viewer's page sends.
    """
    if text is None or text.strip() in ("", "run", "none"):
        return None
    box = _ref_box(text.strip(), grid)
    r0, r1, c0, c1 = box
    ny, nx = shape
    if not (0 <= r0 < r1 <= ny and 0 <= c0 < c1 <= nx):
        raise ViewerError(f"reference box {text!r} is not a non-empty box inside the {ny} x {nx} grid",
                          400, "outside_grid")
    if r1 - r0 > MAX_REF_SIDE or c1 - c0 > MAX_REF_SIDE:
        raise ViewerError(f"reference box {text!r} is larger than {MAX_REF_SIDE} px per side")
    return box


def _ref_box(text: str, grid: Grid | None) -> tuple[int, int, int, int]:
    from kansho.config import parse_ref as parse_config_ref

    if "," in text:
        try:
            rows, cols = text.split(",")
            r0, r1 = (int(v) for v in rows.split(":"))
            c0, c1 = (int(v) for v in cols.split(":"))
        except ValueError:
            raise ViewerError(f"reference must be 'row0:row1,col0:col1', 'x1:x2/y1:y2' or 'lon1/lon2/lat1/lat2', "
                              f"got {text!r}") from None
        return r0, r1, c0, c1
    try:
        kind, v = parse_config_ref(text)
    except ValueError as exc:
        raise ViewerError(str(exc)) from None
    if kind == "pixel":
        x1, x2, y1, y2 = (int(a) for a in v)
        return y1, y2, x1, x2
    if grid is None:
        raise ViewerError(f"reference {text!r} in lon/lat needs the run's grid")
    try:
        return grid.lonlat_box(*v)
    except ValueError:
        raise ViewerError(f"reference {text!r} has a coordinate that is not a finite number on the grid",
                          400, "outside_grid") from None


@dataclass(frozen=True)
class Series:
    """The time series of one pixel, already re-referenced (mm)."""

    row: int
    col: int
    dates: npt.NDArray[np.int64]
    t: npt.NDArray[np.float64]
    cum: npt.NDArray[np.float64]
    cum_filt: npt.NDArray[np.float64] | None
    #: σ (mm) of each epoch's offset across network gaps (``cum_std`` of ``cum.h5``), None if the run has none
    cum_std: npt.NDArray[np.float64] | None = None


class RunData:
    """A run folder ``OUT`` opened for viewing (thread-safe; h5py access is serialised).

    Reads through :class:`kansho.run.Run` (``run``); keeps the cube files open with a large chunk
    cache and an LRU cache of maps. Needs ``cum.h5`` (time series) and ``results/*.tif`` (maps);
    the filtered cube, ``info/`` and the stack store are optional. :class:`InputError` names the
    folder if it is not a run.
    """

    def __init__(self, out: str | Path | Run) -> None:
        self.run = out if isinstance(out, Run) else open_run(Path(out).resolve())
        self.root = self.run.path.resolve()
        self.cum_path = self.run.cum_path()
        self.filt_path = self.run.cum_path(filtered=True)
        self._lock = threading.RLock()
        self._h5: dict[str, h5py.File] = {}
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.dates = self.run.dates
        self.t = years_since_first(self.dates)
        self.shape = self.run.cum_shape
        self.refarea: tuple[int, int, int, int] | None = self.run.refarea
        self.grid = self._grid()
        self.has_filt = self.run.has_filt
        self.layers = self.run.layers()
        self._model: str | None = None
        self._weights: tuple[npt.NDArray[np.float64] | None] | None = None

    # ------------------------------------------------------------------ files
    def _grid(self) -> Grid:
        """The run's grid, or pixel coordinates (1 unit per pixel) for a cube with no georeference."""
        try:
            return self.run.grid
        except InputError:
            return Grid(self.shape[1], self.shape[0], (0.0, 1.0, 0.0, 0.0, 0.0, -1.0))

    def _file(self, filt: bool) -> h5py.File:
        key = "filt" if filt else "cum"
        with self._lock:
            if key not in self._h5:
                path = self.filt_path if filt else self.cum_path
                if not path.is_file():
                    raise ViewerError(f"{path.name} is not in this run", 404, "not_found")
                try:
                    self._h5[key] = h5py.File(path, "r", rdcc_nbytes=64 * 1024 * 1024, rdcc_nslots=100_003)
                except OSError as exc:
                    raise InputError(path, f"not a readable HDF5 file ({exc})") from None
            return self._h5[key]

    def close(self) -> None:
        with self._lock:
            for f in self._h5.values():
                f.close()
            self._h5.clear()

    def _cached(self, key: tuple[Any, ...], make: Any) -> Any:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = make()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > _MAP_CACHE_ITEMS:
                self._cache.popitem(last=False)
        return value

    # ------------------------------------------------------------------ pixels
    def check_pixel(self, row: int, col: int) -> None:
        """:class:`ViewerError` (400, ``outside_grid``) unless ``(row, col)`` is on the grid."""
        ny, nx = self.shape
        if not (0 <= row < ny and 0 <= col < nx):
            raise ViewerError(f"pixel (row {row}, col {col}) is outside the {ny} x {nx} grid", 400, "outside_grid")

    def rowcol(self, lon: float, lat: float) -> tuple[int, int]:
        try:
            row, col = self.grid.rowcol(lon, lat)
        except (OverflowError, ValueError):  # infinite or NaN pixel coordinate: not on the grid
            row = col = -1
        ny, nx = self.shape
        if not (0 <= row < ny and 0 <= col < nx):
            raise ViewerError(f"lon {lon}, lat {lat} is outside the grid", 400, "outside_grid")
        return row, col

    def _ref_series(self, filt: bool, ref: tuple[int, int, int, int]) -> npt.NDArray[np.float64]:
        r0, r1, c0, c1 = ref

        def make() -> npt.NDArray[np.float64]:
            with self._lock:
                block = np.asarray(self._file(filt)["cum"][:, r0:r1, c0:c1], np.float64)
            fin = np.isfinite(block).reshape(block.shape[0], -1)
            if not fin.all(axis=0).any():
                raise ViewerError(f"the reference area rows {r0}:{r1}, cols {c0}:{c1} has no pixel with data at "
                                  "every epoch", 404, "no_data")
            good = fin.all(axis=0)
            return block.reshape(block.shape[0], -1)[:, good].mean(axis=1)

        return self._cached(("refts", filt, ref), make)

    def series(self, row: int, col: int, ref: tuple[int, int, int, int] | None = None) -> Series:
        """Displacement (mm) of one pixel at every epoch, sliced from ``cum.h5`` and the filtered cube.

        ``ref`` re-references to the mean of that box (pixels with data at every epoch); ``None``
        keeps the run's own reference area. :class:`ViewerError` (404, ``no_data``) if the pixel
        has no finite value.
        """
        self.check_pixel(row, col)
        with self._lock:
            f = self._file(False)
            cum = np.asarray(f["cum"][:, row, col], np.float64)
            std = np.asarray(f["cum_std"][:, row, col], np.float64) if "cum_std" in f else None
            filt = np.asarray(self._file(True)["cum"][:, row, col], np.float64) if self.has_filt else None
        if not np.isfinite(cum).any():
            raise ViewerError(f"no data at pixel (row {row}, col {col})", 404, "no_data")
        if ref is not None:
            cum = cum - self._ref_series(False, ref)
            if filt is not None:
                filt = filt - self._ref_series(True, ref)
        return Series(row, col, self.dates, self.t, cum, filt, std)

    @property
    def temporal_model(self) -> str:
        """The run's ``invert.model`` (``linear`` | ``annual`` | ``auto``) from ``info/parameters.yaml``;
        ``linear`` for a folder without it (a LiCSBAS run: its model is the line)."""
        if self._model is None:
            self._model = "linear"
            if self.run.layout.info_file("parameters").is_file():
                try:
                    self._model = str(self.run.config().invert.model)
                except (KanshoError, OSError, ValueError) as exc:
                    log.warning("the run's temporal model is unknown, the line is drawn: %s", exc)
        return self._model

    @property
    def epoch_weights(self) -> npt.NDArray[np.float64] | None:
        """The epochs' weights of the run's velocity fit (``info/13epoch_noise.txt``, ``invert.epoch_weight``);
        None where the epochs were weighted equally (or the folder has no such file: a LiCSBAS run)."""
        if self._weights is None:
            w: npt.NDArray[np.float64] | None = None
            path = self.run.layout.info_file("epoch_noise")
            if path.is_file():
                rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
                try:
                    vals = np.array([float(r[2]) for r in rows], np.float64)
                    w = vals if vals.size == len(self.dates) and np.all(vals > 0) else None
                except (IndexError, ValueError):
                    w = None
                if w is None and rows:
                    log.warning("%s: unreadable epoch weights, the line is drawn with equal weights", path)
            self._weights = (w,)
        return self._weights[0]

    def uses_annual(self, row: int, col: int) -> bool:
        """Whether the run's model at the pixel holds an annual term: ``invert.model`` ``annual``, or
        ``auto`` where the pixel's ``bridge_model`` (``cum.h5``) is an annual candidate (code 1 or 3)."""
        model = self.temporal_model
        if model != "auto":
            return model == "annual"
        with self._lock:
            f = self._file(False)
            code = int(f["bridge_model"][row, col]) if "bridge_model" in f else -1
        return code in (1, 3)

    def pixel_values(self, row: int, col: int) -> dict[str, float | None]:
        """Value of every ``results/*.tif`` at the pixel (``None`` for no data)."""
        import rasterio
        from rasterio.errors import RasterioError
        from rasterio.windows import Window

        self.check_pixel(row, col)
        out: dict[str, float | None] = {}
        for name in self.layers:
            try:
                with rasterio.open(self.run.map_path(name)) as src:
                    v = float(src.read(1, window=Window(col, row, 1, 1))[0, 0])
                    nd = src.nodata
            except (RasterioError, OSError, ValueError) as exc:  # one bad layer must not break the click
                log.warning("%s: %s", name, exc)
                continue
            out[name] = None if (not np.isfinite(v) or (nd is not None and v == nd)) else v
        return out

    # ------------------------------------------------------------------ maps
    def map_array(self, layer: str, step: int) -> npt.NDArray[np.float32]:
        """``results/<layer>.tif`` decimated by ``step`` (nearest pixel, every ``step``-th row/col)."""
        if layer not in self.layers:
            have = ", ".join(self.layers)
            have = have if len(have) <= 200 else have[:197] + "..."
            raise ViewerError(f"no map {layer[:40]!r} in results/ (have: {have})", 404, "not_found")

        def make() -> npt.NDArray[np.float32]:
            import rasterio

            with rasterio.open(self.run.map_path(layer)) as src:
                a = src.read(1, out_shape=(-(-src.height // step), -(-src.width // step)),
                             resampling=rasterio.enums.Resampling.nearest).astype(np.float32)
                nd = src.nodata
            if nd is not None and np.isfinite(nd):
                a[a == nd] = np.nan
            a.setflags(write=False)
            return a

        return self._cached(("map", layer, step), make)

    def map_window(self, layer: str, box: tuple[int, int, int, int], step: int) -> npt.NDArray[np.float64]:
        """``results/<layer>.tif`` over ``box`` (row0, row1, col0, col1), every ``step``-th pixel
        (only that window is read: a zoomed view of a large frame)."""
        if layer not in self.layers:
            self.map_array(layer, step)  # the viewer's 404 naming the layers there are
        import rasterio
        from rasterio.windows import Window

        r0, r1, c0, c1 = box
        with rasterio.open(self.run.map_path(layer)) as src:
            a = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0),
                         out_shape=(-(-(r1 - r0) // step), -(-(c1 - c0) // step)),
                         resampling=rasterio.enums.Resampling.nearest).astype(np.float64)
            nd = src.nodata
        if nd is not None and np.isfinite(nd):
            a[a == nd] = np.nan
        return a

    def cum_plane(self, epoch: int, step: int, filt: bool = False) -> npt.NDArray[np.float32]:
        """Cumulative displacement (mm) at epoch index ``epoch``, every ``step``-th row and column."""
        if not 0 <= epoch < self.dates.size:
            raise ViewerError(f"epoch index {epoch} outside 0..{self.dates.size - 1}", 400, "bad_epoch")

        def make() -> npt.NDArray[np.float32]:
            with self._lock:
                a = np.asarray(self._file(filt)["cum"][epoch, ::step, ::step], np.float32)
            a.setflags(write=False)
            return a

        return self._cached(("cum", filt, epoch, step), make)

    def cum_block(self, e0: int, e1: int, step: int, box: tuple[int, int, int, int] | None = None,
                  filt: bool = False) -> npt.NDArray[np.float64]:
        """Epochs ``e0:e1`` of ``cum.h5`` (or the filtered cube), every ``step``-th row and column,
        within ``box`` (row0, row1, col0, col1) if given (mm)."""
        r0, r1, c0, c1 = box if box is not None else (0, self.shape[0], 0, self.shape[1])
        with self._lock:
            return np.asarray(self._file(filt)["cum"][e0:e1, r0:r1:step, c0:c1:step], np.float64)

    def ref_series(self, ref: tuple[int, int, int, int], filt: bool = False) -> npt.NDArray[np.float64]:
        """The series (mm) a re-reference to the box ``ref`` subtracts at every epoch."""
        return self._ref_series(filt, ref)

    def layer_ref_value(self, layer: str, ref: tuple[int, int, int, int], epoch: int = 0) -> float:
        """Mean of a layer over a reference box at full resolution (what re-referencing subtracts)."""
        r0, r1, c0, c1 = ref
        block: npt.NDArray[np.floating[Any]]
        if layer in ("cum", "cum_filt"):
            with self._lock:
                block = np.asarray(self._file(layer == "cum_filt")["cum"][epoch, r0:r1, c0:c1], np.float64)
        else:
            from kansho.io.geotiff import read_raster

            block = read_raster(self.run.map_path(layer), (slice(r0, r1), slice(c0, c1)), dtype=np.float64)
        fin = np.isfinite(block)
        if not fin.any():
            raise ViewerError(f"the reference area rows {r0}:{r1}, cols {c0}:{c1} has no data in {layer}",
                              404, "no_data")
        return float(block[fin].mean())

    def hgt(self, step: int) -> npt.NDArray[np.float32] | None:
        """Heights (m) decimated by ``step`` from ``results/hgt.tif`` or the stack store; ``None``."""
        if "hgt" in self.layers:
            return self.map_array("hgt", step)
        import zarr

        try:
            hgt = self.run.stack.group["hgt"]
            if not isinstance(hgt, zarr.Array):
                return None
            return np.asarray(hgt[::step, ::step], np.float32)
        except (KanshoError, OSError, KeyError, ValueError):
            return None

    # ------------------------------------------------------------------ tables
    def _text(self, key: str) -> str:
        """An ``info/`` table's text ('' if the run has none)."""
        return self.run.info_text(key, missing_ok=True)

    def qc(self) -> dict[str, Any]:
        """Dropped pairs (``info/dropped_pairs.csv``), per-pair statistics, mask and reference notes."""
        dropped: list[dict[str, str]] = []
        text = self._text("dropped")
        if text:
            dropped = [dict(r) for r in csv.DictReader(io.StringIO(text))]
        stats: list[dict[str, Any]] = []
        text = self._text("ifg_stats")
        if text:
            for line in text.splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                parts = line.split(None, 6)
                if len(parts) < 6:
                    continue
                stats.append({"pair": parts[0], "bperp_m": _num(parts[1]), "dt_day": _num(parts[2]),
                              "coverage": _num(parts[3]), "mean_coh": _num(parts[4]), "used": parts[5] == "yes",
                              "note": parts[6].strip() if len(parts) > 6 else ""})
        return {"dropped": dropped, "ifg_stats": stats, "mask_stats": self._text("mask_stats"),
                "ref": self._text("ref"), "gaps": self._text("network_gaps"), "timings": self._text("timings")}

    def network(self) -> dict[str, Any]:
        """Pairs (with status ``used`` / ``1-1`` / ``1-2``, the reason, and the pixels step 1-2
        corrected / nulled for unwrapping errors) and epochs with B⊥ (m)."""
        qc = self.qc()
        fixes = self._pixel_fixes()
        why = {d["pair"]: (d.get("step", ""), d.get("reason", "")) for d in qc["dropped"]}
        pairs: list[str] = [s["pair"] for s in qc["ifg_stats"]]
        epochs: list[int] = []
        bperp: list[float | None] = []
        try:
            st = self.run.stack
            pairs = pairs or st.pair_names()
            epochs = [int(e) for e in st.epochs]
            bperp = [float(b) if np.isfinite(b) else None for b in st.bperp]
        except (KanshoError, OSError, KeyError, ValueError):
            with self._lock:
                f = self._file(False)
                bp = np.asarray(f["bperp"][()], np.float64) if "bperp" in f else np.full(self.dates.size, np.nan)
            known = {int(d) for p in pairs for d in p.split("_")} | {int(d) for d in self.dates}
            epochs = sorted(known)
            lookup = {int(d): float(b) for d, b in zip(self.dates, bp, strict=True) if np.isfinite(b)}
            bperp = [lookup.get(e) for e in epochs]
        rows = []
        for p in pairs:
            d1, d2 = (int(x) for x in p.split("_"))
            step, reason = why.get(p, ("", ""))
            n_fix, n_null = fixes.get(p, (0, 0))
            rows.append({"pair": p, "date1": d1, "date2": d2, "status": step or "used", "reason": reason,
                         "corrected": n_fix, "nulled": n_null})
        return {"epochs": epochs, "bperp": bperp, "pairs": rows}

    def _pixel_fixes(self) -> dict[str, tuple[int, int]]:
        """Per pair name, the pixels step 1-2 corrected and nulled (empty for a run without the record)."""
        try:
            lres: Any = self.run.result("loops")  # LoopsResult (the viewer imports no chain internals)
            names = self.run.stack.pair_names()
            return {names[i]: (int(a), int(b))
                    for i, a, b in zip(lres.pairs_in, lres.n_fixed, lres.n_nulled, strict=True)}
        except (KanshoError, OSError, KeyError, ValueError, AttributeError, IndexError):
            return {}


def _num(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if np.isfinite(v) else None
