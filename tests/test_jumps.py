"""The spatial check of one interferogram (:func:`kansho.jumps.cycle_jumps`): regions off by whole
cycles found and moved back, nothing else touched; and in the chain, an error in a pair that no
loop checks (a cut edge of the network) corrected by it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import ndimage

from kansho.jumps import cycle_jumps

TWO_PI = 2 * np.pi


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], amp: float, width: float) -> np.ndarray:
    """A smooth random field (rad): white noise low-passed by a Gaussian of ``width`` px, scaled to
    a standard deviation of ``amp``, plus a ramp of a few radians across the frame."""
    f = ndimage.gaussian_filter(rng.normal(size=shape), width)
    f *= amp / f.std()
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return f + 3.0 * xx / shape[1] - 2.0 * yy / shape[0]


def ellipse(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1


def _labels_by_graph(u: np.ndarray, tau: float) -> np.ndarray:
    """The labelling of :func:`kansho._jumps_jit.label_continuous` the plainest way: the graph of the
    continuous 4-neighbour edges, its connected components (scipy), numbered in the order of their
    smallest flat index."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    ny, nx = u.shape
    idx = np.arange(ny * nx).reshape(ny, nx)
    v = u.astype(np.float64)
    a, b = [], []
    for d0, d1, i0, i1 in ((v[:, :-1], v[:, 1:], idx[:, :-1], idx[:, 1:]), (v[:-1], v[1:], idx[:-1], idx[1:])):
        with np.errstate(invalid="ignore"):
            ok = np.abs(d1 - d0) < tau  # False where either end is NaN
        a.append(i0[ok])
        b.append(i1[ok])
    ea, eb = np.concatenate(a), np.concatenate(b)
    g = coo_array((np.ones(ea.size), (ea, eb)), shape=(ny * nx, ny * nx))
    _, comp = connected_components(g, directed=False)
    first = np.full(comp.max() + 1, ny * nx)
    np.minimum.at(first, comp, np.arange(ny * nx))
    named = np.where(np.isfinite(u).ravel(), first[comp], -1)
    order = np.unique(named[named >= 0])  # the components' smallest indices, in order: their numbers
    return np.where(named >= 0, np.searchsorted(order, named), -1).astype(np.int32)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ny=st.integers(1, 12), nx=st.integers(1, 12), seed=st.integers(0, 2**31 - 1),
       levels=st.integers(2, 5), nan_frac=st.floats(0, 0.4), f32=st.booleans())
def test_labels_are_the_graph_components(ny: int, nx: int, seed: int, levels: int, nan_frac: float,
                                         f32: bool) -> None:
    """Union-find labels (one raster scan over the left and upper edges, roots searched only where two
    sets meet) equal the connected components of the continuous-edge graph, numbered in the order of
    their smallest flat index, and their sizes their pixels, on small images of a few phase levels
    (every kind of edge: equal, near, far, to no data)."""
    from kansho._jumps_jit import label_continuous

    rng = np.random.default_rng(seed)
    u = rng.integers(0, levels, size=(ny, nx)) * 0.6 + rng.normal(0, 0.05, size=(ny, nx))
    u[rng.random((ny, nx)) < nan_frac] = np.nan
    u = u.astype(np.float32) if f32 else u
    par = np.full(ny * nx, 7, np.int32)  # reused arrays hold anything
    lab = np.full(ny * nx, -5, np.int32)
    size = np.full(ny * nx, 3, np.int32)
    n = label_continuous(np.ascontiguousarray(u), 0.5, par, lab, size)
    want = _labels_by_graph(u, 0.5)
    np.testing.assert_array_equal(lab, want)
    np.testing.assert_array_equal(size[:n], np.bincount(want[want >= 0], minlength=n))
    assert n == (want.max() + 1 if want.size else 0)


def _edges_by_numpy(u: np.ndarray, lab: np.ndarray, cycle: float) -> tuple[np.ndarray, ...]:
    """:func:`kansho._jumps_jit.boundary_edges` the plainest way: every right and lower edge between two
    different labels, in raster order (a pixel's right edge before its lower one)."""
    ny, nx = u.shape
    v = np.pad(u.astype(np.float64), 2, constant_values=np.nan)
    L = lab.reshape(ny, nx)
    rows = []
    for r in range(ny):
        for c in range(nx):
            for dr, dc in ((0, 1), (1, 0)):
                if r + dr >= ny or c + dc >= nx:
                    continue
                la, lb = int(L[r, c]), int(L[r + dr, c + dc])
                if la < 0 or lb < 0 or la == lb:
                    continue
                ua, b = v[r + 2, c + 2], v[r + 2 + dr, c + 2 + dc]
                before, after = v[r + 2 - dr, c + 2 - dc], v[r + 2 + 2 * dr, c + 2 + 2 * dc]
                x = (b - ua) / cycle
                k = int(np.round(x))
                terms = [t for t in (ua - before, after - b) if np.isfinite(t)]
                side = sum(terms) / (len(terms) * cycle) if terms else 0.0
                rows.append((la, lb, k, x - k, side) if la < lb else (lb, la, -k, k - x, -side))
    cols = list(zip(*rows, strict=True)) if rows else [[]] * 5
    return tuple(np.asarray(col, dt) for col, dt in zip(cols, (np.int64,) * 3 + (np.float64,) * 2, strict=True))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ny=st.integers(1, 45), nx=st.integers(1, 45), seed=st.integers(0, 2**31 - 1),
       levels=st.integers(1, 6), nan_frac=st.floats(0, 0.3))
