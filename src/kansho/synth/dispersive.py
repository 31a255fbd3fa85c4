"""Band-limited SLCs with a frequency-dependent phase: the test bed of range split-spectrum.

Each date's SLC is circular-Gaussian speckle, correlated between dates with coherence γ
(z_k = √γ·c + √(1−γ)·n_k), band-limited in range to ``bandwidth_hz`` within the complex sampling
rate ``sampling_rate_hz`` (SLCs at baseband: FFT bin 0 is the carrier f0). Its phase depends on the
range frequency f = f0 + δf as the propagation does:

    −ν_k · f/f0      non-dispersive (deformation, troposphere; ν_k its phase at f0, rad)
    −ψ_k · f0/f      dispersive (ionosphere; ψ_k at f0, rad)
    −g_k             geometric phase compensated by coregistration (frequency independent)

with the SLC sign of :mod:`kansho.ifg.form` (phase −4π·excess range/λ), so the interferogram
s_i·conj(s_j) carries (ν_j − ν_i) + (ψ_j − ψ_i) + (g_j − g_i) at f0. The spectrum is cut into
``n_slices`` narrow slices, each given the phase at its centre frequency (for smooth screens the
phase varies by < 0.03 rad across a slice of < 2 MHz; the slices' sum is the band-limited SLC).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["simulate_dispersive_slcs"]


def simulate_dispersive_slcs(
    nondispersive: npt.NDArray[np.floating],
    dispersive: npt.NDArray[np.floating],
    *,
    f0_hz: float,
    bandwidth_hz: float,
    sampling_rate_hz: float,
    coherence: float | npt.NDArray[np.floating] = 0.9,
    geometric: npt.NDArray[np.floating] | None = None,
    n_slices: int = 32,
    rng: np.random.Generator | int | None = 0,
) -> npt.NDArray[np.complex64]:
    """SLCs (n, ny, nx) complex64 of the module docstring.

    ``nondispersive``, ``dispersive`` (and ``geometric``): (n, ny, nx) phases at f0 (rad);
    ``coherence``: the pair coherence of the speckle, scalar or (ny, nx), equal for every pair.
    """
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    nd = np.asarray(nondispersive, np.float64)
    di = np.asarray(dispersive, np.float64)
    n, ny, nx = nd.shape
    g = np.broadcast_to(np.asarray(coherence, np.float64), (ny, nx))

    def cn() -> npt.NDArray[np.complex128]:
        z: npt.NDArray[np.complex128] = rng.standard_normal((ny, nx)) + 1j * rng.standard_normal((ny, nx))
        return z / math.sqrt(2.0)

    common = cn()
    f = np.fft.fftfreq(nx, d=1.0 / sampling_rate_hz)
    edges = np.linspace(-bandwidth_hz / 2, bandwidth_hz / 2, n_slices + 1)
    out = np.empty((n, ny, nx), np.complex64)
    for k in range(n):
        z = np.sqrt(g) * common + np.sqrt(1.0 - g) * cn()
        spec = np.fft.fft(z, axis=1)
        acc = np.zeros((ny, nx), np.complex128)
        for j in range(n_slices):
            lo, hi = edges[j], edges[j + 1]
            sel = (f >= lo) & ((f < hi) if j < n_slices - 1 else (f <= hi))
            if not sel.any():
                continue
            fj = f0_hz + 0.5 * (lo + hi)
            part = np.fft.ifft(spec * sel[None, :], axis=1)
            acc += part * np.exp(-1j * (nd[k] * fj / f0_hz + di[k] * f0_hz / fj))
        if geometric is not None:
            acc *= np.exp(-1j * np.asarray(geometric[k], np.float64))
        out[k] = acc.astype(np.complex64)
    return out
