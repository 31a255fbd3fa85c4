"""Map figures with coordinates (kansho.mapfig) and the network figure (kansho.plots.plot_network).

Small arrays, tiny figures, Agg backend. The figures are checked through the objects matplotlib
drew (axes limits, tick labels, colour-bar ticks, the colours of the image) captured at save time.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import to_rgba

from kansho import mapfig
from kansho.grid import Grid

# a 12 x 8 px grid west of Greenwich and north of the equator (Mexico City's corner, 0.0013889° posting)
GRID = Grid(12, 8, (-99.18, 0.0013889, 0.0, 19.45, 0.0, -0.0013889))
REAL = next((p / "shared" / "data" / "real" / "mexico_city_s1" for p in Path(__file__).resolve().parents[1:4]
             if (p / "shared" / "data" / "real" / "mexico_city_s1").is_dir()), Path("shared-not-found"))


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures saved by kansho.mapfig.save_figure, kept open for inspection (each map drawn as a figure of
    its own: a kept frame draws the same bytes, ``tests/test_mapframe.py``)."""
    monkeypatch.setattr(mapfig, "KEEP_FRAMES", False)
    figs: list[Any] = []
    real_close = plt.close

    def keep(fig: Any = None) -> None:
        if fig is not None:
            figs.append(fig)
        else:
            real_close()

    monkeypatch.setattr(mapfig.plt, "close", keep)
    yield figs
    for f in figs:
        real_close(f)


def test_degree_labels() -> None:
    assert mapfig.format_lon(-99.07926) == "99.0793°W"
    assert mapfig.format_lon(139.69) == "139.69°E"
    assert mapfig.format_lon(0.0) == "0°"
    assert mapfig.format_lat(19.4) == "19.4°N"
    assert mapfig.format_lat(-33.25) == "33.25°S"


def test_continuous_map_has_grid_extent_and_hemisphere_ticks(tmp_path: Path, saved: list[Any]) -> None:
    rng = np.random.default_rng(0)
    arr = rng.normal(0, 10, GRID.shape)
    arr[0, :3] = np.nan
    rel = mapfig.plot_geo_map(arr, GRID, tmp_path / "vel.png", "Velocity", "mm/yr", cmap="RdBu_r", symmetric=True,
                              ref=(2, 4, 3, 6))
    assert rel == "plots/vel.png" and (tmp_path / "vel.png").stat().st_size > 2000
    fig = saved[-1]
    ax = fig.axes[0]
    w, e, s, n = mapfig.bounds(GRID)
    assert (w, e, s, n) == pytest.approx((-99.18, -99.18 + 12 * 0.0013889, 19.45 - 8 * 0.0013889, 19.45))
    assert ax.get_xlim() == pytest.approx((w, e)) and ax.get_ylim() == pytest.approx((s, n))
    assert ax.images[0].get_extent() == pytest.approx([w, e, s, n])
    fig.canvas.draw()
    xl = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    yl = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert xl and all(t.endswith("°W") for t in xl), xl
    assert yl and all(t.endswith("°N") for t in yl), yl
    assert any(t.get_text().endswith(" km") for t in ax.texts)  # the scale bar
    # the no-data colour: NaN pixels are painted light grey, and the legend names it
    assert to_rgba(ax.images[0].get_cmap().get_bad()) == to_rgba(mapfig.NODATA_COLOUR)
    assert "no data" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_scale_bar_length_is_a_round_number_of_km() -> None:
    km, deg = mapfig.scale_bar_km(GRID)
    width_km = 12 * 0.0013889 * 111.195 * np.cos(np.radians(19.44))
    assert km in (0.1, 0.2, 0.5, 1.0) and km <= width_km / 4 < 2.5 * km
    assert deg == pytest.approx(km / (111.195 * np.cos(np.radians(19.4444))), rel=1e-3)


@pytest.mark.parametrize("mask", [True, False])
def test_categorical_map_integer_ticks_and_distinct_nodata(tmp_path: Path, saved: list[Any], mask: bool) -> None:
    arr = (np.arange(96).reshape(GRID.shape) % (2 if mask else 5)).astype(np.float32)
    arr[-1, -2:] = np.nan
    nodata = np.zeros(GRID.shape, bool)
    nodata[0, 0] = True
    mapfig.plot_categorical_map(arr, GRID, tmp_path / "c.png", "counts", nodata=nodata, mask=mask,
                                labels={0: "0 removed", 1: "1 kept"} if mask else None)
    fig = saved[-1]
    ax, cax = fig.axes[0], fig.axes[1]
    ticks = cax.get_yticks()
    assert list(ticks) == ([0, 1] if mask else [0, 1, 2, 3, 4])
    assert all(float(t).is_integer() for t in ticks)
    im = ax.images[0]
    cmap = im.get_cmap()
    category = {to_rgba(cmap(i)) for i in range(cmap.N)}
    assert len(category) == cmap.N == len(ticks)  # one colour per value
    assert to_rgba(cmap.get_bad()) not in category  # no-data is none of the categories' colours
    if mask:
        assert to_rgba(cmap(1)) == to_rgba(mapfig.MASK_COLOURS[1])  # "kept"
    # the pixels: the nodata pixel and the NaNs are masked (drawn in the bad colour), the rest keep their value
    data = im.get_array()
    assert data.mask[0, 0] and data.mask[-1, -1] and not data.mask[1, 1]


