"""Maps drawn over a kept frame (kansho._mapframe) are byte for byte the maps drawn as whole figures.

Each case draws a sequence of maps twice, once with :data:`kansho.mapfig.KEEP_FRAMES` (one frame per grid,
cleared between maps) and once drawing every map as a new figure, and compares the PNG files' bytes: the
frame must leave nothing of one map on the next (an image, a legend, a colour bar, a title), in any order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kansho import _mapframe, mapfig
from kansho.grid import Grid

GRIDS = {
    # Mexico City's corner, 0.0013889° posting, wider than tall
    "geographic": Grid(40, 24, (-99.18, 0.0013889, 0.0, 19.45, 0.0, -0.0013889)),
    # south of the equator, east of Greenwich, taller than wide
    "south_tall": Grid(18, 50, (147.2, 0.002, 0.0, -35.1, 0.0, -0.002)),
    # UTM metres: "x (m)" / "y (m)" axis labels instead of degrees
    "utm": Grid(30, 30, (500000.0, 100.0, 0.0, 4_200_000.0, 0.0, -100.0), "EPSG:32654"),
}


def _draw(kind: str, grid: Grid, path: Path, rng: np.random.Generator) -> bytes:
    """One map of ``kind`` on ``grid`` into ``path``; the file's bytes."""
    shape = grid.shape
    field = rng.normal(0.0, 5.0, shape)
    field[rng.random(shape) < 0.1] = np.nan
    nodata = rng.random(shape) < 0.05
    if kind == "velocity":  # reference box, symmetric limits
        mapfig.plot_geo_map(field, grid, path, "Velocity (unmasked)", "mm/yr", cmap="RdBu_r", symmetric=True,
                            ref=(2, 5, 3, 7))
    elif kind == "reference_set":  # reference pixels dotted
        ref_set = rng.random(shape) < 0.2
        mapfig.plot_geo_map(field, grid, path, "Velocity", "mm/yr", cmap="RdBu_r", symmetric=True,
                            ref=(0, 1, 0, 1), ref_set=ref_set)
    elif kind == "std":
        mapfig.plot_geo_map(np.abs(field), grid, path, "Velocity std (bootstrap)", "mm/yr", cmap="magma",
                            nodata=nodata)
    elif kind == "all_nan":
        mapfig.plot_geo_map(np.full(shape, np.nan), grid, path, "No data", "", nodata=nodata)
    elif kind == "mask":
        mapfig.plot_categorical_map((field > 0).astype(float), grid, path, "Mask", units="", mask=True,
                                    labels={0: "0 removed", 1: "1 kept"}, nodata=nodata)
    else:  # a count binned into classes (> 16 values)
        mapfig.plot_categorical_map(np.round(np.abs(field) * 10), grid, path, "Number of pairs used", units="pairs",
                                    nodata=nodata)
    return path.read_bytes()


KINDS = ("velocity", "reference_set", "std", "all_nan", "mask", "count")