def test_boundary_edges_are_every_seam_in_raster_order(ny: int, nx: int, seed: int, levels: int,
                                                       nan_frac: float) -> None:
    """The edges between labels, their jumps and side gradients, equal a plain enumeration, both when
    they fit the first scan's room (1024 edges on these images) and when a second scan is needed (an
    image of many small sets: up to 3960 edges)."""
    from kansho._jumps_jit import boundary_edges, label_continuous

    rng = np.random.default_rng(seed)
    u = (rng.integers(0, levels, size=(ny, nx)) * 2.1 + rng.normal(0, 0.05, size=(ny, nx))).astype(np.float32)
    u[rng.random((ny, nx)) < nan_frac] = np.nan
    par = np.empty(ny * nx, np.int32)
    lab = np.empty(ny * nx, np.int32)
    label_continuous(u, 0.5, par, lab, np.empty(ny * nx, np.int32))
    got = boundary_edges(u, lab, 2.0)
    want = _edges_by_numpy(u, lab, 2.0)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), seed=st.integers(0, 2**31 - 1), n_edges=st.integers(0, 60))
def test_merge_joins_cores_into_their_smallest(n: int, seed: int, n_edges: int) -> None:
    """:func:`kansho._jumps_jit.merge`: each core's cluster is the smallest core connected to it by the
    joins, and each cluster's size (at that label; 0 at the others) the sum of its cores' sizes."""
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    from kansho._jumps_jit import merge

    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, n_edges)
    b = rng.integers(0, n, n_edges)
    size = rng.integers(1, 1000, n).astype(np.int32)
    par, out, out_size = np.full(n + 5, 9, np.int32), np.full(n, -3, np.int32), np.full(n, 7, np.int64)
    merge(np.minimum(a, b), np.maximum(a, b), n, size, par, out, out_size)
    _, comp = connected_components(coo_array((np.ones(n_edges), (a, b)), shape=(n, n)), directed=False)
    first = np.full(comp.max() + 1, n)
    np.minimum.at(first, comp, np.arange(n))
    np.testing.assert_array_equal(out, first[comp])
    want = np.zeros(n, np.int64)
    np.add.at(want, first[comp], size)
    np.testing.assert_array_equal(out_size, want)


@pytest.mark.parametrize("k", [1, -1, 2, -2])
def test_region_off_by_cycles_is_moved_back(k: int) -> None:
    """An ellipse (~8 % of the frame) shifted by k cycles in a noisy, smooth interferogram (0.5 rad
    of phase noise a pixel: neighbours differ by 0.7 rad RMS) is moved back at every pixel; nothing
    else is touched."""
    rng = np.random.default_rng(abs(k) * 10 + (k > 0))
    shape = (120, 150)
    u = smooth_field(rng, shape, 6.0, 12.0) + rng.normal(0, 0.5, shape)
    region = ellipse(shape, 40, 90, 18, 30)
    fix, n = cycle_jumps(u + TWO_PI * k * region)
    assert n == 1
    assert not fix[~region].any()
    # a noisy pixel on the region's edge may stay alone (its own piece, unjoined): at most 0.5 %
    assert (fix[region] == -k).mean() >= 0.995 and set(np.unique(fix[region])) <= {0, -k}


def test_a_workspace_reused_across_images_changes_nothing() -> None:
    """One :class:`~kansho.jumps.Workspace` through images of two sizes, with and without regions off
    by cycles, in turn: each result is that of fresh arrays."""
    from kansho.jumps import Workspace

    rng = np.random.default_rng(3)
    images = []
    for shape, k in (((120, 150), 1), ((90, 60), 0), ((120, 150), -2), ((120, 150), 0)):
        u = smooth_field(rng, shape, 6.0, 12.0) + rng.normal(0, 0.5, shape)
        images.append(u + TWO_PI * k * ellipse(shape, shape[0] / 3, shape[1] / 2, shape[0] / 6, shape[1] / 5))
    work = Workspace()
    for u in images + images[::-1]:
        fresh, n_fresh = cycle_jumps(u)
        fix, n = cycle_jumps(u, work=work)
        assert n == n_fresh and np.array_equal(fix, fresh)
    assert sum(cycle_jumps(u)[1] for u in images) == 2