def test_categorical_map_bins_many_counts_with_integer_edges(tmp_path: Path, saved: list[Any]) -> None:
    arr = np.arange(96, dtype=float).reshape(GRID.shape)  # 96 distinct counts
    mapfig.plot_categorical_map(arr, GRID, tmp_path / "n.png", "n_unw")
    cax = saved[-1].axes[1]
    ticks = cax.get_yticks()
    assert 2 <= len(ticks) <= 16 and all(float(t).is_integer() for t in ticks)
    assert ticks[0] == 0


def test_overview_epochs_every_kth_ends_on_last() -> None:
    assert mapfig.overview_epochs(5) == [0, 1, 2, 3, 4]
    idx = mapfig.overview_epochs(158, 24)
    assert len(idx) <= 24 and idx[0] == 0 and idx[-1] == 157
    assert len(set(np.diff(idx[1:]))) == 1


def test_cum_overview_one_panel_per_epoch_shared_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each panel as drawn (the panels share one axes, drawn at each panel's place: its title, image and
    colour scale captured at each draw)."""
    from matplotlib.axes import Axes

    drawn: list[tuple[str, tuple[float, float], list[float], np.ndarray, tuple[float, ...]]] = []
    real_draw = Axes.draw

    def record(self: Any, renderer: Any) -> Any:
        if self.images:
            im = self.images[0]
            drawn.append((self.get_title(), im.get_clim(), list(im.get_extent()), np.ma.filled(im.get_array(), np.nan),
                          tuple(self.get_position(original=True).bounds)))
        return real_draw(self, renderer)

    monkeypatch.setattr(Axes, "draw", record)
    epochs = [20180106, 20180130, 20180307, 20180319, 20180331]
    cum = np.stack([np.full(GRID.shape, -10.0 * k) for k in range(5)])
    keep = np.ones(GRID.shape, bool)
    keep[0, 0] = False
    mapfig.plot_cum_overview(cum, epochs, GRID, tmp_path / "cum_epochs.png", mask=keep)
    assert [d[0] for d in drawn] == ["2018-01-06", "2018-01-30", "2018-03-07", "2018-03-19", "2018-03-31"]
    assert len({d[1] for d in drawn}) == 1  # one shared colour scale
    assert drawn[0][1] == pytest.approx((-40.0, 40.0), rel=0.05)
    assert all(d[2] == pytest.approx(list(mapfig.bounds(GRID))) for d in drawn)
    for k, d in enumerate(drawn):  # each panel its epoch, the pixel outside the mask no data
        assert np.isnan(d[3][0, 0]) and np.all(d[3].ravel()[1:] == -10.0 * k)
    assert len({d[4] for d in drawn}) == 5  # five places


def test_network_figure_statuses_and_gaps(tmp_path: Path, saved: list[Any]) -> None:
    from kansho import plots

    epochs = np.array([20200101, 20200113, 20200125, 20200206])
    bperp = np.array([0.0, 40.0, -25.0, np.nan])
    pairs = [(20200101, 20200113, "used"), (20200113, 20200125, "corrected 1-2"), (20200101, 20200125, "1-1"),
             (20200125, 20200206, "1-2"), (20200113, 20200206, "0-3")]
    plots.plot_network(epochs, bperp, pairs, tmp_path / "network.png", used_epochs=epochs[:3],
                       gaps=[(20200125, 20200206)])
    ax = saved[-1].axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "used (1)" in labels and "dropped by 1-1 (coverage / coherence) (1)" in labels
    assert any(lb.startswith("used, unwrapping corrected (1-2)") for lb in labels)
    assert any(lb.startswith("dropped by 0-3") for lb in labels)
    assert "network gap (1)" in labels and "epoch not inverted (1)" in labels
    assert "B⊥ unknown for 1 epoch" in ax.get_title()
    ys = sorted({round(float(y), 3) for line in ax.get_lines() for y in np.atleast_1d(line.get_ydata())})
    assert ys == [-25.0, 0.0, 40.0]  # epochs at their B⊥ (the unknown one at 0)
    from matplotlib.collections import LineCollection

    lines = {"solid": 0, "dashed": 0}
    for c in ax.collections:
        if isinstance(c, LineCollection):
            lines["dashed" if c.get_linestyle()[0][1] else "solid"] += len(c.get_segments())
    assert lines == {"solid": 2, "dashed": 3}  # the pairs used solid, those dropped dashed, one line each
    assert ax.get_ylabel().startswith("perpendicular baseline")


@pytest.mark.skipif(not (REAL / "geometry").is_dir(), reason="shared/data/real/mexico_city_s1 not present")
def test_network_of_the_mexico_stack_has_bperp_spread(tmp_path: Path, saved: list[Any]) -> None:
    """The real Mexico City headers give every epoch a B⊥; the network figure spreads them over > 100 m."""
    from kansho import plots
    from kansho.io.inputs import discover_inputs

    inp = discover_inputs(REAL / "geotiffs")
    bp = np.array([inp.bperp[int(e)] for e in inp.epochs])
    pairs = [(p.date1, p.date2, "used") for p in inp.pairs]
    plots.plot_network(inp.epochs, bp, pairs, tmp_path / "network.png")
    ax = saved[-1].axes[0]
    lo, hi = ax.get_ylim()
    assert hi - lo > 100 and lo < -70 and hi > 50
    assert "unknown" not in ax.get_title()
    from matplotlib.collections import LineCollection

    segments = [seg for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()]
    assert len(segments) == 30 and all(len(seg) == 2 for seg in segments)  # every pair a line


def test_run_draws_geographic_maps_and_overview(small_run: Any) -> None:
    from kansho.plots import CATEGORICAL_MAPS

    names = {p.name for p in (small_run.out / "plots").glob("*.png")}
    assert {"network.png", "cum_epochs.png", "mask.png", "vel_mskd.png"} <= names
    assert {f"{n}.png" for n in CATEGORICAL_MAPS} <= names


def test_network_pairs_status_per_step() -> None:
    """Each pair's status from the steps' results: dropped by 0-3 / 1-1 / 1-2, corrected by 1-2 / 1-3, used."""
    from types import SimpleNamespace

    import kansho.plots as kp
    from kansho.chain.steps.ingest import IngestResult
    from kansho.chain.steps.invert import InvertResult
    from kansho.chain.steps.loops import LoopsResult
    from kansho.chain.steps.qc import QCResult

    d1 = np.array([20200101, 20200101, 20200113, 20200113, 20200125, 20200125])
    d2 = np.array([20200113, 20200125, 20200125, 20200206, 20200206, 20200218])
    results = {
        QCResult: SimpleNamespace(keep=[True, False, True, True, True, True]),
        LoopsResult: SimpleNamespace(bad=[3], bad_noloop=[], pairs_in=[0, 2, 3, 4, 5], n_fixed=[0, 5, 0, 0, 0],
                                     n_nulled=[0, 0, 0, 0, 0], pairs=[0, 2, 4, 5],
                                     epochs=[20200101, 20200113, 20200125, 20200206, 20200218]),
        InvertResult: SimpleNamespace(resid_fixed=[0, 2, 1, 0], resid_nulled=[0, 0, 0, 0], network_gaps=[3]),
        IngestResult: SimpleNamespace(dropped=[["20200206_20200218", "0-3", "no GACOS for 20200218"]]),
    }
    ctx = SimpleNamespace(stack=SimpleNamespace(n_pair=6, date1=d1, date2=d2), get=lambda kind: results[kind])
    pairs, gaps = kp.network_pairs(ctx)  # type: ignore[arg-type]
    assert [s for _a, _b, s in pairs] == ["used", "1-1", "corrected 1-2+1-3", "1-2", "corrected 1-3", "used", "0-3"]
    assert pairs[-1][:2] == (20200206, 20200218)
    assert gaps == [(20200206, 20200218)]



def test_the_outputs_step_with_a_side_process_draws_the_same_figures(small_run: Any, copy_run: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The outputs step with a side process drawing the figures (the small frame's own run draws them in
    one process): the chain's process waits for its product writers before it helps (``help_after`` is
    called once, before this process takes back any figure the child has not reached), and the figures are
    the same files, byte for byte."""
    from kansho import plots, run_timeseries
    from kansho.chain.steps import outputs
    from kansho.config import RunConfig
    from kansho.sideproc import SideProcess

    out = copy_run(small_run)
    shutil.rmtree(out / "plots")
    monkeypatch.setattr(outputs, "SIDE_MIN_PIXELS", 0)
    events: list[str] = []
    write_all, take_back = plots.write_all, SideProcess.take_back

    def spy_write_all(*a: Any, help_after: Any = None, **k: Any) -> list[str]:
        side = a[4]
        assert help_after is not None and isinstance(side, SideProcess)

        def writers() -> None:  # the writers, here as slow as the child's start (at most 60 s)
            help_after()
            t0 = time.monotonic()
            while side._batch is not None and not (side._batch.folder / "claims" / "0.claim").exists() \
                    and time.monotonic() - t0 < 60:
                time.sleep(0.01)
            events.append("writers done")

        return write_all(*a, help_after=writers, **k)

    def spy_take_back(self: SideProcess) -> None:
        events.append("take back")
        take_back(self)
        assert self._batch is not None
        events.append(f"{len(self._batch.items) - len(self._batch.taken)} drawn away")

    monkeypatch.setattr(plots, "write_all", spy_write_all)
    monkeypatch.setattr(SideProcess, "take_back", spy_take_back)
    run_timeseries(None, out, RunConfig(), steps=["outputs"], force=True, progress=False)
    assert events[:2] == ["writers done", "take back"] and len(events) == 3
    assert int(events[2].split()[0]) >= 1  # the child drew at least its first figure
    mine = sorted(p.name for p in (small_run.out / "plots").glob("*.png"))
    assert len(mine) >= 20 and sorted(p.name for p in (out / "plots").glob("*.png")) == mine
    for name in mine:
        assert (out / "plots" / name).read_bytes() == (small_run.out / "plots" / name).read_bytes(), name