def _both(monkeypatch: pytest.MonkeyPatch, tmp: Path, sequence: list[tuple[str, str]]) -> tuple[list[bytes], ...]:
    out: list[list[bytes]] = []
    for keep in (True, False):
        monkeypatch.setattr(mapfig, "KEEP_FRAMES", keep)
        rng = np.random.default_rng(7)
        out.append([_draw(kind, GRIDS[g], tmp / f"{i}_{kind}_{keep}.png", rng)
                    for i, (g, kind) in enumerate(sequence)])
    return out[0], out[1]


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_frame_draws_the_whole_figures_bytes(grid: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sequence = [(grid, k) for k in (*KINDS, "velocity", "count", "std")]
    kept, whole = _both(monkeypatch, tmp_path, sequence)
    for (_, kind), a, b in zip(sequence, kept, whole, strict=True):
        assert a[:8] == b"\x89PNG\r\n\x1a\n" and len(a) > 2000
        assert a == b, kind


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(st.tuples(st.sampled_from(sorted(GRIDS)), st.sampled_from(KINDS)), min_size=2, max_size=5))
def test_any_sequence_of_grids_and_maps(sequence: list[tuple[str, str]], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Grids alternate (frames dropped and made again: more grids than :data:`_mapframe.MAX_FRAMES`)."""
    kept, whole = _both(monkeypatch, tmp_path, sequence)
    assert kept == whole


def test_a_failed_map_leaves_no_trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A map that fails half drawn drops its frame: the next map is the whole figure's."""
    grid = GRIDS["geographic"]
    rng = np.random.default_rng(1)
    _draw("velocity", grid, tmp_path / "first.png", rng)
    with pytest.raises(ValueError), mapfig.map_figure(grid) as (_fig, ax, _cax, _save):
        ax.imshow(np.zeros(grid.shape), aspect=ax.get_aspect())
        ax.set_title("half drawn")
        raise ValueError("failed while drawing")
    kept = _draw("std", grid, tmp_path / "kept.png", np.random.default_rng(2))
    monkeypatch.setattr(mapfig, "KEEP_FRAMES", False)
    assert kept == _draw("std", grid, tmp_path / "whole.png", np.random.default_rng(2))


def test_frames_kept_are_bounded(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for i in range(_mapframe.MAX_FRAMES + 2):
        grid = Grid(10 + i, 10, (10.0, 0.01, 0.0, 45.0, 0.0, -0.01))
        _draw("std", grid, tmp_path / f"{i}.png", rng)
    assert len(_mapframe._FRAMES) <= _mapframe.MAX_FRAMES


def test_without_the_private_calls_maps_are_drawn_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A matplotlib without a private call the frame needs (its AttributeError): no frame is kept for the grid,
    and its maps are the whole figures' bytes."""
    grid = Grid(21, 13, (30.0, 0.01, 0.0, 40.0, 0.0, -0.01))

    def gone(*_a: Any, **_k: Any) -> Any:
        raise AttributeError("'XAxis' object has no attribute '_update_ticks'")

    monkeypatch.setattr(_mapframe, "MapFrame", gone)
    monkeypatch.setattr(_mapframe, "_FRAMES", type(_mapframe._FRAMES)())
    drawn = _draw("mask", grid, tmp_path / "m.png", np.random.default_rng(4))
    assert list(_mapframe._FRAMES.values()) == [None]
    monkeypatch.setattr(mapfig, "KEEP_FRAMES", False)
    assert drawn == _draw("mask", grid, tmp_path / "whole.png", np.random.default_rng(4))


def _overview_whole(cum: np.ndarray, epochs: list[int], grid: Grid, path: Path, mask: np.ndarray) -> bytes:
    """The cube overview as one axes per panel drawn by ``savefig`` (the figure before its panels shared an axes)."""
    import math

    import matplotlib
    import matplotlib.pyplot as plt

    idx = mapfig.overview_epochs(len(epochs))
    step = mapfig._overview_step(grid)
    shown = [np.where(mask[::step, ::step], np.asarray(cum[k, ::step, ::step], np.float64), np.nan) for k in idx]
    fin = np.concatenate([p[np.isfinite(p)] for p in shown])
    m = float(np.percentile(np.abs(fin), 98)) or 1.0
    ncol = min(len(idx), max(1, math.ceil(math.sqrt(len(idx) * 1.4))))
    nrow = math.ceil(len(idx) / ncol)
    w, e, s, n = mapfig.bounds(grid)
    ph = 1.8 * (n - s) * mapfig._aspect(grid) / max(e - w, 1e-12)
    fw, fh = 0.3 + ncol * 1.9 + 1.0, 0.7 + nrow * (ph + 0.3)
    fig = plt.figure(figsize=(fw, fh))
    cm = matplotlib.colormaps["RdBu_r"].with_extremes(bad=mapfig.NODATA_COLOUR)
    im = None
    for i, (k, a) in enumerate(zip(idx, shown, strict=True)):
        r, c = divmod(i, ncol)
        ax = fig.add_axes(((0.3 + c * 1.9) / fw, (fh - 0.55 - (r + 1) * (ph + 0.3) + 0.3) / fh, 1.8 / fw, ph / fh))
        im = ax.imshow(np.ma.masked_invalid(a), cmap=cm, vmin=-m, vmax=m, interpolation="nearest",
                       interpolation_stage="data", extent=mapfig.bounds(grid), origin="upper")
        mapfig._geo_axes(ax, grid, decorations=False, labels=False)
        d = epochs[k]
        ax.set_title(f"{d // 10000}-{d // 100 % 100:02d}-{d % 100:02d}", fontsize=8, pad=2, y=mapfig.TITLE_Y)
    cax = fig.add_axes(((fw - 0.85) / fw, 0.3 / fh, 0.15 / fw, (fh - 1.0) / fh))
    fig.colorbar(im, cax=cax, label="mm (LOS, + toward satellite)")
    which = "every epoch" if len(idx) == len(epochs) else f"{len(idx)} of {len(epochs)} epochs"
    fig.suptitle(f"Cumulative LOS displacement: {which}, relative to {epochs[0]}", fontsize=10, y=1 - 0.12 / fh,
                 va="top")
    mapfig.save_figure(fig, path)
    return path.read_bytes()


@pytest.mark.parametrize(("grid", "n_epoch"), [("geographic", 5), ("south_tall", 40), ("utm", 13)])
def test_overview_panels_on_one_axes_draw_the_same_bytes(grid: str, n_epoch: int, tmp_path: Path) -> None:
    """The cube overview draws every panel with one axes moved from place to place: the bytes of one axes each."""
    g = GRIDS[grid]
    rng = np.random.default_rng(n_epoch)
    cum = np.cumsum(rng.normal(0.0, 3.0, (n_epoch, *g.shape)), axis=0)
    cum[:, :3, :4] = np.nan
    mask = rng.random(g.shape) > 0.1
    days = np.datetime64("2019-01-03") + 12 * np.arange(n_epoch)
    epochs = [int(str(d).replace("-", "")) for d in days]
    kept = mapfig.plot_cum_overview(cum, epochs, g, tmp_path / "kept.png", mask=mask)
    assert kept == "plots/kept.png"
    assert (tmp_path / "kept.png").read_bytes() == _overview_whole(cum, epochs, g, tmp_path / "whole.png", mask)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n_epoch=st.integers(1, 40), ny=st.integers(1, 450), nx=st.integers(1, 450), depth=st.integers(1, 9),
       side=st.sampled_from([16, 32, 100, 256]))
def test_overview_panels_of_a_work_array_are_its_strided_epochs(n_epoch: int, ny: int, nx: int, depth: int,
                                                                side: int, tmp_path: Path) -> None:
    """The overview's panels of a run's work array (read chunk by chunk in this thread, each chunk depth's epochs at
    once) are the strided epochs of the cube in memory, in order, for any chunks and frame."""
    import zarr

    from kansho.chunkio import ChunkArray, direct
    from kansho.store import work_codec

    grid = Grid(nx, ny, (139.0, 0.001, 0.0, 36.0, 0.0, -0.001))
    cube = np.random.default_rng(n_epoch * ny + nx).normal(size=(n_epoch, ny, nx)).astype(np.float32)
    cube[:, ::7, ::5] = np.nan
    path = tmp_path / f"c{n_epoch}_{ny}_{nx}_{depth}_{side}.zarr"
    z = zarr.create_array(str(path), shape=cube.shape, chunks=(depth, side, side), dtype="f4", fill_value=np.nan,
                          compressors=work_codec())
    z[:] = cube
    arr = direct(zarr.open_array(str(path), mode="r"))
    assert isinstance(arr, ChunkArray)
    idx, step = mapfig.overview_epochs(n_epoch), mapfig._overview_step(grid)
    got = mapfig.overview_panels(arr, n_epoch, grid)
    np.testing.assert_array_equal(got, cube[idx][:, ::step, ::step])
    np.testing.assert_array_equal(got, mapfig.overview_panels(cube, n_epoch, grid))
