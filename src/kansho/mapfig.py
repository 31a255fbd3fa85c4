"""Map figures with coordinates: lon/lat axes, a scale bar, a north arrow, categorical colour bars,
a distinct no-data colour, and a per-epoch displacement overview.

Every figure has a fixed layout computed from the grid's aspect (no ``bbox_inches="tight"``, which
draws each figure twice). Maps are drawn with :func:`matplotlib.axes.Axes.imshow` over the grid's
outer edges (``extent``), so the axes' limits are the grid's bounds; a geographic grid's axes are
labelled 99.10°W / 19.40°N and its aspect is 1/cos(latitude), so a kilometre is as long east as north.
Images are resampled to the screen nearest-neighbour on the data (``interpolation_stage="data"``): the
same pixels as matplotlib's default stage, which for a map shrunk on screen resamples the RGBA image
(~0.04-0.09 s more per 1000 × 1000 px map).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator

from kansho import _lonlat, _mapframe
from kansho.grid import EARTH_RADIUS_KM, Grid

__all__ = ["NODATA_COLOUR", "bounds", "category_colours", "format_lat", "format_lon", "overview_panels",
           "plot_categorical_map", "plot_cum_overview", "plot_geo_map", "save_figure"]

#: the colour of pixels without data on every map (light grey: no category or colour map uses it)
NODATA_COLOUR = "#d3d3d3"
#: the colours of the mask's two values
MASK_COLOURS = {0: "#e08214", 1: "#2166ac"}
_MAX_PX = 1000
#: an axes' rectangle in figure fractions: (left, bottom, width, height)
Rect = tuple[float, float, float, float]


def format_lon(v: float, _pos: int | None = None) -> str:
    """A longitude tick: ``99.1°W`` / ``139.69°E`` (``0°``, ``180°``); :func:`kansho._lonlat.format_lon`."""
    return _lonlat.format_lon(v, None)


def format_lat(v: float, _pos: int | None = None) -> str:
    """A latitude tick: ``19.4°N`` / ``33.2°S`` (``0°``); :func:`kansho._lonlat.format_lat`."""
    return _lonlat.format_lat(v, None)


def is_geographic(grid: Grid) -> bool:
    crs = str(grid.crs).upper()
    return "4326" in crs or "WGS84" in crs or "LONGLAT" in crs or "4258" in crs


def bounds(grid: Grid) -> tuple[float, float, float, float]:
    """``(west, east, south, north)`` of the grid's outer pixel edges (matplotlib's ``extent`` order)."""
    x0, dx, _, y0, _, dy = grid.transform
    xs = sorted((x0, x0 + dx * grid.width))
    ys = sorted((y0, y0 + dy * grid.height))
    return xs[0], xs[1], ys[0], ys[1]


#: the height of an axes' title (axes units) where matplotlib would put it: given, so that it does not look at
#: every draw for tick labels on top of the axes to lift it over (there are none on these figures: the same
#: pixels; a 200 x 200 px map 190-204 against 208-246 ms, three alternations on the znver3 VM)
TITLE_Y = 1.0

#: zlib level of the PNG figures: lossless at any level; 1 instead of Pillow's 6 encodes a 250 x 250 px
#: map with its colour bar in 38 instead of 84 ms, for a file ~20 % larger (of ~200 kB)
PNG_LEVEL = 1
#: Pillow's options of every figure's PNG (matplotlib copies them before use)
PNG_OPTIONS = {"compress_level": PNG_LEVEL}


#: the figures' resolution (dots per inch)
SAVE_DPI = 100


def save_figure(fig: Any, path: Path, dpi: int = SAVE_DPI) -> str:
    """Save ``fig`` atomically (temporary name, then rename), close it; returns ``plots/<name>``."""
    try:
        return _replace_png(path, lambda tmp: fig.savefig(tmp, dpi=dpi, pil_kwargs=PNG_OPTIONS))
    finally:
        plt.close(fig)


def _replace_png(path: Path, write: Callable[[Path], object]) -> str:
    """``write`` a PNG to a temporary name beside ``path``, then rename it; returns ``plots/<name>``."""
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    write(tmp)
    tmp.replace(path)
    return f"plots/{path.name}"


#: whether maps of one grid are drawn over a frame kept from the first (:mod:`kansho._mapframe`; the same bytes)
KEEP_FRAMES = True


@contextlib.contextmanager
def map_figure(grid: Grid) -> Iterator[tuple[Any, Any, Any, Callable[[Path], str]]]:
    """One map of ``grid``: ``(fig, ax, cax, save)``, the map's axes with lon/lat ticks, scale bar and north
    arrow (:func:`_geo_axes`), an empty colour-bar axes, and ``save(path)`` writing the figure (returns
    ``plots/<name>``). The axes are those of the grid's :class:`kansho._mapframe.MapFrame` (drawn once, cleared
    after each map) while :data:`KEEP_FRAMES`, else a new figure's. An image added must keep the axes'
    aspect (``imshow(..., aspect=ax.get_aspect())``)."""
    key = (tuple(grid.transform), tuple(grid.shape), str(grid.crs))
    with _mapframe.LOCK:
        frame = _mapframe.frame_for(key, lambda: _new_frame(grid)) if KEEP_FRAMES else None
        if frame is None:
            fig, ax, cax = _layout(grid)
            _geo_axes(ax, grid)
            try:
                yield fig, ax, cax, lambda path: save_figure(fig, path)
            finally:
                plt.close(fig)
            return
        try:
            yield frame.fig, frame.ax, frame.cax, lambda path: _replace_png(path, frame.save)
        except BaseException:
            _mapframe.drop(key)  # whatever the failure left on it: the next map takes a new frame
            raise
        finally:
            frame.clear()


def _new_frame(grid: Grid) -> _mapframe.MapFrame:
    size, ax_rect, cax_rect = _layout_rects(grid)
    assert cax_rect is not None
    fig = Figure(figsize=size, dpi=SAVE_DPI)
    ax = fig.add_axes(ax_rect)
    _geo_axes(ax, grid)
    return _mapframe.MapFrame(fig, ax, cax_rect, PNG_OPTIONS)


def _aspect(grid: Grid) -> float:
    if not is_geographic(grid):
        return 1.0
    _w, _e, s, n = bounds(grid)
    return 1.0 / max(0.05, math.cos(math.radians((s + n) / 2.0)))


def _layout_rects(grid: Grid, map_w: float = 4.6, map_h: float = 4.0, cbar: bool = True
                  ) -> tuple[tuple[float, float], Rect, Rect | None]:
    """The figure size (inches), the map axes' rectangle sized to the grid's aspect and the colour-bar axes'
    of its height beside it (figure fractions; None without ``cbar``)."""
    w, e, s, n = bounds(grid)
    ratio = (n - s) * _aspect(grid) / max(e - w, 1e-12)  # map height / width on paper
    mw, mh = (map_w, map_w * ratio) if map_w * ratio <= map_h else (map_h / ratio, map_h)
    left, bottom, top, right = 0.95, 0.55, 0.45, (1.35 if cbar else 0.3)
    fw, fh = left + mw + right, bottom + mh + top
    cax = ((left + mw + 0.15) / fw, bottom / fh, 0.18 / fw, mh / fh) if cbar else None
    return (fw, fh), (left / fw, bottom / fh, mw / fw, mh / fh), cax


def _layout(grid: Grid, map_w: float = 4.6, map_h: float = 4.0, cbar: bool = True) -> tuple[Any, Any, Any]:
    """A figure with a map axes sized to the grid's aspect and a colour-bar axes of its height beside it."""
    size, ax_rect, cax_rect = _layout_rects(grid, map_w, map_h, cbar)
    fig = plt.figure(figsize=size)
    return fig, fig.add_axes(ax_rect), (fig.add_axes(cax_rect) if cax_rect is not None else None)


