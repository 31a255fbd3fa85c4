"""Plate motion: the ITRF plate motion tables, ``v = ω × r``, its LOS projection and ``kansho plate``."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis import strategies as st
from tests._shared import FinishedRun, figures_skipped

from kansho.cli import main
from kansho.geodesy.plate import (
    MAS_PER_DEG_PER_MYR,
    MEAN_EARTH_RADIUS,
    MODELS,
    enu_to_los,
    omega_to_pole,
    plate_omega,
    pole_to_omega,
    reference_to_area,
    rotation_velocity_enu,
)

MAS = np.pi / (180 * 3600 * 1000)  # rad


def _hand_sphere_enu(lon: float, lat: float, w_mas: np.ndarray) -> tuple[float, float]:
    """East and north velocity (mm/yr) of ω × r on a sphere, written out by hand (Cox & Hart 1986):
    r = R (cos φ cos λ, cos φ sin λ, sin φ); v_e = R (ωz cos φ - sin φ (ωx cos λ + ωy sin λ));
    v_n = R (ωx sin λ - ωy cos λ) (the components of ω on the local north and east axes)."""
    wx, wy, wz = (float(v) * MAS for v in w_mas)
    phi, lam = np.radians(lat), np.radians(lon)
    r = MEAN_EARTH_RADIUS * 1000.0  # mm
    ve = r * (wz * np.cos(phi) - np.sin(phi) * (wx * np.cos(lam) + wy * np.sin(lam)))
    vn = r * (wx * np.sin(lam) - wy * np.cos(lam))
    return float(ve), float(vn)


# ------------------------------------------------------------------ tables


@pytest.mark.parametrize("model", sorted(MODELS))
def test_table_rates_match_the_published_total_rate(model: str) -> None:
    # each table row also lists the total rate |ω| in deg/Myr: a mistyped component shows here.
    # Components are rounded to 0.0005 mas/yr (|ω| to ~0.0009 mas/yr = 0.00025 deg/Myr) and the
    # published total to 0.0005 deg/Myr: 0.001 deg/Myr covers both roundings
    for name, p in MODELS[model].plates.items():
        rate = np.linalg.norm(p.omega_mas) / MAS_PER_DEG_PER_MYR
        assert rate == pytest.approx(p.omega, abs=1e-3), name


def test_itrf2020_matches_the_ign_deg_per_myr_file() -> None:
    # ITRF2020-PMM.dat (IGN, https://itrf.ign.fr) gives the same rates in deg/Myr to 4 decimals; the
    # paper's mas/yr to 3: agreement within 0.0005 mas/yr + 3.6 x 0.00005 deg/Myr
    ign = {"EURA": (-0.0237, -0.1442, 0.2091), "NOAM": (0.0126, -0.1849, -0.0272),
           "ANTA": (-0.0746, -0.0866, 0.1882), "PCFC": (-0.1122, 0.2836, -0.5984),
           "CARB": (0.0576, -0.3949, 0.2017), "AMUR": (-0.0364, -0.1532, 0.2325)}
    for name, deg in ign.items():
        np.testing.assert_allclose(plate_omega(name, "itrf2020"), np.array(deg) * 3.6, atol=7e-4, err_msg=name)


def test_itrf2020_north_america_pole() -> None:
    # the ITRF2020-PMM North America pole lies near 8.4 S, 86.1 W, turning at 0.187 deg/Myr
    lat, lon, rate = omega_to_pole(plate_omega("noam", "itrf2020"))
    assert (lat, lon, rate) == pytest.approx((-8.35, -86.13, 0.187), abs=0.02)


def test_unknown_plate_and_model() -> None:
    with pytest.raises(KeyError, match="choose from"):
        plate_omega("XXXX")
    with pytest.raises(KeyError, match="CARB"):  # the message lists the model's plates
        plate_omega("CARB", "itrf2014")
    with pytest.raises(KeyError, match="itrf2014"):
        plate_omega("EURA", "nuvel")


# ------------------------------------------------------------------ numerics


@settings(max_examples=60, deadline=None)
@given(lon=st.floats(-180, 180), lat=st.floats(-85, 85), w=st.lists(st.floats(-3, 3), min_size=3, max_size=3))
def test_rotation_velocity_matches_hand_formula(lon: float, lat: float, w: list[float]) -> None:
    omega = np.array(w)
    ve, vn, vu = rotation_velocity_enu(lon, lat, omega, sphere=True)
    he, hn = _hand_sphere_enu(lon, lat, omega)
    # same formula evaluated two ways: only round-off separates them
    assert float(ve) == pytest.approx(he, abs=1e-9)
    assert float(vn) == pytest.approx(hn, abs=1e-9)
    assert abs(float(vu)) < 1e-9  # a rotation is horizontal on a sphere
    # on GRS80 |r| differs from the mean radius by <= 0.34 % (|r_ell - r_sph| <= 0.0034 a) and the normal
    # is tilted from the radius by <= 0.19 deg (0.0034 rad): each changes v by <= 0.0034 |ω| a
    r = np.linalg.norm(omega) * MAS * 6.3781e9  # |ω|·a, mm/yr: bound of the speed
    ee, en, eu = rotation_velocity_enu(lon, lat, omega)
    tol = 0.007 * r + 1e-9
    assert float(ee) == pytest.approx(he, abs=tol)
    assert float(en) == pytest.approx(hn, abs=tol)
    assert abs(float(eu)) <= 0.0034 * r + 1e-9


def test_station_velocity_eurasia_wettzell() -> None:
    # Wettzell (49.144 N, 12.879 E) on Eurasia (ITRF2014-PMM): by hand on the sphere
    # v_e = R (ωz cos φ - sin φ (ωx cos λ + ωy sin λ)), v_n = R (ωx sin λ - ωy cos λ)
    # = 20.26 / 15.40 mm/yr; ITRF2014 gives WTZR ~ 20 mm/yr east, ~ 15 mm/yr north
    w = plate_omega("EURA")
    he, hn = _hand_sphere_enu(12.879, 49.144, w)
    assert (he, hn) == pytest.approx((20.26, 15.40), abs=0.01)
    ve, vn, _ = rotation_velocity_enu(12.879, 49.144, w)
    assert (float(ve), float(vn)) == pytest.approx((he, hn), rel=0.005)


@settings(max_examples=40, deadline=None)
@given(lat=st.floats(-89, 89), lon=st.floats(-179, 179), rate=st.floats(0.01, 20))
def test_pole_round_trip(lat: float, lon: float, rate: float) -> None:
    back = omega_to_pole(pole_to_omega(lat, lon, rate))
    assert back == pytest.approx((lat, lon, rate), abs=1e-9)


def test_pole_velocity_is_perpendicular_to_the_pole_and_zero_at_it() -> None:
    w = pole_to_omega(30.0, 40.0, 1.0)
    ve, vn, _ = rotation_velocity_enu(40.0, 30.0, w, sphere=True)
    assert abs(float(ve)) < 1e-9 and abs(float(vn)) < 1e-9
    # 90 deg from the pole the speed is ω R: 1 deg/Myr = 1.745e-8 rad/yr x 6371 km = 111.2 mm/yr
    ve, vn, _ = rotation_velocity_enu(130.0, 0.0, pole_to_omega(0.0, 40.0, 1.0), sphere=True)
    assert np.hypot(ve, vn) == pytest.approx(np.radians(1e-6) * MEAN_EARTH_RADIUS * 1000, rel=1e-9)


def test_orb_is_added_to_the_horizontal_only() -> None:
    w = np.zeros(3)
    ve, vn, vu = rotation_velocity_enu(0.0, 0.0, w, orb=(1.0, 2.0, 3.0))
    # at (0, 0): east = +y, north = +z, up = +x; the up part (1.0) is discarded
    assert (float(ve), float(vn), float(vu)) == pytest.approx((2.0, 3.0, 0.0))


def test_los_sign_and_reference() -> None:
    # uplift seen on a LOS with a positive up component is motion toward the satellite: positive
    assert float(enu_to_los(0, 0, 5.0, 0.6, -0.1, 0.79)) == pytest.approx(5 * 0.79)
    # eastward motion on an east-looking (ascending, satellite to the west: los_e < 0) track: away
    assert float(enu_to_los(10.0, 0, 0, -0.62, -0.1, 0.78)) < 0
    f = np.arange(12.0).reshape(3, 4)
    ref = np.zeros((3, 4), bool)
    ref[1, 1:3] = True
    out = reference_to_area(f, ref)
    assert out[ref].mean() == pytest.approx(0.0)
    np.testing.assert_allclose(np.diff(out, axis=1), np.diff(f, axis=1))  # the gradient is untouched
    with pytest.raises(ValueError, match="reference"):
        reference_to_area(np.full((3, 4), np.nan), ref)


# ------------------------------------------------------------------ the command on simulated runs


def _read(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return np.asarray(src.read(1), np.float64)


def _inject_rotation(geoc: Path, lon_pole: float, lat_pole: float, rate: float, wavelength: float) -> None:
    """Add the LOS displacement of a rigid rotation (absolute, not referred to anything) to every pair's
    unwrapped phase, the ENU velocity computed by hand on a sphere (independently of kansho.geodesy)."""
    e, n = (_read(next(geoc.glob(f"*.geo.{c}.tif"))) for c in "EN")  # a rotation has no up component
    with rasterio.open(next(geoc.glob("*.geo.E.tif"))) as src:
        tr, (ny, nx) = src.transform, src.shape
    lon = tr.c + (np.arange(nx) + 0.5) * tr.a
    lat = tr.f + (np.arange(ny) + 0.5) * tr.e
    lo, la = np.meshgrid(lon, lat)
    w = pole_to_omega(lat_pole, lon_pole, rate)
    ve, vn = np.vectorize(lambda a, b: _hand_sphere_enu(a, b, w))(lo, la)
    v_los = ve * e + vn * n  # mm/yr toward the satellite
    for unw in sorted(geoc.glob("*_*/*.geo.unw.tif")):
        d1, d2 = unw.parent.name.split("_")
        dt = (np.datetime64(f"{d2[:4]}-{d2[4:6]}-{d2[6:]}") - np.datetime64(f"{d1[:4]}-{d1[4:6]}-{d1[6:]}")
              ).astype(int) / 365.25
        with rasterio.open(unw, "r+") as dst:
            ph = dst.read(1).astype(np.float64)
            ok = np.isfinite(ph) & (ph != 0)
            ph[ok] -= v_los[ok] * dt * 4 * np.pi / (wavelength * 1000.0)  # LiCSAR: phase grows with range
            dst.write(ph.astype(np.float32), 1)


@pytest.fixture(scope="module")
def wide_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FinishedRun]:
    """A 1.5 x 1.5 deg frame (24 x 24 px of 0.0625 deg), run with and without a rigid rotation injected."""
    from kansho import run_timeseries
    from kansho.config import RunConfig
    from kansho.synth import SimConfig, simulate_frame

    # 1.5 years, quiet atmosphere and no unwrapping errors: the velocity error is a few mm/yr, so the
    # rotation's signal (~17 mm/yr of range) is what the test measures
    cfg = SimConfig(shape=(24, 24), posting_deg=0.0625, lon0=10.0, lat0=47.0, n_epoch=18, interval_days=32, gap=False,
                    n_missing=0, n_dropped_pairs=0, atm_turb_mm=1.0, atm_strat_seasonal=0.0, atm_strat_std=0.0,
                    ramp_mm_per_100km=0.5, dem_error_m=0.0, snow=False, n_unw_errors=0, local_unw_errors=0.0)
    runs = {}
    for name in ("clean", "rotation"):
        d = tmp_path_factory.mktemp(f"wide_{name}")
        truth = simulate_frame(d, cfg, rng=3)
        if name == "rotation":
            # a block rotating fast about a pole ~10 deg away: ~20 mm/yr of LOS gradient over the frame
            _inject_rotation(d / "GEOC", 20.0, 40.0, 8.0, truth.wavelength)
        with figures_skipped():
            run_timeseries(d / "GEOC", d / "run", RunConfig(), progress=False)
        runs[name] = FinishedRun(out=d / "run", input=d / "GEOC", ctx=None, truth=truth)
    return runs


def _vel_error(run: Path, name: str, truth_vel: np.ndarray) -> np.ndarray:
    """Velocity minus the truth, both referred to the run's reference pixels, on the kept pixels."""
    ref = _read(run / "results/refmask.tif") == 1
    keep = _read(run / "results/mask.tif") == 1
    err = _read(run / f"results/{name}.tif") - reference_to_area(truth_vel, ref)
    return err[keep & np.isfinite(err)]


