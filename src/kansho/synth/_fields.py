"""Random fields shared by the simulator: power-law (fractal) screens and smooth noise.

All generators take a :class:`numpy.random.Generator` and return ``float32`` arrays of the
requested shape; none touches files or global state.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import scipy.fft

from kansho._types import Float32Array


def _padded(n: int, pad: float) -> int:
    return int(scipy.fft.next_fast_len(max(n + 2, math.ceil(n * pad)), real=True))


def power_law_psd(
    k: npt.NDArray[np.float64], beta: float, outer_km: float, break_km: float | None = None, beta_small: float = 0.0
) -> npt.NDArray[np.float64]:
    """Isotropic 2-D PSD (k in cycles/km): (k² + k0²)^(−β/2) with k0 = 1/outer_km.

    With ``break_km``, scales shorter than it follow a steeper k^(−beta_small), continuous at
    k_b = 1/break_km (Hanssen 2001: 3-D turbulence below the thickness of the wet layer).
    """
    k0 = 1.0 / outer_km
    psd = (k * k + k0 * k0) ** (-beta / 2.0)
    if break_km:
        kb = 1.0 / break_km
        sb = (kb * kb + k0 * k0) ** (-beta / 2.0)
        hi = k > kb
        psd = np.where(hi, sb * (np.maximum(k, kb) / kb) ** (-beta_small), psd)
    return psd


def power_law_psd_grid(
    shape: tuple[int, int],
    dx_km: float,
    dy_km: float,
    beta: float,
    outer_km: float,
    pad: float = 1.5,
    break_km: float | None = None,
    beta_small: float = 0.0,
    smooth_km: tuple[float, float] = (0.0, 0.0),
) -> tuple[tuple[int, int], npt.NDArray[np.float64], float]:
    """Spectral amplitude of an isotropic power-law field on a padded grid.

    Returns ``(padded_shape, amplitude, cell)`` where ``amplitude`` has the shape of the
    ``rfft2`` half spectrum and equals ``sqrt(`` :func:`power_law_psd` ``)``, zero at k = 0, and
    ``cell`` = Δk_x·Δk_y (cycles²/km²). ``smooth_km`` = (σ_x, σ_y) applies a Gaussian low-pass
    (the transfer function exp(−2π²(σ_x²k_x² + σ_y²k_y²))).
    """
    ny, nx = shape
    py, px = _padded(ny, pad), _padded(nx, pad)
    ky = scipy.fft.fftfreq(py, d=dy_km)
    kx = scipy.fft.rfftfreq(px, d=dx_km)
    k = np.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)
    psd = power_law_psd(k, beta, outer_km, break_km, beta_small)
    psd[0, 0] = 0.0
    sx, sy = smooth_km
    if sx > 0 or sy > 0:
        psd *= np.exp(-4.0 * math.pi**2 * (sx * sx * kx[None, :] ** 2 + sy * sy * ky[:, None] ** 2))
    cell = (1.0 / (py * dy_km)) * (1.0 / (px * dx_km))
    return (py, px), np.sqrt(psd), cell


def power_law_field(
    shape: tuple[int, int],
    dx_km: float,
    dy_km: float,
    beta: float,
    rng: np.random.Generator,
    *,
    outer_km: float = 50.0,
    pad: float = 1.5,
    normalise: bool = True,
    break_km: float | None = None,
    beta_small: float = 0.0,
    smooth_km: tuple[float, float] = (0.0, 0.0),
    _cache: dict[tuple[object, ...], object] | None = None,
) -> Float32Array:
    """A Gaussian random field with 2-D power spectral density :func:`power_law_psd`.

    Generated as filtered white noise in the Fourier domain on a grid padded by ``pad`` (so the
    field is not periodic over the frame) and cropped. With ``normalise`` the output has zero mean
    and unit standard deviation over the frame; otherwise the variance is the spectral integral
    over the padded grid's frequency bins (PSD amplitude 1 at k ≫ k0), so frames of different
    sizes keep physically consistent amplitudes.

    Shape (ny, nx), float32.
    """
    key = (shape, dx_km, dy_km, beta, outer_km, pad, break_km, beta_small, smooth_km)
    if _cache is not None and key in _cache:
        (py, px), amp, cell = _cache[key]  # type: ignore[misc]
    else:
        (py, px), amp, cell = power_law_psd_grid(
            shape, dx_km, dy_km, beta, outer_km, pad, break_km, beta_small, smooth_km
        )
        if _cache is not None:
            _cache[key] = ((py, px), amp, cell)
    n_tot = py * px
    # Complex white noise (E|w|² = 2) on the half spectrum; irfft2 divides by N and implies the
    # Hermitian other half, so W = w·N·sqrt(S·Δk²/2) gives a variance of Σ_k S(k)·Δk².
    w = rng.standard_normal(amp.shape) + 1j * rng.standard_normal(amp.shape)
    w *= amp * (n_tot * math.sqrt(cell / 2.0))
    # irfft2 keeps only the real part of the kx = 0 (and Nyquist) columns: restore their variance
    w[:, 0] *= math.sqrt(2.0)
    if px % 2 == 0:
        w[:, -1] *= math.sqrt(2.0)
    field = scipy.fft.irfft2(w, s=(py, px), workers=-1)[: shape[0], : shape[1]]
    if normalise:
        field = field - field.mean()
        sd = field.std()
        if sd > 0:
            field = field / sd
    return field.astype(np.float32)


def _gauss_weights(n: int, spacing: float, sigma: float) -> npt.NDArray[np.float32]:
    """(n, m) row-normalised Gaussian weights from m nodes ``spacing`` px apart to n pixels."""
    m = math.ceil((n - 1) / spacing) + 5
    nodes = (np.arange(m) - 2) * spacing
    d = (np.arange(n)[:, None] - nodes[None, :]) / sigma
    w = np.exp(-0.5 * d * d)
    w /= w.sum(axis=1, keepdims=True)
    return w.astype(np.float32)


def smooth_noise(
    shape: tuple[int, int], scale_px: float, rng: np.random.Generator
) -> Float32Array:
    """Zero-mean, unit-std Gaussian noise correlated over about ``scale_px`` pixels.

    White noise on a coarse grid of nodes (spacing ``scale_px``/2) spread to the pixels by
    separable Gaussian weights (σ = 0.6·``scale_px``): two small matrix products, cheap even for
    large frames. Shape (ny, nx), float32.
    """
    ny, nx = shape
    s = max(1.0, float(scale_px))
    spacing = max(1.0, s / 2.0)
    wy = _gauss_weights(ny, spacing, 0.6 * s)
    wx = _gauss_weights(nx, spacing, 0.6 * s)
    coarse = rng.standard_normal((wy.shape[1], wx.shape[1]), dtype=np.float32)
    fine = wy @ coarse @ wx.T
    fine -= fine.mean()
    sd = float(fine.std())
    return (fine / sd if sd > 0 else fine).astype(np.float32, copy=False)


def smoothstep(x: npt.NDArray[np.floating], lo: float, hi: float) -> npt.NDArray[np.floating]:
    """0 below ``lo``, 1 above ``hi``, a smooth cubic in between."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