def test_float32_input_is_checked_as_its_float64_values() -> None:
    """The stack's float32 phase goes to the kernels as it is (no float64 copy of the image): each
    difference is taken in float64 there, so the fix is that of the same values given as float64."""
    rng = np.random.default_rng(7)
    shape = (130, 110)
    u = smooth_field(rng, shape, 6.0, 10.0) + rng.normal(0, 0.6, shape)
    u = (u + TWO_PI * ellipse(shape, 60, 50, 20, 25)).astype(np.float32)
    u[rng.random(shape) < 0.05] = np.nan
    fix32, n32 = cycle_jumps(u)
    fix64, n64 = cycle_jumps(u.astype(np.float64))
    assert n32 == n64 >= 1
    np.testing.assert_array_equal(fix32, fix64)


def test_the_part_beyond_a_line_and_no_data() -> None:
    """The part of the frame beyond a line (30 %) off by one cycle, with no-data holes (water, 10 %
    of the frame) on its edge: moved back; the holes stay 0."""
    rng = np.random.default_rng(3)
    shape = (100, 100)
    yy, xx = np.mgrid[:100, :100]
    u = smooth_field(rng, shape, 5.0, 10.0) + rng.normal(0, 0.3, shape)
    region = yy + 0.5 * xx > 95
    water = ellipse(shape, 75, 40, 12, 25)
    u[water] = np.nan
    fix, n = cycle_jumps(u - TWO_PI * region)
    assert n == 1
    np.testing.assert_array_equal(fix, (region & ~water).astype(np.int8))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), amp=st.floats(1.0, 20.0), noise=st.floats(0.0, 0.9))
def test_a_clean_interferogram_is_never_touched(seed: int, amp: float, noise: float) -> None:
    """A smooth field (any amplitude up to 20 rad) with phase noise up to 0.9 rad a pixel (neighbours
    differing by up to 1.3 rad RMS, some by more than π) and a few no-data pixels: nothing moves."""
    rng = np.random.default_rng(seed)
    shape = (80, 90)
    u = smooth_field(rng, shape, amp, 8.0) + rng.normal(0, noise, shape)
    u[rng.random(shape) < 0.05] = np.nan
    fix, n = cycle_jumps(u)
    assert n == 0 and not fix.any()


def test_steep_fringes_are_not_a_cut() -> None:
    """A band of fringes too dense to sample (0.9 cycle a pixel, as in an earthquake's near field),
    whose first step from the flat rest is near one cycle: a gradient, not a cut; left alone."""
    u = np.zeros((80, 100))
    u[:, 70:] = TWO_PI * 0.9 * np.arange(1, 31)[None, :]
    fix, n = cycle_jumps(u)
    assert n == 0 and not fix.any()
    # the same first step with a flat band beyond it is a cut
    v = np.zeros((80, 100))
    v[:, 70:] = TWO_PI * 0.9
    fix, n = cycle_jumps(v)
    assert n == 1 and (fix[:, 70:] == -1).all() and not fix[:, :70].any()


def test_units_and_frames_broken_by_noise() -> None:
    """The cycle sets the unit (mm with λ/2 a cycle gives what radians give); a frame of pure noise
    (no reference area holds 30 % of it) is left alone; bad input is refused."""
    rng = np.random.default_rng(5)
    shape = (90, 90)
    u = smooth_field(rng, shape, 4.0, 10.0) + TWO_PI * ellipse(shape, 30, 30, 15, 20)
    half_mm = 55.465 / 2
    fix_rad, _ = cycle_jumps(u)
    fix_mm, _ = cycle_jumps(u * half_mm / TWO_PI, half_mm)
    np.testing.assert_array_equal(fix_rad, fix_mm)
    assert fix_rad.any()
    fix, n = cycle_jumps(rng.uniform(-20, 20, shape))
    assert n == 0 and not fix.any()
    assert not cycle_jumps(np.full(shape, np.nan))[0].any()
    with pytest.raises(ValueError, match="ny, nx"):
        cycle_jumps(np.zeros(10))
    with pytest.raises(ValueError, match="positive"):
        cycle_jumps(u, 0.0)