def _series_error(path: Path, ref: np.ndarray, truth_cum: np.ndarray, keep: np.ndarray) -> np.ndarray:
    with h5py.File(path, "r") as f:
        cum = np.asarray(f["cum"][()], np.float64)
    tc = truth_cum - truth_cum[:, ref].mean(axis=1)[:, None, None]
    err = cum - tc
    return err[:, keep & np.isfinite(err).all(axis=0)]


def test_command_removes_an_injected_rotation(wide_runs: dict[str, FinishedRun], tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(wide_runs["rotation"].out, run, symlinks=True)
    truth = wide_runs["rotation"].truth
    assert truth is not None
    assert main(["-q", "plate", str(run), "--pole", "40,20,8"]) == 0
    removed = _read(run / "results/plate_los.tif")
    ref = _read(run / "results/refmask.tif") == 1
    keep = _read(run / "results/mask.tif") == 1
    signal_var = np.nanvar(removed[keep])
    assert np.nanmax(removed) - np.nanmin(removed) > 10.0  # the injected gradient is large against the noise
    before = _vel_error(run, "vel", truth.vel_fit)
    after = _vel_error(run, "vel.plate", truth.vel_fit)
    # with the noise uncorrelated with the rotation, var(before) = var(noise) + var(signal): at least
    # 80 % of the signal's variance must be gone from the error
    assert np.var(before) - np.var(after) >= 0.8 * signal_var
    # the series: the injected signal at epoch k is plate_los * t_k
    with h5py.File(run / "cum.h5", "r") as f:
        dates = np.asarray(f["imdates"][()])
    from kansho._dates import years_since_first

    t = years_since_first(dates)
    s_before = _series_error(run / "cum.h5", ref, truth.cum, keep)
    s_after = _series_error(run / "cum.plate.h5", ref, truth.cum, keep)
    sig = (removed[keep & np.isfinite(removed)][None, :] * t[:, None])
    assert np.var(s_before) - np.var(s_after) >= 0.8 * np.var(sig)
    # the products: same layout as cum.h5, first epoch still 0, vel of the cube = vel.plate.tif
    with h5py.File(run / "cum.h5", "r") as a, h5py.File(run / "cum.plate.h5", "r") as b:
        assert set(a) == set(b)
        assert a["refarea"][()] == b["refarea"][()]
        np.testing.assert_array_equal(b["imdates"][()], a["imdates"][()])
        np.testing.assert_allclose(np.nan_to_num(b["cum"][0]), np.nan_to_num(a["cum"][0]), atol=1e-6)
        np.testing.assert_allclose(b["vel"][()], _read(run / "results/vel.plate.tif"), atol=1e-4)
    text = (run / "info/plate.txt").read_text()
    assert "relative to the reference area" in text and "Euler pole 40.000°N, 20.000°E, 8 deg/Myr" in text


def test_command_without_rotation_costs_at_most_the_plate_gradient(wide_runs: dict[str, FinishedRun],
                                                                  tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(wide_runs["clean"].out, run, symlinks=True)
    truth = wide_runs["clean"].truth
    assert truth is not None
    assert main(["-q", "plate", str(run), "--plate", "EURA", "--model", "itrf2020"]) == 0
    removed = _read(run / "results/plate_los.tif")
    grad = float(np.nanmax(removed) - np.nanmin(removed))
    # Eurasia (~25 mm/yr here) seen over 1.5 deg: its rotation (0.255 deg/Myr, 0.7 mm/yr per 150 km) plus
    # the change of the LOS vector across the swath (incidence varies by several degrees: ~0.06 of
    # 25 mm/yr): a mm/yr or two, well under 3
    assert 0.0 < grad < 3.0
    before = _vel_error(run, "vel", truth.vel_fit)
    after = _vel_error(run, "vel.plate", truth.vel_fit)
    # the simulation has no plate motion, so the correction can add at most its own range to the error
    assert np.sqrt(np.mean(after**2)) <= np.sqrt(np.mean(before**2)) + grad
    assert "ITRF2020-PMM" in (run / "info/plate.txt").read_text()


def test_command_bad_input(wide_runs: dict[str, FinishedRun], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    run = wide_runs["clean"].out
    assert main(["plate", str(run), "--plate", "XXXX"]) == 2
    assert "not a plate of ITRF2014-PMM" in capsys.readouterr().err
    assert main(["plate", str(run), "--plate", "CARB"]) == 2  # only in ITRF2020-PMM
    assert main(["plate", str(run), "--pole", "95,0,1"]) == 2
    assert "latitude" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plate", str(run), "--pole", "1,2"])
    assert main(["plate", str(tmp_path / "missing"), "--plate", "EURA"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["plate", str(empty), "--plate", "EURA"]) == 2
    err = capsys.readouterr().err
    assert "no cum.h5" in err and err.count("\n") >= 1
    assert not (run / "cum.plate.h5").exists()  # nothing written on a refused run
