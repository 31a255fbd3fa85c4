"""Simulated SAR pairs with a known coherence, to check the decorrelation model.

* :func:`correlated_pair` — circular complex Gaussian pairs with correlation γ (the speckle model
  behind Zebker & Villasenor 1992 and Lee et al. 1994).
* :func:`spectral_shift_pair` — one range line of white ground reflectivity seen by two passes whose
  range spectra are shifted by the ground-wavenumber shift Δf = c B⊥ / (λ r tan θ) (Gatelli et al. 1994)
  and band-limited to B_w: the common band, hence the coherence, is 1 − |Δf| / B_w.
* :func:`estimate_coherence` — the sample coherence |Σ s1 s2*| / sqrt(Σ|s1|² Σ|s2|²) along the last axis.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from kansho._constants import SPEED_OF_LIGHT
from kansho._types import ComplexArray

__all__ = ["correlated_pair", "estimate_coherence", "spectral_shift_pair"]



def correlated_pair(
    coherence: npt.ArrayLike, n_samples: int, rng: np.random.Generator
) -> tuple[ComplexArray, ComplexArray]:
    """Two unit-power circular complex Gaussian arrays with correlation ``coherence`` (real, 0..1).

    Shape ``coherence.shape + (n_samples,)``: s2 = γ s1 + sqrt(1 − γ²) n with n independent of s1.
    """
    g = np.asarray(coherence, dtype=float)[..., None]
    shape = (*g.shape[:-1], int(n_samples))

    def cn() -> ComplexArray:
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)

    s1 = cn()
    return s1, g * s1 + np.sqrt(1.0 - g**2) * cn()


def estimate_coherence(s1: ComplexArray, s2: ComplexArray) -> npt.NDArray[np.float64]:
    """Sample coherence magnitude along the last axis (biased upward for few samples: Touzi et al. 1999)."""
    num = np.abs(np.sum(s1 * np.conj(s2), axis=-1))
    den = np.sqrt(np.sum(np.abs(s1) ** 2, axis=-1) * np.sum(np.abs(s2) ** 2, axis=-1))
    return num / den


def spectral_shift_pair(bperp_m: float, wavelength_m: float, slant_range_m: float, incidence_deg: float,
                        bandwidth_hz: float, n_samples: int, rng: np.random.Generator,
                        oversample: float = 4.0) -> tuple[ComplexArray, ComplexArray]:
    """Two range lines (complex, ``n_samples`` long) of the same ground seen from baseline ``bperp_m``.

    White circular-Gaussian reflectivity is sampled at ``oversample`` × B_w. The second pass sees it
    with the range-frequency shift Δf = c B⊥ / (λ r tan θ); both are low-pass filtered to ±B_w/2. The
    returned second line is demodulated by −Δf (the flat-earth phase removed), so the lines overlap in
    the common band only and their coherence is max(0, 1 − |Δf| / B_w). Units: m, deg, Hz.
    """
    fs = oversample * bandwidth_hz
    n = int(n_samples)
    z = (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2.0)
    df = SPEED_OF_LIGHT * bperp_m / (wavelength_m * slant_range_m * np.tan(np.radians(incidence_deg)))
    t = np.arange(n) / fs
    f = np.fft.fftfreq(n, d=1.0 / fs)
    passband = (np.abs(f) <= bandwidth_hz / 2.0).astype(float)
    s1 = np.fft.ifft(np.fft.fft(z) * passband)
    s2 = np.fft.ifft(np.fft.fft(z * np.exp(2j * np.pi * df * t)) * passband) * np.exp(-2j * np.pi * df * t)
    return s1, s2