# ------------------------------------------------------------------------------------- the chain
def _bridge_frame(root: Path) -> dict[str, Any]:
    """A 64 x 64 px frame, 24 epochs with 2 successors each, no simulated errors; the two pairs that
    span epoch 11 -> 12 besides (11, 12) removed, so (11, 12) is on no loop; a third of the frame
    shifted by one cycle in it."""
    from kansho.synth import SimConfig, simulate_frame

    truth = simulate_frame(root, SimConfig(shape=(64, 64), n_epoch=24, interval_days=12, pairs_per_epoch=2, gap=False,
                                           n_unw_errors=0, local_unw_errors=0.0, n_dropped_pairs=0, atm_turb_mm=2.0,
                                           atm_strat_seasonal=0.5, atm_strat_std=0.5, ramp_mm_per_100km=1.0), rng=7)
    geoc = root / "GEOC"
    ep = truth.epochs
    for a, b in ((10, 12), (11, 13)):
        shutil.rmtree(geoc / f"{ep[a]}_{ep[b]}")
    name = f"{ep[11]}_{ep[12]}"
    yy, xx = np.mgrid[:64, :64]
    region = xx + yy > 80
    import rasterio

    with rasterio.open(geoc / name / f"{name}.geo.unw.tif", "r+") as ds:
        a = ds.read(1)
        on = region & (a != 0) & np.isfinite(a)
        a[on] += np.float32(TWO_PI)
        ds.write(a, 1)
    return {"truth": truth, "geoc": geoc, "name": name, "region": on}


@pytest.fixture(scope="module")
def bridge_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tests._shared import figures_skipped

    from kansho import run_timeseries
    from kansho.config import RunConfig

    root = tmp_path_factory.mktemp("jumps")
    frame = _bridge_frame(root)
    for mode in ("correct", "off"):
        cfg = RunConfig()
        cfg.loops.spatial_errors = mode
        cfg.loops.noloop_max_frac = None  # keep the pair either way: what differs is its phase
        with figures_skipped():  # the tests compare numbers only
            run_timeseries(frame["geoc"], root / mode, cfg, progress=False)
    return {**frame, "root": root}


def test_error_in_a_pair_no_loop_checks_is_corrected(bridge_runs: dict[str, Any]) -> None:
    """The chain moves the region back in the pair on no triangle (and nothing else anywhere), lists
    it in info/12corrected_pairs.txt, and the region's series has no step: with the check off the
    region's epochs after the pair are off against the rest's by over half a cycle (a few long pairs
    spread the cycle over the series; measured 0.75 cycle at the first epoch after it), with it by
    under 0.15 cycle at every epoch."""
    import zarr

    from kansho.run import open_run

    root, name, region = bridge_runs["root"], bridge_runs["name"], bridge_runs["region"]
    run = open_run(root / "correct")
    names = run.stack.pair_names()
    lres = run.result("loops")
    i = names.index(name)
    assert i in lres.no_loop and i in lres.pairs
    fix = np.asarray(zarr.open_group(str(root / "correct" / "work" / "ts.zarr"), mode="r")["unw_fix"][:])
    assert (fix[i][region] == -1).all()
    fix[i][region] = 0
    assert not fix.any(), "a clean pixel was changed"
    assert lres.n_jumped[lres.pairs_in.index(i)] == region.sum()
    row = next(r for r in (root / "correct" / "info" / "12corrected_pairs.txt").read_text().splitlines()
               if r.startswith(name))
    assert row.split()[1:5] == [str(region.sum()), "0", str(region.sum()), "1"]
    truth = bridge_runs["truth"]
    epochs = np.asarray(lres.epochs)
    true = np.stack([truth.apparent_mm(truth.epoch_index(int(e))) for e in epochs])
    steps = {}
    for mode in ("correct", "off"):
        err = open_run(root / mode).array("cum")[:] - true
        steps[mode] = np.nanmedian(err[:, region], axis=1) - np.nanmedian(err[:, ~region], axis=1)
        steps[mode] -= steps[mode][0]
    half_mm = truth.wavelength * 1000 / 2
    first = int(np.flatnonzero(epochs == int(name[9:]))[0])
    assert np.abs(steps["correct"]).max() < 0.15 * half_mm < 0.5 * half_mm < abs(steps["off"][first]), steps


def test_pairs_read_one_at_a_time_give_the_same_check(bridge_runs: dict[str, Any], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for one image only (a frame too big to hold its pair chunk), the pairs are read and
    checked one at a time on one thread: the same corrections as the default run's."""
    import zarr

    from kansho import run_timeseries
    from kansho.chain.steps import loop_tasks
    from kansho.config import RunConfig

    monkeypatch.setattr(loop_tasks, "JUMP_MEMORY", 1)
    cfg = RunConfig()
    cfg.loops.noloop_max_frac = None
    run_timeseries(bridge_runs["geoc"], tmp_path / "one", cfg, progress=False, steps=["ingest", "qc", "loops"])
    one, default = (np.asarray(zarr.open_group(str(p / "work" / "ts.zarr"), mode="r")["unw_jump"][:])
                    for p in (tmp_path / "one", bridge_runs["root"] / "correct"))
    assert one.any()
    np.testing.assert_array_equal(one, default)