def _geo_axes(ax: Any, grid: Grid, *, decorations: bool = True, labels: bool = True) -> None:
    """Limits at the grid bounds, degree tick labels with hemispheres, a scale bar and a north arrow."""
    w, e, s, n = bounds(grid)
    ax.set_xlim(w, e)
    ax.set_ylim(s, n)
    ax.set_aspect(_aspect(grid))
    if not labels:  # no ticks at all (not blank ones: each would still be laid out, text and all)
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.yaxis.set_major_locator(MaxNLocator(4))
        if is_geographic(grid):
            ax.xaxis.set_major_formatter(FuncFormatter(format_lon))
            ax.yaxis.set_major_formatter(FuncFormatter(format_lat))
        else:
            ax.set_xlabel("x (m)")
            ax.set_ylabel("y (m)")
        ax.tick_params(labelsize=7, length=3)
    if decorations:
        add_scale_bar(ax, grid)
        _north_arrow(ax)


def _nice(x: float) -> float:
    """The largest of 1, 2, 5 × 10^k not above ``x`` (> 0)."""
    p = 10.0 ** math.floor(math.log10(x))
    return max(m * p for m in (1.0, 2.0, 5.0) if m * p <= x)


def scale_bar_km(grid: Grid) -> tuple[float, float]:
    """``(length_km, length_in_x_units)`` of a scale bar about a quarter of the map's width."""
    w, e, s, n = bounds(grid)
    km_per_unit = (math.pi / 180.0 * EARTH_RADIUS_KM * math.cos(math.radians((s + n) / 2.0))
                   if is_geographic(grid) else 1e-3)
    km = _nice(max((e - w) * km_per_unit / 4.0, 1e-3))
    return km, km / km_per_unit


