"""Solid-earth tides (kansho.tides) against the IERS routine's test case, pysolid's numbers and
physical invariants."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho import tides
from kansho.errors import InputError
from kansho.tides import epoch_times, los_tide_mm, tide_enu, tide_grid

REF = Path(__file__).parent / "data" / "tide_reference.json"

REF_IERS = Path(__file__).parent / "data" / "tide_reference_iers.json"

# The reference the tide is validated against (benchmarks/make_tide_reference.py pytmd): pyTMD's
# separate coding of the IERS 2010 displacement, fed with ERFA's geometric Sun and Moon rotated into
# the ITRS by astropy with real Earth orientation (UT1 - UTC, polar motion), which Kansho leaves out
# (< 0.03 mm each). Measured: max 0.006 / 0.005 / 0.063 mm in E / N / U, LOS max 0.06 mm. The issue
# asks 0.1 mm in the LOS; the test asks it of every component.
IERS_TOL_MM = 0.1
# pysolid codes the low-precision Montenbruck & Gill Sun and Moon (the Moon off by up to a few
# arcminutes): it differs from the reference above by up to 0.46 mm in U (0.15 mm RMS) and from
# kansho.tides by about as much. That comparison is kept as a check of sign, frame and time scale,
# bounded at 1.5x what was measured over 10800 random cases (100 times 2014-2026 x 108 places: max
# 0.17 / 0.18 / 0.96 mm, RMS 0.04 / 0.04 / 0.18 mm in E / N / U).
PYSOLID_MAX_H_MM = 0.3
PYSOLID_MAX_U_MM = 1.5
PYSOLID_RMS_MM = 0.3

# Sentinel-1-like ground->satellite unit vectors (ascending, descending, steep, flat).
LOS_VECTORS = [(-0.62, -0.11, 0.78), (0.62, -0.11, 0.78), (-0.30, -0.06, 0.95), (0.75, 0.13, 0.65)]


def _reference(path: Path = REF) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ref = json.loads(path.read_text())
    lat = np.array([p["lat"] for p in ref["places"]])
    lon = np.array([p["lon"] for p in ref["places"]])
    times = np.array(ref["times"], dtype="datetime64[us]")
    return lon, lat, times, np.array(ref["enu_m"])


def test_iers_routine_test_case() -> None:
    """DEHANTTIDEINEL's published test case (IERS Conventions software, 2009-04-13 0h, given Sun,
    Moon and station): the displacement model with the routine's Table 7.3a reproduces the
    expected output to rounding (1e-12 m), and the printed table (the default) to 0.02 mm (its
    two differing entries are 0.02 and 0.01 mm terms)."""
    xsta = np.array([4075578.385, 931852.890, 4801570.154])
    xsun = np.array([[137859926952.015, 54228127881.4350, 23509422341.6960]])
    xmon = np.array([[-179996231.920342, -312468450.131567, -169288918.592160]])
    days = (np.datetime64("2009-04-13T00:00") - np.datetime64("2000-01-01T12:00")) / np.timedelta64(1, "D")
    cent_tt = np.array([(days + (34 + 32.184) / 86400) / 36525])   # TAI-UTC = 34 s in 2009
    expected = [0.07700420357108125891, 0.06304056321824967613, 0.05516568152597246810]
    got = tides._tide_ecef(xsta, xsun, xmon, cent_tt, np.array([0.0]), tides._DIURNAL_IERS_ROUTINE)[0]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    printed = tides._tide_ecef(xsta, xsun, xmon, cent_tt, np.array([0.0]))[0]
    np.testing.assert_allclose(printed, expected, rtol=0, atol=2e-5)


def test_against_iers_reference() -> None:
    """Within 0.1 mm of the reference in E, N and U at 11 places x 20 times and on a 9 x 8 grid
    x 40 random times."""
    lon, lat, times, ref = _reference(REF_IERS)
    grid = json.loads(REF_IERS.read_text())["grid"]
    for got, want in ((tide_enu(lon, lat, times), ref),
                      (tide_enu(np.array(grid["lon"]), np.array(grid["lat"]), grid["times"]), np.array(grid["enu_m"]))):
        diff = np.abs(got - want) * 1e3
        assert diff.max() <= IERS_TOL_MM, diff.max(axis=(0, 1))
        # the reference itself is of the right size (a broken reference must not pass silently)
        assert 0.1 < np.abs(want[..., 2]).max() < 0.45


@pytest.mark.parametrize("los", LOS_VECTORS)
def test_los_against_iers_reference(los: tuple[float, float, float]) -> None:
    lon, lat, times, ref = _reference(REF_IERS)
    unit = np.array(los) / np.linalg.norm(los)
    ref_los = 1e3 * ref @ unit                                  # (n_time, n_place) mm
    # the places as a 1 x n "grid" is not a regular grid: evaluate each place as its own 1x1 frame
    got = np.stack([los_tide_mm([lo], [la], times, *unit)[:, 0, 0] for lo, la in zip(lon, lat)], axis=1)
    assert np.abs(got - ref_los).max() <= IERS_TOL_MM


def test_against_pysolid_reference() -> None:
    lon, lat, times, ref = _reference()
    diff = (tide_enu(lon, lat, times) - ref) * 1e3          # (n_time, n_place, 3) mm
    assert np.all(np.sqrt((diff**2).mean(axis=(0, 1))) <= PYSOLID_RMS_MM)
    mx = np.abs(diff).max(axis=(0, 1))
    assert mx[0] <= PYSOLID_MAX_H_MM and mx[1] <= PYSOLID_MAX_H_MM and mx[2] <= PYSOLID_MAX_U_MM, mx


def test_against_pysolid_directly() -> None:
    pysolid_solid = pytest.importorskip("pysolid.solid")
    rng = np.random.default_rng(7)
    for _ in range(8):
        lat, lon = float(rng.uniform(-85, 85)), float(rng.uniform(-180, 180))
        t = dt.datetime(2015, 1, 1) + dt.timedelta(seconds=int(rng.uniform(0, 10 * 365 * 86400)))
        e, n, u = pysolid_solid.solid_grid(t.year, t.month, t.day, t.hour, t.minute, t.second,
                                           lat, 0.0, 1, lon, 0.0, 1)
        ref = np.array([float(e[0, 0]), float(n[0, 0]), float(u[0, 0])])
        got = tide_enu(lon, lat, [t])[0]
        assert np.all(np.abs(got - ref)[:2] * 1e3 <= PYSOLID_MAX_H_MM)
        assert abs(got[2] - ref[2]) * 1e3 <= PYSOLID_MAX_U_MM


def test_radial_tide_is_dominated_by_m2() -> None:
    """At the equator the strongest line of the up component in the semidiurnal band is M2
    (12.4206 h). 120 days sampled every 30 min resolve it from S2 (12 h) and N2 (12.66 h); the
    least-squares periodogram's peak is located to better than half a bin (~0.03 h)."""
    t = np.datetime64("2020-01-01T00:00", "us") + np.arange(120 * 48) * np.timedelta64(30, "m")
    up = tide_enu(0.0, 0.0, t)[:, 2]
    hours = np.arange(t.size) * 0.5
    periods = np.linspace(11.5, 13.0, 601)
    power = []
    for p in periods:
        a = np.stack([np.cos(2 * np.pi * hours / p), np.sin(2 * np.pi * hours / p), np.ones_like(hours)], axis=1)
        coef = np.linalg.lstsq(a, up, rcond=None)[0]
        power.append(np.hypot(coef[0], coef[1]))
    peak = periods[int(np.argmax(power))]
    assert abs(peak - 12.4206) < 0.03
    assert 0.1 < max(power) < 0.3   # M2 radial amplitude at the equator ~0.18 m (h2 x 0.3 m)