def test_info_tables_are_written_while_the_side_process_draws(small_run: Any, copy_run: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The outputs step hands the figures to the side process before it writes the info tables (the child
    then draws while they are written: ~1.4 s off `kansho ts --steps outputs` on the M frame), and an error
    of the tables is the step's, not a figure's that is only logged."""
    from kansho import run_timeseries
    from kansho.chain.steps import outputs
    from kansho.config import RunConfig
    from kansho.sideproc import SideProcess

    out = copy_run(small_run)
    shutil.rmtree(out / "info")
    monkeypatch.setattr(outputs, "SIDE_MIN_PIXELS", 0)
    events: list[str] = []
    submit, write_info = SideProcess.submit, outputs.write_info

    def spy_submit(self: SideProcess, *a: Any, **k: Any) -> bool:
        events.append("figures handed over")
        return submit(self, *a, **k)

    def spy_info(*a: Any, **k: Any) -> None:
        events.append("info")
        write_info(*a, **k)

    monkeypatch.setattr(SideProcess, "submit", spy_submit)
    monkeypatch.setattr(outputs, "write_info", spy_info)
    run_timeseries(None, out, RunConfig(), steps=["outputs"], force=True, progress=False)
    assert events == ["figures handed over", "info"]
    assert {"11ifg_stats.txt", "12loop_stats.txt", "13epoch_noise.txt"} <= {p.name for p in (out / "info").iterdir()}

    def broken(*a: Any, **k: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs, "write_info", broken)
    with pytest.raises(Exception, match="space"):
        run_timeseries(None, out, RunConfig(), steps=["outputs"], force=True, progress=False)


def test_a_tight_budget_draws_the_figures_in_the_run_s_process(small_run: Any, copy_run: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a budget that leaves less than ``SIDE_MIN_ROOM`` beside the chain's process, no side process starts
    (it holds ~110 MB drawing: a 300-epoch frame's run at 600MB peaked at 608 MB with it, 550 MB without), and
    the figures are the same files, byte for byte."""
    from kansho import run_timeseries
    from kansho.chain import budget
    from kansho.chain.steps import outputs
    from kansho.config import RunConfig
    from kansho.sideproc import SideProcess

    out = copy_run(small_run)
    shutil.rmtree(out / "plots")
    monkeypatch.setattr(outputs, "SIDE_MIN_PIXELS", 0)
    started: list[bool] = []
    enter = SideProcess.__enter__

    def spy_enter(self: SideProcess) -> SideProcess:
        started.append(True)
        return enter(self)

    monkeypatch.setattr(SideProcess, "__enter__", spy_enter)
    tight = f"{(budget.PROCESS_RESERVE + outputs.SIDE_MIN_ROOM) / 1e6 - 1:.0f}MB"
    assert not outputs.side_wanted((1000, 1000), tight) and outputs.side_wanted((1000, 1000), "8GB")
    run_timeseries(None, out, RunConfig(memory_limit=tight), steps=["outputs"], force=True, progress=False)
    assert not started
    mine = sorted(p.name for p in (small_run.out / "plots").glob("*.png"))
    assert len(mine) >= 20 and sorted(p.name for p in (out / "plots").glob("*.png")) == mine
    for name in mine:
        assert (out / "plots" / name).read_bytes() == (small_run.out / "plots" / name).read_bytes(), name
    run_timeseries(None, out, RunConfig(memory_limit="8GB"), steps=["outputs"], force=True, progress=False)
    assert started  # the same frame with room: the side process draws