def add_scale_bar(ax: Any, grid: Grid) -> None:
    """A black/white scale bar in km at the lower left of a map."""
    w, e, s, n = bounds(grid)
    km, length = scale_bar_km(grid)
    x0, y0 = w + 0.05 * (e - w), s + 0.06 * (n - s)
    h = 0.018 * (n - s)
    ax.add_patch(Rectangle((x0 - 0.02 * (e - w), y0 - 0.03 * (n - s)), length + 0.04 * (e - w), 0.12 * (n - s),
                           fc="white", ec="none", alpha=0.75, zorder=4))
    ax.add_patch(Rectangle((x0, y0), length / 2, h, fc="black", ec="black", lw=0.6, zorder=5))
    ax.add_patch(Rectangle((x0 + length / 2, y0), length / 2, h, fc="white", ec="black", lw=0.6, zorder=5))
    ax.text(x0 + length / 2, y0 + 2.2 * h, f"{km:g} km", ha="center", va="bottom", fontsize=7, zorder=6)


def _north_arrow(ax: Any) -> None:
    ax.annotate("N", xy=(0.94, 0.95), xytext=(0.94, 0.80), xycoords="axes fraction", ha="center", va="center",
                fontsize=8, fontweight="bold", zorder=6,
                arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.2})


def _decimate(arr: np.ndarray) -> tuple[np.ndarray, int]:
    step = max(1, int(np.ceil(max(arr.shape) / _MAX_PX)))
    return (arr[::step, ::step] if step > 1 else arr), step


def _limits(arr: np.ndarray, symmetric: bool) -> tuple[float | None, float | None]:
    finite = arr[np.isfinite(arr)]
    if not finite.size:
        return None, None
    lo, hi = (float(v) for v in np.percentile(finite, [2, 98]))
    if symmetric:
        m = max(abs(lo), abs(hi)) or 1.0
        return -m, m
    return lo, (hi if hi > lo else lo + 1.0)


def _nodata_legend(ax: Any, extra: Sequence[Any] = ()) -> None:
    handles = [*extra, Patch(fc=NODATA_COLOUR, ec="0.5", lw=0.5, label="no data")]
    ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.85)