@settings(max_examples=40, deadline=None)
@given(lon=st.floats(-180, 180), lat=st.floats(-90, 90),
       when=st.datetimes(dt.datetime(1980, 1, 1), dt.datetime(2040, 1, 1)))
def test_displacement_finite_and_bounded(lon: float, lat: float, when: dt.datetime) -> None:
    """Bounds from the forcing: the Moon at perigee (356,500 km) gives h2 * 0.45 m = 0.27 m, the
    Sun 0.10 m, at the sub-body point (P2 = 1), and at most half that downward (P2 = -1/2);
    horizontally at most 1.5 l2 (0.45 + 0.17) m = 0.08 m. Margins cover the degree-3 and step-2
    terms (< 0.02 m)."""
    enu = tide_enu(lon, lat, [when])[0]
    assert np.all(np.isfinite(enu))
    assert -0.25 < enu[2] < 0.42
    assert abs(enu[0]) < 0.1 and abs(enu[1]) < 0.1


def test_date_line_and_pole_continuity() -> None:
    t = ["2019-11-11T11:11:11"]
    east, west = tide_enu([179.99999, -179.99999], [-17.7, -17.7], t)[0]
    np.testing.assert_allclose(east, west, atol=1e-6)          # 1e-5 deg apart: < 1 µm
    # at the pole the up component does not depend on the longitude
    ups = tide_enu(np.linspace(-180, 180, 7), 90.0, t)[0, :, 2]
    np.testing.assert_allclose(ups, ups[0], atol=1e-9)


