"""Decorrelation, phase-noise and height-error numerics of the interferometric budget (seed 001).

Plain functions on arrays (broadcasting NumPy semantics), SI units unless stated:

* coherence  γ = γ_thermal · γ_spatial(B⊥) · γ_temporal(Δt)       (Zebker & Villasenor 1992, IEEE TGRS
  30(5):950–959, eqs. 10 and 30; temporal term of Rocca 2007, IEEE TGRS 45(10):3289–3299);
* γ_spatial = max(0, 1 − |B⊥| / B_c) with the critical baseline B_c (see :func:`critical_baseline`);
* phase standard deviation: Cramér–Rao bound σ_φ = sqrt(1 − γ²) / (γ sqrt(2N)) (Rodriguez & Martin
  1992, IEE Proc. F 139(2):147–159, eq. 68) and the exact multilook phase distribution (Lee, Hoppel,
  Mango & Miller 1994, IEEE TGRS 32(5):1017–1028, eq. 18; single look: Just & Bamler 1994, Appl. Opt.
  33(20):4361–4368);
* height of ambiguity h_a = λ r sin θ / (2 B⊥), height error σ_z = λ r sin θ σ_φ / (4π B⊥), LOS
  deformation error σ_d = λ σ_φ / (4π) (repeat pass);
* the baseline at which γ falls to a threshold and the orbit-tube tolerance (seed 001, note 2).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.special import gammaln, hyp2f1

from kansho._constants import SPEED_OF_LIGHT
from kansho._types import Float64Array

__all__ = [
    "baseline_for_coherence",
    "critical_baseline",
    "deformation_std",
    "gamma_spatial",
    "gamma_temporal",
    "gamma_thermal",
    "height_of_ambiguity",
    "height_std",
    "orbit_tube",
    "phase_pdf",
    "phase_std_cramer_rao",
    "phase_std_exact",
]



def critical_baseline(wavelength_m: npt.ArrayLike, slant_range_m: npt.ArrayLike, bandwidth_hz: npt.ArrayLike,
                      incidence_deg: npt.ArrayLike, form: str = "wavenumber") -> Float64Array:
    """Critical perpendicular baseline B_c (m), where γ_spatial reaches zero (flat terrain).

    ``form="wavenumber"``: B_c = λ r B_w tan θ / c — the ground-wavenumber shift
    Δf = c B⊥ / (λ r tan θ) equals the range bandwidth B_w (Gatelli et al. 1994, IEEE TGRS 32(4),
    eq. 5; equivalent to Zebker & Villasenor 1992 eq. 30 with the ground-range resolution
    c / (2 B_w sin θ)).

    ``form="ground_range"``: B_c = λ r B_w sin θ / c, i.e. γ_spatial = 1 − 2|B⊥| ρ_y / (λ r) with the
    cross-track (ground) range resolution ρ_y = c / (2 B_w sin θ). This is seed 001's eq. (3) ("slightly
    modified from Zebker & Villasenor"), reconstructed from its Table 2: it is the wavenumber value times
    cos θ, so it is more conservative by that factor (1/√2 at 45°).
    """
    lam = np.asarray(wavelength_m, dtype=float)
    r = np.asarray(slant_range_m, dtype=float)
    bw = np.asarray(bandwidth_hz, dtype=float)
    th = np.radians(np.asarray(incidence_deg, dtype=float))
    if form == "wavenumber":
        return lam * r * bw * np.tan(th) / SPEED_OF_LIGHT
    if form == "ground_range":
        return lam * r * bw * np.sin(th) / SPEED_OF_LIGHT
    raise ValueError(f"unknown critical-baseline form {form!r}")


def gamma_spatial(bperp_m: npt.ArrayLike, critical_baseline_m: npt.ArrayLike) -> Float64Array:
    """Baseline (geometric) decorrelation γ_spatial = max(0, 1 − |B⊥| / B_c) (Zebker & Villasenor 1992).

    ``bperp_m`` (m, any sign, any shape) broadcasts against ``critical_baseline_m`` (m).
    """
    b = np.abs(np.asarray(bperp_m, dtype=float))
    return np.clip(1.0 - b / np.asarray(critical_baseline_m, dtype=float), 0.0, 1.0)


def gamma_temporal(
    dt_days: npt.ArrayLike, gamma0: npt.ArrayLike, gamma_inf: npt.ArrayLike, tau_days: npt.ArrayLike
) -> Float64Array:
    """Exponential-plus-floor temporal decorrelation (Rocca 2007, eq. 5).

    γ_temporal(Δt) = (γ0 − γ∞) · exp(−|Δt| / τ) + γ∞, with Δt and τ in days; τ = inf gives γ0.
    """
    dt = np.abs(np.asarray(dt_days, dtype=float))
    tau = np.asarray(tau_days, dtype=float)
    g0 = np.asarray(gamma0, dtype=float)
    gi = np.asarray(gamma_inf, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        decay = np.where(np.isinf(tau), 1.0, np.exp(-dt / tau))
    return (g0 - gi) * decay + gi


def gamma_thermal(snr_db: npt.ArrayLike) -> Float64Array:
    """Thermal-noise decorrelation γ_thermal = 1 / (1 + 1/SNR) (Zebker & Villasenor 1992, eq. 10)."""
    snr = 10.0 ** (np.asarray(snr_db, dtype=float) / 10.0)
    return 1.0 / (1.0 + 1.0 / snr)


def phase_std_cramer_rao(coherence: npt.ArrayLike, looks: npt.ArrayLike) -> Float64Array:
    """Cramér–Rao phase standard deviation (rad): sqrt(1 − γ²) / (γ sqrt(2N)) (Rodriguez & Martin 1992).

    Accurate for high coherence and many looks; it underestimates the true spread otherwise
    (compare :func:`phase_std_exact`). γ = 0 gives inf.
    """
    g = np.asarray(coherence, dtype=float)
    n = np.asarray(looks, dtype=float)
    with np.errstate(divide="ignore"):
        return np.sqrt(1.0 - g**2) / (g * np.sqrt(2.0 * n))


def phase_pdf(phi: npt.ArrayLike, coherence: npt.ArrayLike, looks: int) -> Float64Array:
    """Probability density (1/rad) of the N-look interferometric phase on [−π, π), true phase 0.

    Lee et al. (1994, eq. 18), with β = γ cos φ:

    pdf = Γ(N+½)(1−γ²)^N β / [2√π Γ(N)(1−β²)^(N+½)] + (1−γ²)^N / (2π) · ₂F₁(N, 1; ½; β²).

    The hypergeometric term is evaluated through Euler's transformation
    ₂F₁(N, 1; ½; z) = (1−z)^(−N−½) ₂F₁(½−N, −½; ½; z) and both terms in logarithms, so large N and γ
    close to 1 do not overflow. For N = 1 it equals Just & Bamler's single-look density
    (1−γ²)/(2π(1−β²)) · [1 + β arccos(−β)/sqrt(1−β²)]. ``phi`` and ``coherence`` broadcast; 0 ≤ γ < 1.
    """
    if int(looks) < 1:
        raise ValueError("looks must be >= 1")
    n = float(int(looks))
    g = np.asarray(coherence, dtype=float)
    beta = g * np.cos(np.asarray(phi, dtype=float))
    one_b2 = np.maximum(1.0 - beta**2, 1e-300)
    log1g = np.log1p(-np.minimum(g**2, 1.0 - 1e-16))
    # ratio (1-γ²)^N / (1-β²)^(N+1/2), in logs
    log_ratio = n * log1g - (n + 0.5) * np.log(one_b2)
    t1 = np.exp(gammaln(n + 0.5) - gammaln(n) - 0.5 * math.log(math.pi) + log_ratio) * beta / 2.0
    t2 = np.exp(log_ratio) / (2.0 * math.pi) * hyp2f1(0.5 - n, -0.5, 0.5, beta**2)
    return t1 + t2


def phase_std_exact(coherence: npt.ArrayLike, looks: int, n_grid: int = 8192) -> Float64Array:
    """Standard deviation (rad) of the N-look phase from the exact density :func:`phase_pdf`.

    Integrates φ² pdf(φ) over [−π, π) on ``n_grid`` points (midpoint rule, which is spectrally
    accurate for this smooth periodic integrand); valid while the std exceeds ~10 grid steps
    (≈ 0.008 rad for the default grid). Vectorised over ``coherence`` (any shape).
    """
    g = np.asarray(coherence, dtype=float)
    step = 2.0 * math.pi / n_grid
    phi = -math.pi + (np.arange(n_grid) + 0.5) * step
    flat = g.reshape(-1, 1)
    pdf = phase_pdf(phi[None, :], flat, looks)
    var = np.sum(phi[None, :] ** 2 * pdf, axis=1) * step
    return np.sqrt(var).reshape(g.shape)


def height_of_ambiguity(bperp_m: npt.ArrayLike, wavelength_m: npt.ArrayLike, slant_range_m: npt.ArrayLike,
                        incidence_deg: npt.ArrayLike) -> Float64Array:
    """Height (m) of one 2π phase cycle in a repeat-pass interferogram: λ r sin θ / (2 |B⊥|)."""
    th = np.radians(np.asarray(incidence_deg, dtype=float))
    b = np.abs(np.asarray(bperp_m, dtype=float))
    with np.errstate(divide="ignore"):
        return np.asarray(wavelength_m, dtype=float) * np.asarray(slant_range_m, dtype=float) * np.sin(th) / (2.0 * b)


def height_std(bperp_m: npt.ArrayLike, coherence: npt.ArrayLike, looks: npt.ArrayLike, wavelength_m: npt.ArrayLike,
               slant_range_m: npt.ArrayLike, incidence_deg: npt.ArrayLike) -> Float64Array:
    """Random height error (m): σ_z = λ r sin θ σ_φ / (4π |B⊥|), σ_φ the Cramér–Rao phase std.

    Seed 001 section 3.1 (its σ_z), from the phase-to-height sensitivity ∂φ/∂z = 4π B⊥ / (λ r sin θ).
    """
    sig = phase_std_cramer_rao(coherence, looks)
    return height_of_ambiguity(bperp_m, wavelength_m, slant_range_m, incidence_deg) * sig / (2.0 * math.pi)


def deformation_std(coherence: npt.ArrayLike, looks: npt.ArrayLike, wavelength_m: npt.ArrayLike) -> Float64Array:
    """Random line-of-sight deformation error (m): λ σ_φ / (4π) with the Cramér–Rao σ_φ."""
    return np.asarray(wavelength_m, dtype=float) * phase_std_cramer_rao(coherence, looks) / (4.0 * math.pi)


def baseline_for_coherence(
    gamma_min: npt.ArrayLike, critical_baseline_m: npt.ArrayLike, gamma_other: npt.ArrayLike
) -> Float64Array:
    """Largest |B⊥| (m) that keeps γ_other · γ_spatial(B⊥) ≥ gamma_min.

    Inverts γ_other (1 − B/B_c) = γ_min: B = B_c (1 − γ_min / γ_other). ``gamma_other`` is the product
    of the non-baseline terms (seed 001 eq. 10-1: γ_thermal γ_temporal = 0.5). NaN where no baseline
    reaches the threshold (γ_min > γ_other).
    """
    gmin = np.asarray(gamma_min, dtype=float)
    go = np.asarray(gamma_other, dtype=float)
    b = np.asarray(critical_baseline_m, dtype=float) * (1.0 - gmin / go)
    return np.where(gmin <= go, b, np.nan)


def orbit_tube(bperp_m: npt.ArrayLike, offnadir_deg: npt.ArrayLike = 45.0) -> tuple[Float64Array, Float64Array]:
    """Horizontal orbit separation B_x and tube half-width from a perpendicular baseline (seed 001, note 2).

    B⊥ = B_x cos θ + B_y sin θ; with B_y = 0 and off-nadir angle θ, B_x = B⊥ / cos θ, and each orbit
    may deviate ±B_x / 2 from the nominal one. Returns ``(B_x, B_x / 2)`` in m.
    """
    bx = np.abs(np.asarray(bperp_m, dtype=float)) / np.cos(np.radians(np.asarray(offnadir_deg, dtype=float)))
    return bx, bx / 2.0