def _mark_reference(ax: Any, grid: Grid, ref: tuple[int, int, int, int] | None, ref_set: np.ndarray | None
                    ) -> list[Any]:
    """Outline the reference box or dot the reference set; returns legend handles."""
    if ref_set is not None and ref_set.any():
        yy, xx = np.nonzero(ref_set)
        lon = grid.transform[0] + (xx + 0.5) * grid.dx
        lat = grid.transform[3] + (yy + 0.5) * grid.dy
        return [ax.scatter(lon, lat, s=1.0, c="k", marker=".", lw=0, alpha=0.5, zorder=3,
                           label=f"reference set ({yy.size} px)")]
    if ref is not None:
        r0, r1, c0, c1 = ref
        x0, y0 = grid.transform[0] + c0 * grid.dx, grid.transform[3] + r1 * grid.dy
        box = Rectangle((x0, y0), (c1 - c0) * grid.dx, (r1 - r0) * abs(grid.dy), fill=False, ec="k", lw=1.5,
                        zorder=3, label="reference area")
        ax.add_patch(box)
        return [box]
    return []


def plot_geo_map(arr: np.ndarray, grid: Grid, path: Path, title: str, units: str, *, cmap: str = "viridis",
                 symmetric: bool = False, ref: tuple[int, int, int, int] | None = None,
                 ref_set: np.ndarray | None = None, nodata: np.ndarray | None = None) -> str:
    """A continuous map on lon/lat axes: robust 2-98 % colour limits (symmetric around 0 if asked), a
    colour bar in ``units``, NaN (and ``nodata``, (ny, nx) bool) in :data:`NODATA_COLOUR`, the reference
    box ``ref`` (row0, row1, col0, col1) outlined or the pixels of ``ref_set`` dotted, a km scale bar."""
    a = np.asarray(arr, np.float64)
    if nodata is not None:
        a = np.where(nodata, np.nan, a)
    a, _ = _decimate(a)
    vmin, vmax = _limits(a, symmetric)
    cm = matplotlib.colormaps[cmap].with_extremes(bad=NODATA_COLOUR)
    with map_figure(grid) as (fig, ax, cax, save):
        im = ax.imshow(np.ma.masked_invalid(a), cmap=cm, vmin=vmin, vmax=vmax, interpolation="nearest",
                       interpolation_stage="data", extent=bounds(grid), origin="upper", aspect=ax.get_aspect())
        handles = _mark_reference(ax, grid, ref, ref_set)
        _nodata_legend(ax, handles)
        fig.colorbar(im, cax=cax, label=units)
        ax.set_title(title, fontsize=10, y=TITLE_Y)
        return save(path)


def category_colours(values: Sequence[int], *, mask: bool = False) -> dict[int, str]:
    """A colour per integer category: the mask's removed/kept pair, else viridis steps (never grey)."""
    if mask:
        return {int(v): MASK_COLOURS.get(int(v), "#7b3294") for v in values}
    cm = matplotlib.colormaps["viridis"]
    n = len(values)
    return {int(v): matplotlib.colors.to_hex(cm(i / max(1, n - 1))) for i, v in enumerate(values)}


def plot_categorical_map(arr: np.ndarray, grid: Grid, path: Path, title: str, *, units: str = "count",
                         labels: dict[int, str] | None = None, nodata: np.ndarray | None = None,
                         mask: bool = False) -> str:
    """A map of an integer layer (a count or the mask) with one colour per value and a discrete colour
    bar with integer ticks. NaN and ``nodata`` pixels are :data:`NODATA_COLOUR` with a legend entry.
    Counts above 16 distinct values are binned into at most 16 integer-edged classes."""
    a = np.asarray(arr, np.float64)
    if nodata is not None:
        a = np.where(nodata, np.nan, a)
    a, _ = _decimate(a)
    fin = np.isfinite(a)
    vals = np.unique(np.round(a[fin])).astype(np.int64) if fin.any() else np.array([0], np.int64)
    if mask:
        vals = np.union1d(vals, [0, 1])
    lo, hi = int(vals.min()), int(vals.max())
    if hi - lo + 1 <= 16:
        edges = np.arange(lo, hi + 2) - 0.5
    else:
        step = int(np.ceil((hi - lo + 1) / 16))
        edges = np.arange(lo, hi + step + 1, step) - 0.5
    centres = [round(float(v)) for v in (edges[:-1] + edges[1:]) / 2] if len(edges) <= 17 else []
    colours = category_colours(centres or list(range(len(edges) - 1)), mask=mask)
    cm = ListedColormap(list(colours.values())).with_extremes(bad=NODATA_COLOUR)
    norm = BoundaryNorm(edges, cm.N)
    with map_figure(grid) as (fig, ax, cax, save):
        im = ax.imshow(np.ma.masked_invalid(a), cmap=cm, norm=norm, interpolation="nearest",
                       interpolation_stage="data", extent=bounds(grid), origin="upper", aspect=ax.get_aspect())
        _nodata_legend(ax)
        cb = fig.colorbar(im, cax=cax, label=units)
        ticks = np.arange(lo, hi + 1) if hi - lo + 1 <= 16 else (edges[:-1] + 0.5).astype(int)
        cb.set_ticks(list(ticks))
        if labels:
            cb.set_ticklabels([labels.get(int(t), str(int(t))) for t in ticks])
        else:
            cb.set_ticklabels([str(int(t)) for t in ticks])
        cb.ax.tick_params(labelsize=7)
        ax.set_title(title, fontsize=10, y=TITLE_Y)
        return save(path)


