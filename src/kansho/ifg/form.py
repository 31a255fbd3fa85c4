"""Interferogram formation: reference phase, multilooking and coherence (arrays in, arrays out).

Conventions. An SLC's phase is −4π·R/λ (R: slant range), so the interferogram of the pair
(d1, d2), ``s1 · conj(s2)``, has the phase 4π·(R2 − R1)/λ: it grows with range, as LiCSAR's does,
and Kansho's phase-to-mm factor −λ/(4π)·1000 turns it into LOS displacement toward the satellite.
Rows are azimuth lines, columns range samples.

The geometric (reference) phase of a pair with perpendicular baseline B⊥ = B⊥(d2) − B⊥(d1)
(Hanssen 2001, eqs. 2.4.x; Zebker & Goldstein 1986)::

    φ_flat = 4π/λ · B⊥ · (R − R̄) / (R · tan θ)      (flat earth: the look angle grows with range)
    φ_topo = 4π/λ · B⊥ · h / (R · sin θ)             (topography: height h above the ellipsoid)

The coherence estimate over a window of L pixels is
γ̂ = |Σ s1·s2*| / √(Σ|s1|² · Σ|s2|²) (Touzi et al. 1999); it is biased upward at low coherence
(:func:`coherence_bias`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from kansho._types import ComplexArray, FloatArray

__all__ = [
    "coherence_bias",
    "expected_coherence_estimate",
    "multilook",
    "multilooked_interferogram",
    "reference_phase",
]



def multilook(a: npt.NDArray[Any], azimuth_looks: int, range_looks: int) -> npt.NDArray[Any]:
    """Mean over non-overlapping ``azimuth_looks × range_looks`` boxes (NaN-aware for floats).

    ``a``: (ny, nx) real or complex. Returns (ny // azimuth_looks, nx // range_looks); trailing
    rows/columns that do not fill a box are dropped.
    """
    ny, nx = a.shape
    my, mx = ny // azimuth_looks, nx // range_looks
    b = a[: my * azimuth_looks, : mx * range_looks].reshape(my, azimuth_looks, mx, range_looks)
    if np.iscomplexobj(b):
        return b.mean(axis=(1, 3))
    with np.errstate(invalid="ignore"):
        return np.nanmean(b, axis=(1, 3)) if np.isnan(b).any() else b.mean(axis=(1, 3))


def multilooked_interferogram(
    s1: ComplexArray, s2: ComplexArray, azimuth_looks: int, range_looks: int, ref_phase: FloatArray | None = None
) -> tuple[npt.NDArray[np.complex64], npt.NDArray[np.float32]]:
    """Multilooked interferogram and coherence of two coregistered SLCs.

    ``s1``, ``s2``: (ny, nx) complex; ``ref_phase``: (ny, nx) reference phase (rad) removed at full
    resolution before averaging (so fringes do not lower the coherence). Returns the complex
    interferogram Σ s1·conj(s2)·e^(−iφ_ref) / L and the coherence estimate (Touzi et al. 1999),
    both (ny // azimuth_looks, nx // range_looks); coherence is NaN where both SLCs are zero.
    """
    prod = s1 * np.conj(s2)
    if ref_phase is not None:
        prod = prod * np.exp(-1j * ref_phase).astype(np.complex64)
    ifg = multilook(prod, azimuth_looks, range_looks).astype(np.complex64)
    p1 = multilook((s1.real**2 + s1.imag**2).astype(np.float64), azimuth_looks, range_looks)
    p2 = multilook((s2.real**2 + s2.imag**2).astype(np.float64), azimuth_looks, range_looks)
    with np.errstate(invalid="ignore", divide="ignore"):
        coh = np.abs(ifg) / np.sqrt(p1 * p2)
    coh = np.where(p1 * p2 > 0, np.clip(coh, 0.0, 1.0), np.nan).astype(np.float32)
    return ifg, coh


def reference_phase(
    bperp_m: float,
    wavelength_m: float,
    slant_range_m: FloatArray,
    incidence_deg: FloatArray,
    hgt_m: FloatArray | None = None,
    *,
    flat: bool = True,
    topo: bool = True,
) -> npt.NDArray[np.float32]:
    """Flat-earth and/or topographic phase of a pair (rad), shape of ``slant_range_m``.

    ``bperp_m``: B⊥(d2) − B⊥(d1); ``slant_range_m``, ``incidence_deg``, ``hgt_m``: per pixel.
    φ = 4π/λ · B⊥ · [(R − R̄)/(R tan θ) + h/(R sin θ)] (module docstring; Hanssen 2001).
    """
    r = np.asarray(slant_range_m, dtype=np.float64)
    th = np.radians(np.asarray(incidence_deg, dtype=np.float64))
    k = 4.0 * math.pi / wavelength_m * bperp_m
    phi = np.zeros(np.broadcast_shapes(r.shape, th.shape), dtype=np.float64)
    if flat:
        phi += k * (r - float(np.nanmean(r))) / (r * np.tan(th))
    if topo and hgt_m is not None:
        phi += k * np.nan_to_num(np.asarray(hgt_m, dtype=np.float64)) / (r * np.sin(th))
    return phi.astype(np.float32)


def expected_coherence_estimate(gamma: FloatArray, looks: int) -> npt.NDArray[np.float64]:
    """E[γ̂] of the sample coherence for true coherence ``gamma`` and ``looks`` independent looks.

    Closed form of Touzi et al. (1999, eq. 19)::

        E[γ̂] = Γ(L) Γ(3/2) / Γ(L + 1/2) · ₃F₂(3/2, L, L; L + 1/2, 1; γ²) · (1 − γ²)^L

    evaluated by summing the hypergeometric series (converges for γ < 1). Shape of ``gamma``.
    """
    g2 = np.clip(np.asarray(gamma, dtype=np.float64), 0.0, 1.0 - 1e-9) ** 2
    L = float(looks)
    # series Σ_k (3/2)_k (L)_k (L)_k / ((L+1/2)_k (1)_k k!) g2^k
    term = np.ones_like(g2)
    total = np.ones_like(g2)
    for k in range(2000):
        term = term * (1.5 + k) * (L + k) * (L + k) / ((L + 0.5 + k) * (1.0 + k) * (1.0 + k)) * g2
        total += term
        if np.all(term < 1e-12 * total):
            break
    lg = special.gammaln(L) + special.gammaln(1.5) - special.gammaln(L + 0.5)
    return np.exp(lg) * total * (1.0 - g2) ** L


def coherence_bias(gamma: FloatArray, looks: int) -> npt.NDArray[np.float64]:
    """E[γ̂] − γ: the upward bias of the coherence estimator (Touzi et al. 1999), shape of ``gamma``."""
    return expected_coherence_estimate(gamma, looks) - np.asarray(gamma, dtype=np.float64)