def test_time_scales_and_inputs() -> None:
    before, after = np.array(["2016-12-31T23:59:59", "2017-01-01T00:00:00"], dtype="datetime64[us]")
    assert tides._tai_minus_utc(np.array([before, after])).tolist() == [36.0, 37.0]
    assert tides._tai_minus_utc(np.array(["2012-06-30T12:00"], dtype="datetime64[us]"))[0] == 34.0
    naive = dt.datetime(2018, 1, 6, 0, 40, 21)
    aware = dt.datetime(2018, 1, 6, 2, 40, 21, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    np.testing.assert_array_equal(tide_enu(10.0, 45.0, [naive]), tide_enu(10.0, 45.0, [aware]))
    np.testing.assert_array_equal(tide_enu(10.0, 45.0, [naive]),
                                  tide_enu(10.0, 45.0, np.array(["2018-01-06T00:40:21"], dtype="datetime64[s]")))
    assert tide_enu(np.zeros((2, 3)), np.zeros((2, 3)), [naive, naive]).shape == (2, 2, 3, 3)
    with pytest.raises(ValueError, match="latitude"):
        tide_enu(0.0, 91.0, [naive])
    with pytest.raises(ValueError, match="not finite"):
        tide_enu(np.nan, 0.0, [naive])


def test_tide_grid_interpolation_error() -> None:
    """Bilinear error ~ h^2/8 |d2u| with |d2u| <~ 4 x 0.3 m per rad^2: 0.002 mm at 0.2 deg,
    0.05 mm at 1 deg. Over a 2.5 x 2.2 deg frame both must hold against the exact grid."""
    lon = np.linspace(-99.9, -97.4, 61)
    lat = np.linspace(20.6, 18.4, 53)
    times = np.array(["2016-04-07T11:11:11", "2024-04-08T18:18:18"], dtype="datetime64[us]")
    exact = tide_grid(lon, lat, times, coarse_deg=None)
    assert exact.shape == (2, 53, 61, 3)
    np.testing.assert_allclose(exact[1, 7, 11], tide_enu(lon[11], lat[7], times[1:])[0], atol=1e-12)
    assert np.abs(tide_grid(lon, lat, times, coarse_deg=0.2) - exact).max() < 0.005e-3
    assert np.abs(tide_grid(lon, lat, times, coarse_deg=1.0) - exact).max() < 0.1e-3
    # the tide does vary across the frame, so the check above is not vacuous
    assert np.ptp(exact[..., 2]) > 0.5e-3


def test_los_tide_mm_projection_sign_and_nan() -> None:
    lon = np.linspace(10.0, 11.0, 9)
    lat = np.linspace(46.0, 45.0, 7)
    times = np.array(["2020-02-29T23:00:00", "2021-07-04T16:20:00", "2022-10-27T01:37:45"], dtype="datetime64[us]")
    enu = tide_grid(lon, lat, times, coarse_deg=None)
    up = los_tide_mm(lon, lat, times, 0.0, 0.0, 1.0, coarse_deg=None)
    assert up.shape == (3, 7, 9) and up.dtype == np.float32
    np.testing.assert_allclose(up, 1e3 * enu[..., 2], atol=1e-4)   # float32 of ~100 mm
    e = np.full((7, 9), -0.62)
    n = np.full((7, 9), -0.11)
    u = np.full((7, 9), 0.78)
    u[2, 3] = np.nan
    los = los_tide_mm(lon, lat, times, e, n, u)
    want = 1e3 * (enu[..., 0] * e + enu[..., 1] * n + enu[..., 2] * u)
    assert np.all(np.isnan(los[:, 2, 3]))
    np.testing.assert_allclose(los, want, atol=5e-3)                # 0.2 deg interpolation: < 0.003 mm
    # a pair's correction is the difference of the epochs' tides and changes sign with the order
    pair = los[1] - los[0]
    assert np.nanmax(np.abs(pair)) > 1.0


def test_epoch_times() -> None:
    got = epoch_times([20180106, 20180118], "00:40:21.123456")
    assert got.tolist() == [dt.datetime(2018, 1, 6, 0, 40, 21, 123456), dt.datetime(2018, 1, 18, 0, 40, 21, 123456)]
    assert epoch_times([20180106], 2421.5).tolist() == [dt.datetime(2018, 1, 6, 0, 40, 21, 500000)]
    with pytest.raises(InputError, match=r"metadata\.txt.*center_time"):
        epoch_times([20180106], "noon", source="GEOC/metadata.txt")
    with pytest.raises(InputError, match="outside one day"):
        epoch_times([20180106], "90000")