def overview_epochs(n: int, max_panels: int = 24) -> list[int]:
    """Indices of the epochs shown: all when ``n <= max_panels``, else every k-th ending on the last."""
    if n <= max_panels:
        return list(range(n))
    k = int(np.ceil((n - 1) / (max_panels - 1)))
    idx = list(range(n - 1, -1, -k))[::-1]
    return idx if idx[0] == 0 else [0, *idx][-max_panels:]


def _overview_step(grid: Grid) -> int:
    """The overview's pixel step: every s-th pixel, at most ~200 a side."""
    return max(1, int(np.ceil(max(grid.shape) / 200)))


def overview_panels(cum: Any, n_epoch: int, grid: Grid, max_panels: int = 24) -> np.ndarray:
    """The panels of :func:`plot_cum_overview`, (n_panel, ny', nx') of the cube's type: the epochs of
    :func:`overview_epochs` of the cube ``cum`` ((n_epoch, ny, nx), any array that reads a strided epoch
    with ``cum[k, ::s, ::s]``: numpy, zarr, h5py), every s-th pixel (at most ~200 a side)."""
    idx = overview_epochs(n_epoch, max_panels)
    step = _overview_step(grid)
    # a zarr/h5py cube reads only the pixels shown; a zarr cube all its epochs in one selection (its chunks
    # hold several epochs: read one epoch at a time, each chunk was decompressed once an epoch, 0.28 -> 0.09 s
    # on the 1000² frame)
    if hasattr(cum, "take_first") and idx:  # a run's work array (kansho.chunkio.ChunkArray), read in this thread:
        # the epochs of each chunk depth at once, each chunk decoded once (zarr's own strided read of the 24 epochs
        # of a cube in 32-px blocks, 4,056 chunks, took 3 s)
        d, parts = int(cum.chunks[0]), []
        for _, g in itertools.groupby(idx, key=lambda k: k // d):  # in idx's order
            full = cum.take_first(np.asarray(list(g), np.intp), (slice(None), slice(None)))
            parts.append(full[:, ::step, ::step].copy())  # a copy: the whole epochs freed at once
            del full
        return np.concatenate(parts)
    orth = getattr(cum, "get_orthogonal_selection", None)
    if orth is not None and idx:
        return np.asarray(orth((np.asarray(idx, np.intp), slice(None, None, step), slice(None, None, step))))
    ny, nx = len(range(0, grid.shape[0], step)), len(range(0, grid.shape[1], step))
    out = np.empty((len(idx), ny, nx))
    for i, k in enumerate(idx):
        out[i] = cum[k, ::step, ::step]
    return out


def plot_cum_overview(cum: Any, epochs: Sequence[int], grid: Grid, path: Path, *, mask: np.ndarray | None = None,
                      units: str = "mm", max_panels: int = 24, title: str = "Cumulative LOS displacement",
                      panels: np.ndarray | None = None) -> str:
    """A grid of small maps of the cumulative displacement ``cum`` ((n_epoch, ny, nx), any array that
    reads a strided epoch with ``cum[k, ::s, ::s]``: numpy, zarr, h5py) at each epoch (every k-th for long
    series, the last always), one shared symmetric colour scale, the date on each panel; pixels outside
    ``mask`` (bool) are no data. ``panels``: :func:`overview_panels` of the cube read already (``cum`` is then
    not read: a process without the cube draws it)."""
    idx = overview_epochs(len(epochs), max_panels)
    step = _overview_step(grid)
    sub = overview_panels(cum, len(epochs), grid, max_panels) if panels is None else panels
    shown: list[np.ndarray] = []
    for i in range(len(idx)):
        a = np.asarray(sub[i], np.float64)
        shown.append(a if mask is None else np.where(mask[::step, ::step], a, np.nan))
    fin = np.concatenate([p[np.isfinite(p)] for p in shown]) if shown else np.zeros(0)
    m = float(np.percentile(np.abs(fin), 98)) if fin.size else 1.0
    m = m or 1.0
    ncol = min(len(idx), max(1, math.ceil(math.sqrt(len(idx) * 1.4))))
    nrow = math.ceil(len(idx) / ncol)
    w, e, s, n = bounds(grid)
    ratio = (n - s) * _aspect(grid) / max(e - w, 1e-12)
    pw = 1.8
    ph = pw * ratio
    fw, fh = 0.3 + ncol * (pw + 0.1) + 1.0, 0.7 + nrow * (ph + 0.3)
    rects = [((0.3 + c * (pw + 0.1)) / fw, (fh - 0.55 - (r + 1) * (ph + 0.3) + 0.3) / fh, pw / fw, ph / fh)
             for r, c in (divmod(i, ncol) for i in range(len(idx)))]
    dates = [f"{d // 10000}-{d // 100 % 100:02d}-{d % 100:02d}" for d in (int(epochs[k]) for k in idx)]
    fig = Figure(figsize=(fw, fh), dpi=SAVE_DPI)
    canvas = FigureCanvasAgg(fig)
    cm = matplotlib.colormaps["RdBu_r"].with_extremes(bad=NODATA_COLOUR)
    # one axes for every panel, drawn at each panel's place in turn: the pixels of one axes per panel without
    # making 24 axes (~0.2 s of a 0.3 s figure)
    ax = fig.add_axes(rects[0]) if rects else None
    im = None
    if ax is not None:
        _geo_axes(ax, grid, decorations=False, labels=False)
        im = ax.imshow(np.ma.masked_invalid(shown[0]), cmap=cm, vmin=-m, vmax=m, interpolation="nearest",
                       interpolation_stage="data", extent=bounds(grid), origin="upper", aspect=ax.get_aspect())
    cax = fig.add_axes(((fw - 0.85) / fw, 0.3 / fh, 0.15 / fw, (fh - 1.0) / fh))
    if im is not None:
        fig.colorbar(im, cax=cax, label=f"{units} (LOS, + toward satellite)")
    which = "every epoch" if len(idx) == len(epochs) else f"{len(idx)} of {len(epochs)} epochs"
    sup = fig.suptitle(f"{title}: {which}, relative to {int(epochs[0])}", fontsize=10, y=1 - 0.12 / fh, va="top")
    if ax is None or im is None:
        return save_figure(fig, path)

    def draw(tmp: Path) -> None:
        renderer = canvas.get_renderer()
        renderer.clear()
        fig.patch.draw(renderer)  # then the axes in the order made, then the figure's texts, as its own draw
        for rect, panel, date in zip(rects, shown, dates, strict=True):
            ax.set_position(rect)
            im.set_data(np.ma.masked_invalid(panel))
            ax.set_title(date, fontsize=8, pad=2, y=TITLE_Y)
            ax.draw(renderer)
        cax.draw(renderer)
        sup.draw(renderer)
        _mapframe.write_png(canvas, tmp, PNG_OPTIONS)

    return _replace_png(path, draw)
