"""A map figure's fixed part drawn once, each map of the same grid drawn over it (Agg's blitting).

A run draws ~16 maps of one grid on the same figure: the same axes, ticks, tick labels, scale bar and north
arrow. Laying out and drawing those every time was ~0.04 s of a map's ~0.116 s (the 1000 × 1000 px frame's
maps, one process). :class:`MapFrame` draws them once without the map (the *background*), then for each map
restores those pixels and draws only what lies over them in the order a whole figure's draw takes:
the image, the frame (spines), the tick marks, the reference marks, the scale bar, the north arrow, the legend
and the title, then the colour bar's axes. Tick labels and axis labels lie outside the map and its colour
bar, so drawing them first changes no pixel: the PNGs are byte for byte those of drawing each figure whole
(``tests/test_mapframe.py``).

The frame keeps its own figure (not pyplot's): its canvas, renderer and background stay between maps.
Where a matplotlib no longer has the private calls it relies on (``Axis._update_ticks``), no frame is kept
and each map is drawn whole (:func:`frame_for` returns None).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mimage
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

log = logging.getLogger(__name__)

#: frames kept per process (a run's maps share one grid; a few grids at most in one process)
MAX_FRAMES = 2
#: one map drawn at a time over a frame (matplotlib's figures are not for several threads)
LOCK = threading.RLock()
_FRAMES: OrderedDict[Hashable, MapFrame | None] = OrderedDict()


class MapFrame:
    """A figure ``fig`` with a map axes ``ax`` holding its fixed decorations (drawn over the map: every
    patch and text of ``ax`` when the frame is made) and a colour-bar axes at ``cax_rect`` (figure fractions),
    made anew for each map. ``png_kwargs``: Pillow's options for :meth:`save`."""

    def __init__(self, fig: Figure, ax: Any, cax_rect: tuple[float, float, float, float],
                 png_kwargs: dict[str, Any]) -> None:
        self._canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
        self.fig, self.ax, self._cax_rect, self._png = fig, ax, cax_rect, png_kwargs
        self.cax: Any = fig.add_axes(cax_rect)
        self._fixed = set(ax.get_children())
        overlay = [*ax.spines.values(), *ax.patches, *ax.texts, self.cax]
        shown = [(a, a.get_visible()) for a in overlay]
        lines = [_TickLines(ticks) for axis in (ax.xaxis, ax.yaxis)
                 for ticks in (axis.get_major_ticks(), axis.get_minor_ticks())]
        for a, _ in shown:
            a.set_visible(False)
        for group in lines:
            group.show(False)
        self._canvas.draw()
        self._background = self._canvas.copy_from_bbox(fig.bbox)
        # the ticks the axes' draw drew (the locator's within the view), their lines drawn over each map
        self._ticks = {axis: list(axis._update_ticks()) for axis in (ax.xaxis, ax.yaxis)}
        for a, visible in shown:
            a.set_visible(visible)
        for group in lines:
            group.show(True)

    def draw(self) -> None:
        """Draw the map now on ``ax`` and ``cax`` over the background into the canvas."""
        canvas = self._canvas
        renderer = canvas.get_renderer()
        canvas.restore_region(self._background)
        ax = self.ax
        locator = ax.get_axes_locator()  # as the axes' own draw does first
        ax.apply_aspect(locator(ax, renderer) if locator else None)
        for a in sorted((a for a in ax.get_children() if a is not ax.patch), key=lambda a: a.get_zorder()):
            if isinstance(a, Axis):  # its labels are in the background; its tick marks lie on the map's edge
                for tick in self._ticks[a]:
                    for line in _lines(tick):
                        line.draw(renderer)
            else:
                a.draw(renderer)
        self.cax.draw(renderer)

    def save(self, path: Path) -> None:
        """Draw the map and write the figure as a PNG at ``path``, as ``savefig`` writes it."""
        self.draw()
        write_png(self._canvas, path, self._png)

    def clear(self) -> None:
        """Take the last map off: its colour bar's axes (a new one in its place), then its image, marks and
        legend; the title emptied."""
        self.cax.remove()
        self.cax = self.fig.add_axes(self._cax_rect)
        for a in self.ax.get_children():
            if a not in self._fixed:
                a.remove()
        self.ax.set_title("")


class _TickLines:
    """The lines of a list of ticks (an axis's major or minor ``Tick`` list, which its draws extend in place:
    a tick made in a draw takes the first one's properties), hidden for the background and shown again
    as the first tick showed them."""

    def __init__(self, ticks: list[Any]) -> None:
        self._ticks = ticks
        self._shown = [ln.get_visible() for ln in _lines(ticks[0])] if ticks else []

    def show(self, on: bool) -> None:
        for tick in self._ticks:
            for line, visible in zip(_lines(tick), self._shown, strict=True):
                line.set_visible(on and visible)


def _lines(tick: Any) -> tuple[Any, Any, Any]:
    return tick.gridline, tick.tick1line, tick.tick2line


def write_png(canvas: FigureCanvasAgg, path: Path, pil_kwargs: dict[str, Any]) -> None:
    """The canvas's pixels as drawn (no new draw) into the PNG ``path``, as ``savefig`` writes them."""
    mimage.imsave(path, canvas.buffer_rgba(), format="png", origin="upper", dpi=canvas.figure.dpi,
                  pil_kwargs=dict(pil_kwargs))


def frame_for(key: Hashable, make: Callable[[], MapFrame]) -> MapFrame | None:
    """The frame of ``key``, made by ``make`` the first time (the least recently used of :data:`MAX_FRAMES`
    dropped); None where none can be made in this matplotlib (maps are then drawn whole)."""
    with LOCK:
        if key in _FRAMES:
            _FRAMES.move_to_end(key)
            return _FRAMES[key]
        try:
            frame: MapFrame | None = make()
        except AttributeError as exc:  # a private call of matplotlib gone: draw each map whole
            log.debug("map frames not kept: %s", exc)
            frame = None
        _FRAMES[key] = frame
        while len(_FRAMES) > MAX_FRAMES:
            _FRAMES.popitem(last=False)
        return frame


def drop(key: Hashable) -> None:
    """Forget the frame of ``key`` (a map failed on it: the next one starts from a new frame)."""
    with LOCK:
        _FRAMES.pop(key, None)
