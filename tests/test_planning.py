"""Tests for kansho.planning: seed 001's Tables 2/3, the decorrelation model, phase statistics, simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho.errors import ConfigError, InputError
from kansho.planning import (
    SENSORS,
    baseline_for_coherence,
    coherence_terms,
    critical_baseline,
    document_tables,
    gamma_spatial,
    get_sensor,
    load_sensors,
    orbit_tube,
    phase_pdf,
    phase_std_cramer_rao,
    phase_std_exact,
    predict_coherence,
)
from kansho.planning.sensors import slant_range_from_geometry
from kansho.planning.simulate import (
    correlated_pair,
    estimate_coherence,
    spectral_shift_pair,
)

# Seed 001 as printed. Table 2: B_c; DEM (γ = 0.45) B⊥, B_x, tolerance, height std; deformation (γ = 0.40)
# B⊥, B_x, tolerance. Table 3: the tolerances for 28 / 14 MHz.
DOC = {
    "jers1": {"critical_baseline_m": 4000, "dem_bperp_m": 400, "dem_bx_m": 564, "dem_tolerance_m": 282,
              "dem_height_std_m": 10, "def_bperp_m": 820, "def_bx_m": 1156, "def_tolerance_m": 578},
    "palsar28": {"critical_baseline_m": 15000, "dem_bperp_m": 1440, "dem_bx_m": 2030, "dem_tolerance_m": 1015,
                 "dem_height_std_m": 4, "def_bperp_m": 2890, "def_bx_m": 4075, "def_tolerance_m": 2038},
    "palsar14": {"critical_baseline_m": 7500, "dem_bperp_m": 720, "dem_bx_m": 1015, "dem_tolerance_m": 507,
                 "dem_height_std_m": 8, "def_bperp_m": 1440, "def_bx_m": 2030, "def_tolerance_m": 1015},
}
TABLE3 = {"palsar28": (1015, 2038), "palsar14": (507, 1015)}
# The tolerances (relative)
TOL = {"critical_baseline_m": 0.05, "dem_bperp_m": 0.02, "def_bperp_m": 0.02, "dem_bx_m": 0.02, "def_bx_m": 0.02,
       "dem_tolerance_m": 0.02, "def_tolerance_m": 0.02, "dem_height_std_m": 0.10}


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("name", ["palsar28", "palsar14"])
@pytest.mark.parametrize("key", sorted(TOL))
def test_table2_palsar_reproduced(name: str, key: str) -> None:
    got = getattr(document_tables()[name], key)
    assert _rel(got, DOC[name][key]) <= TOL[key], (name, key, got, DOC[name][key])


@pytest.mark.parametrize("name", ["palsar28", "palsar14"])
def test_table3_reproduced(name: str) -> None:
    b = document_tables()[name]
    assert _rel(b.dem_tolerance_m, TABLE3[name][0]) <= 0.02
    assert _rel(b.def_tolerance_m, TABLE3[name][1]) <= 0.02


@pytest.mark.parametrize("key", ["critical_baseline_m", "def_bperp_m", "def_bx_m", "def_tolerance_m",
                                 "dem_height_std_m"])
def test_table2_jers1_reproduced_with_altitude(key: str) -> None:
    got = getattr(document_tables(jers1_range="altitude")["jers1"], key)
    assert _rel(got, DOC["jers1"][key]) <= TOL[key], (key, got)


def test_table2_jers1_dem_column_and_the_documented_reason() -> None:
    """The JERS-1 DEM entries miss 2 % because the document's own 400 m is inconsistent with its 820 m.

    Under γ = γ_other (1 − B⊥/B_c) with γ_other = 0.5, B⊥(0.40)/B⊥(0.45) = 0.2/0.1 = 2 exactly; the PALSAR
    columns show 2.007 and 2.000, JERS-1 shows 820/400 = 2.05. Our DEM value is its deformation value / 2.
    Its B_x and tolerance follow its own 400 m (400/cos 45° = 566). The critical distance was the altitude:
    with the slant range 703 km every JERS-1 baseline would be about 24-27 % larger than printed.
    """
    j = document_tables(jers1_range="altitude")["jers1"]
    assert j.def_bperp_m / j.dem_bperp_m == pytest.approx(2.0, rel=1e-12)
    assert DOC["palsar28"]["def_bperp_m"] / DOC["palsar28"]["dem_bperp_m"] == pytest.approx(2.0, rel=0.005)
    assert DOC["jers1"]["def_bperp_m"] / DOC["jers1"]["dem_bperp_m"] == pytest.approx(2.05, rel=1e-9)
    assert _rel(j.dem_bperp_m, DOC["jers1"]["def_bperp_m"] / 2) <= 0.02
    assert _rel(j.dem_bperp_m, DOC["jers1"]["dem_bperp_m"]) <= 0.03  # documented: rounded/inconsistent 400 m
    assert _rel(float(orbit_tube(DOC["jers1"]["dem_bperp_m"], 45.0)[0]), DOC["jers1"]["dem_bx_m"]) <= 0.02
    assert _rel(float(orbit_tube(DOC["jers1"]["dem_bperp_m"], 45.0)[1]), DOC["jers1"]["dem_tolerance_m"]) <= 0.02
    s = document_tables(jers1_range="slant")["jers1"]
    for key in ("critical_baseline_m", "dem_bperp_m", "def_bperp_m"):
        assert 0.2 < getattr(s, key) / DOC["jers1"][key] - 1 < 0.3, key


def test_table1_slant_ranges_follow_from_altitude_and_incidence() -> None:
    assert slant_range_from_geometry(691e3, 45.0) == pytest.approx(933e3, rel=0.002)
    assert slant_range_from_geometry(568e3, 38.0) == pytest.approx(703e3, rel=0.002)


def test_critical_baseline_forms() -> None:
    s = get_sensor("palsar28")
    wn = float(critical_baseline(s.wavelength_m, s.slant_range_m, s.bandwidth_hz, 45.0, "wavenumber"))
    gr = float(critical_baseline(s.wavelength_m, s.slant_range_m, s.bandwidth_hz, 45.0, "ground_range"))
    assert gr / wn == pytest.approx(math.cos(math.radians(45.0)), rel=1e-12)
    # Sentinel-1 IW: the commonly quoted ~5-7 km
    assert 5000 < coherence_terms("sentinel1_iw")["critical_baseline_m"] < 7500


# ---------------------------------------------------------------------------- properties
SENSOR_NAMES = sorted(SENSORS)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SENSOR_NAMES), st.floats(0, 3e4), st.floats(0, 3e4), st.floats(0, 3000), st.floats(0, 3000))
def test_coherence_monotone_in_baseline_and_time(name: str, b1: float, b2: float, t1: float, t2: float) -> None:
    lo_b, hi_b = sorted((b1, b2))
    lo_t, hi_t = sorted((t1, t2))
    g = predict_coherence(np.array([lo_b, hi_b, -hi_b, lo_b]), np.array([lo_t, lo_t, lo_t, hi_t]), name)
    assert np.all((g >= 0) & (g <= 1))
    assert g[1] <= g[0] + 1e-15  # farther baseline: not more coherent
    assert g[2] == g[1]  # sign of B⊥ does not matter
    assert g[3] <= g[0] + 1e-15  # longer time: not more coherent
    bc = coherence_terms(name)["critical_baseline_m"]
    if hi_b < bc and hi_b - lo_b > 1e-6 * bc and g[0] > 0:
        assert g[1] < g[0]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(SENSOR_NAMES), st.floats(0, 1000), st.floats(1.0, 3.0))
def test_coherence_zero_at_and_beyond_critical_baseline(name: str, dt: float, factor: float) -> None:
    bc = coherence_terms(name)["critical_baseline_m"]
    assert predict_coherence(bc, dt, name) == 0.0
    assert predict_coherence(factor * bc, dt, name) == 0.0
    assert predict_coherence(0.999 * bc, dt, name) > 0.0


@settings(max_examples=40, deadline=None)
@given(st.floats(0.05, 0.95), st.floats(100.0, 5e4), st.floats(0.0, 0.049))
def test_baseline_for_coherence_inverts_the_model(go: float, bc: float, dg: float) -> None:
    gmin = go * (1 - dg) if go * (1 - dg) > 0 else go
    b = float(baseline_for_coherence(gmin, bc, go))
    assert go * float(gamma_spatial(b, bc)) == pytest.approx(gmin, rel=1e-9, abs=1e-12)
    assert math.isnan(float(baseline_for_coherence(go + 0.01, bc, go)))


# ---------------------------------------------------------------------------- phase statistics
def test_phase_pdf_normalised_and_single_look_closed_form() -> None:
    n = 4096
    phi = -np.pi + (np.arange(n) + 0.5) * 2 * np.pi / n
    for g in (0.0, 0.3, 0.8, 0.97):
        for looks in (1, 3, 10, 60):
            assert np.sum(phase_pdf(phi, g, looks)) * 2 * np.pi / n == pytest.approx(1.0, abs=1e-6)
    g = 0.7
    beta = g * np.cos(phi)
    jb = (1 - g**2) / (2 * np.pi * (1 - beta**2)) * (1 + beta * np.arccos(-beta) / np.sqrt(1 - beta**2))
    np.testing.assert_allclose(phase_pdf(phi, g, 1), jb, rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.9, 0.98), st.integers(30, 120))
def test_exact_phase_std_matches_cramer_rao_at_high_coherence(g: float, looks: int) -> None:
    """Cramér–Rao is the large-N, high-γ limit of the exact density: within 3 % for γ ≥ 0.9, N ≥ 30."""
    exact = float(phase_std_exact(g, looks))
    cr = float(phase_std_cramer_rao(g, looks))
    assert exact == pytest.approx(cr, rel=0.03)
    assert exact >= cr * 0.999  # the bound is a lower bound


def test_exact_phase_std_against_monte_carlo_and_low_coherence() -> None:
    rng = np.random.default_rng(5)
    for g, looks in ((0.6, 4), (0.3, 1), (0.85, 10)):
        s1, s2 = correlated_pair(np.full(40000, g), looks, rng)
        ph = np.angle(np.sum(s1 * np.conj(s2), axis=-1))
        # std of a sample std of 40000 values: < 1 %; allow 3 %
        assert np.std(ph) == pytest.approx(float(phase_std_exact(g, looks)), rel=0.03)
    # at low coherence and one look the CR bound badly underestimates (single-look std of γ=0.3 is ~1.6 rad)
    assert phase_std_exact(0.3, 1) > 1.4
    assert phase_std_exact(0.0, 1) == pytest.approx(np.pi / np.sqrt(3), rel=1e-4)  # uniform on [−π, π)


# ---------------------------------------------------------------------------- simulations
def test_simulated_correlated_pairs_follow_the_model() -> None:
    """Circular Gaussian pairs generated at the model coherence for several B⊥ and Δt: the sample
    coherence of 4000 samples (std ≈ (1−γ²)/sqrt(2·4000) < 0.012) is within 0.03 of the model."""
    rng = np.random.default_rng(11)
    bc = coherence_terms("sentinel1_iw")["critical_baseline_m"]
    bperp = np.array([0.0, 0.1, 0.3, 0.5, 0.8]) * bc
    dt = np.array([6.0, 12.0, 24.0, 48.0, 6.0])
    model = predict_coherence(bperp, dt, "sentinel1_iw")
    s1, s2 = correlated_pair(model, 4000, rng)
    est = estimate_coherence(s1, s2)
    np.testing.assert_allclose(est, model, atol=0.03)
    assert np.all(np.diff(est[[0, 1, 2, 3]]) < 0)


@pytest.mark.parametrize("name", ["sentinel1_iw", "alos2_sm3", "nisar_l20"])
def test_spectral_shift_speckle_follows_the_baseline_term(name: str) -> None:
    """Speckle seen through the range-spectral shift of B⊥: coherence = 1 − B⊥/B_c (wavenumber form).

    2**16 samples at 4 × B_w hold 16384 independent looks: sample-coherence std < 0.01; allow 0.03.
    """
    s = get_sensor(name)
    bc = coherence_terms(name)["critical_baseline_m"]
    rng = np.random.default_rng(3)
    for frac in (0.0, 0.2, 0.5, 0.8, 1.1):
        a, b = spectral_shift_pair(frac * bc, s.wavelength_m, s.slant_range_m, s.incidence_deg, s.bandwidth_hz,
                                   2**16, rng)
        est = float(estimate_coherence(a, b))
        assert est == pytest.approx(float(gamma_spatial(frac * bc, bc)), abs=0.03), frac


# ---------------------------------------------------------------------------- sensors
def test_user_sensors_from_yaml_and_toml(tmp_path) -> None:
    y = tmp_path / "s.yaml"
    y.write_text("sensors:\n  mysar:\n    wavelength_m: 0.031\n    bandwidth_hz: 1.0e8\n    incidence_deg: 35\n"
                 "    altitude_m: 514000\n    looks: 9\n    snr_db: 12\n"
                 "    landcover:\n      default: {gamma0: 0.6, gamma_inf: 0.1, tau_days: 8}\n")
    s = load_sensors(y)["mysar"]
    assert s.slant_range_m == pytest.approx(slant_range_from_geometry(514e3, 35.0))
    bc = float(critical_baseline(0.031, s.slant_range_m, 1e8, 35.0))
    want = 1 / (1 + 10**-1.2) * (1 - 100 / bc) * (0.5 * math.exp(-10 / 8) + 0.1)
    assert float(predict_coherence(100.0, 10.0, s)) == pytest.approx(want, rel=1e-12)
    t = tmp_path / "s.toml"
    t.write_text('[l2]\nbase = "nisar_l20"\nbandwidth_hz = 40e6\n')
    s2 = load_sensors(t)["l2"]
    assert s2.bandwidth_hz == 40e6 and s2.wavelength_m == get_sensor("nisar_l20").wavelength_m
    expected = coherence_terms("nisar_l40")["critical_baseline_m"]
    assert coherence_terms(s2)["critical_baseline_m"] == pytest.approx(expected)
    bad = tmp_path / "bad.yaml"
    bad.write_text("x:\n  wavelength_m: 0.05\n")
    with pytest.raises(InputError, match=r"bad\.yaml.*missing"):
        load_sensors(bad)
    with pytest.raises(ConfigError):
        get_sensor("no_such_sensor")
    with pytest.raises(ConfigError):
        predict_coherence(0.0, 0.0, "sentinel1_iw", landcover="moon")
