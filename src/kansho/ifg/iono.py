"""Ionospheric (dispersive) phase by range split-spectrum (arrays in, arrays out).

The phase of an interferogram at radar frequency f splits into a non-dispersive part that scales
with f (geometry, deformation, troposphere) and a dispersive part that scales with 1/f (the
ionosphere's phase advance, −4π·K·ΔTEC/(c·f), K = 40.28 m³/s²). With φ_nd and φ_iono their values
at the carrier f0, the phases of a low and a high range sub-band (centres f_L < f0 < f_H) are

    φ_L = φ_nd · f_L/f0 + φ_iono · f0/f_L,      φ_H = φ_nd · f_H/f0 + φ_iono · f0/f_H,

which inverts to (Gomba, Parizzi, De Zan, Eineder & Bamler 2016, IEEE TGRS 54(3):1446–1461,
"Toward operational compensation of ionospheric effects in SAR interferograms: the split-spectrum
method", section II; also Rosen et al. 2010 and Fattahi, Simons & Agram 2017, IEEE TGRS 55(10))

    φ_iono = f_L f_H / (f0 (f_H² − f_L²)) · (φ_L f_H − φ_H f_L)        (:func:`dispersive_phase`)
    φ_nd   = f0 / (f_H² − f_L²) · (φ_H f_H − φ_L f_L)                  (:func:`nondispersive_phase`)

(substituting the two model equations returns φ_iono and φ_nd exactly; tested). The formulas are
linear and hold in any sign convention as long as φ_L, φ_H and the full band share it: with
Kansho's (LiCSAR's) sign — phase grows with path delay — an increase of TEC between the dates
gives a *negative* dispersive phase, and the corrected interferogram is ``unw − φ_iono``, all in
radians of the full-band carrier f0.

Error propagation (Gomba et al. 2016, section III): with independent sub-band phase errors σ_L,
σ_H,

    σ_iono = f_L f_H / (f0 (f_H² − f_L²)) · √(f_H² σ_L² + f_L² σ_H²)

and σ_L,H = √(1 − γ²) / (γ √(2 N_sub)) (Cramér–Rao, Rodriguez & Martin 1992), N_sub the
independent looks of a sub-band (its share of the range bandwidth times the full band's looks).
For ALOS-2 (f0 = 1.2575 GHz, 28 MHz) with the default sub-bands (each a third of the band, centres
± B/3) σ_iono ≈ 47.6 · σ_sub: the per-pixel estimate is ~50 times noisier than a sub-band
phase, so it must be filtered heavily (:func:`filter_dispersive`). The trade-off of the sub-band
parameters: centres further apart (larger ``centre_frac``) lower the amplification ∝ 1/(f_H − f_L),
narrower sub-bands (smaller ``width_frac``) allow that but keep fewer looks (σ_sub ∝ 1/√width).
For a flat spectrum σ_iono ∝ 1/(c·√w) with the centres at ±c·B and width w·B inside the band
(c + w/2 ≤ 1/2): the minimum is at w = c = 1/3, i.e. two bands of B/3 at the band edges, the
default (Gomba et al. 2016; ISCE's default; Liang et al. 2019, IEEE TGRS 57(11), for ALOS-2).
Narrower bands at the edges (w < 1/3) lose looks faster than they gain separation.

Coregistered stacks. Kansho's inputs are coregistered SLCs: the range offsets applied by the
coregistration (the flat-earth and topographic range differences) move the sub-band's envelope
with the full-band carrier, so their phase in a sub-band interferogram is that of the full band
(frequency-independent; Fattahi et al. 2017, section II.B). The reference phase is therefore
removed from the sub-band interferograms unscaled; what remains (deformation, atmosphere,
ionosphere) follows the model above.

Unwrapping. Instead of unwrapping both sub-band interferograms, the full band's unwrapped phase
φ0 (from the chain) anchors the sub-band sum, φ_L + φ_H = 2φ0 + wrap(∠(I_L I_H) − 2φ0) (the two
differ by noise and by (f_H − f_L)²/f0²-small terms), and only the difference interferogram
I_H · conj(I_L) — a few fringes at most: its signal is (φ_nd − φ_iono)·(f_H − f_L)/f0 — is
unwrapped (SNAPHU, :func:`kansho.ifg.unwrap.unwrap_phase`), as ISCE's alos2App does (Liang et al.
2019). An ambiguity error in the difference makes an outlier of 2π·f_L f_H/(2 f0 (f_H − f_L))
(≈ 210 rad for ALOS-2), which :func:`filter_dispersive` masks.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.stats import chi2

from kansho._types import ComplexArray, FloatArray
from kansho.ifg.form import multilooked_interferogram
from kansho.ifg.unwrap import unwrap_phase

log = logging.getLogger(__name__)

__all__ = [
    "IonoEstimate",
    "bandpass_range",
    "dispersive_phase",
    "dispersive_sigma",
    "filter_dispersive",
    "nondispersive_phase",
    "occupied_bandwidth",
    "range_power_spectrum",
    "split_spectrum_ionosphere",
    "subband_frequencies",
    "subband_offsets",
]

F32 = npt.NDArray[np.float32]


def subband_offsets(bandwidth_hz: float, centre_frac: float = 1 / 3, width_frac: float = 1 / 3) -> tuple[float, float]:
    """Nominal sub-band (centre offset from the carrier, width) in Hz: (``centre_frac``·B, ``width_frac``·B).

    The low band is centred at −offset, the high band at +offset. Both must lie inside the band:
    offset + width/2 ≤ B/2 (``ValueError`` otherwise).
    """
    if not (0 < centre_frac < 0.5 and 0 < width_frac <= 1 and centre_frac + width_frac / 2 <= 0.5 + 1e-9):
        raise ValueError(f"sub-bands centred at ±{centre_frac} B with width {width_frac} B do not fit in the band "
                         "(need 0 < centre, centre + width/2 <= 0.5)")
    return centre_frac * bandwidth_hz, width_frac * bandwidth_hz


def subband_frequencies(
    f0_hz: float, bandwidth_hz: float, centre_frac: float = 1 / 3, width_frac: float = 1 / 3
) -> tuple[float, float]:
    """Nominal centre frequencies (f_L, f_H) in Hz of the sub-bands (:func:`subband_offsets`)."""
    off, _ = subband_offsets(bandwidth_hz, centre_frac, width_frac)
    return f0_hz - off, f0_hz + off


def range_power_spectrum(slc: ComplexArray) -> npt.NDArray[np.float64]:
    """Mean power spectrum along range (axis 1) of ``slc`` (ny, nx), in ``np.fft.fftfreq`` bin order, (nx,)."""
    a = np.nan_to_num(np.asarray(slc))
    return np.mean(np.abs(np.fft.fft(a, axis=1)) ** 2, axis=0).astype(np.float64)


def occupied_bandwidth(power: FloatArray, sampling_rate_hz: float, level: float = 0.1) -> float:
    """Width (Hz) of the band where the smoothed range spectrum ``power`` (fftfreq order) exceeds
    ``level`` × its median over the strongest half of the bins (a −10 dB width by default).

    An estimate for stacks whose range bandwidth is not given: SLCs are usually sampled at
    1.1–1.3 × their bandwidth, the spectrum is flat (or window-weighted) inside and noise outside.
    """
    p = np.fft.fftshift(np.asarray(power, np.float64))
    n = p.size
    p = ndimage.uniform_filter1d(p, max(1, n // 64), mode="wrap")
    ref = float(np.median(np.sort(p)[n // 2 :]))
    above = p >= level * ref
    return float(above.sum()) / n * sampling_rate_hz


def _band_mask(nx: int, sampling_rate_hz: float, centre_hz: float, width_hz: float) -> npt.NDArray[np.bool_]:
    f = np.fft.fftfreq(nx, d=1.0 / sampling_rate_hz)
    return np.abs(f - centre_hz) <= width_hz / 2.0


def bandpass_range(
    slc: ComplexArray, sampling_rate_hz: float, centre_hz: float, width_hz: float
) -> npt.NDArray[np.complex64]:
    """Range band-pass of an SLC (ny, nx): keep the range frequencies within ``centre_hz ± width_hz/2``.

    ``centre_hz`` is the offset from the carrier (the SLC is at baseband: FFT bin 0 is f0),
    ``sampling_rate_hz`` the complex range sampling rate c / (2 · range pixel spacing). A
    rectangular window in frequency; the sub-band keeps its carrier offset (not demodulated), which
    cancels in an interferogram of two coregistered SLCs. NaN input is treated as 0. complex64 (ny, nx).
    """
    a = np.nan_to_num(np.asarray(slc, np.complex64))
    spec = np.fft.fft(a, axis=1)
    spec *= _band_mask(a.shape[1], sampling_rate_hz, centre_hz, width_hz)[None, :]
    return np.fft.ifft(spec, axis=1).astype(np.complex64)


def _effective_offset(power: npt.NDArray[np.float64], sampling_rate_hz: float, centre_hz: float,
                      width_hz: float) -> float:
    """Power-weighted mean frequency offset (Hz) of the sub-band: its effective centre, which differs
    from the nominal one when the spectrum is weighted (e.g. Hamming) or the band is misjudged."""
    f = np.fft.fftfreq(power.size, d=1.0 / sampling_rate_hz)
    w = power * _band_mask(power.size, sampling_rate_hz, centre_hz, width_hz)
    s = float(w.sum())
    return float((f * w).sum() / s) if s > 0 else centre_hz


def dispersive_phase(phi_low: FloatArray, phi_high: FloatArray, f0_hz: float, f_low_hz: float,
                     f_high_hz: float) -> npt.NDArray[np.float64]:
    """Dispersive (ionospheric) phase at the carrier f0 (rad) from the unwrapped sub-band phases (rad).

    φ_iono = f_L f_H / (f0 (f_H² − f_L²)) · (φ_L f_H − φ_H f_L) (Gomba et al. 2016; module
    docstring). Any shape (broadcast); NaN propagates.
    """
    fl, fh = float(f_low_hz), float(f_high_hz)
    k = fl * fh / (f0_hz * (fh * fh - fl * fl))
    return k * (np.asarray(phi_low, np.float64) * fh - np.asarray(phi_high, np.float64) * fl)


def nondispersive_phase(phi_low: FloatArray, phi_high: FloatArray, f0_hz: float, f_low_hz: float,
                        f_high_hz: float) -> npt.NDArray[np.float64]:
    """Non-dispersive phase at f0 (rad): φ_nd = f0 / (f_H² − f_L²) · (φ_H f_H − φ_L f_L) (Gomba et al. 2016)."""
    fl, fh = float(f_low_hz), float(f_high_hz)
    return f0_hz / (fh * fh - fl * fl) * (np.asarray(phi_high, np.float64) * fh - np.asarray(phi_low, np.float64) * fl)


def dispersive_sigma(coherence: FloatArray, looks: float, f0_hz: float, f_low_hz: float, f_high_hz: float,
                     width_frac: float = 1 / 3) -> npt.NDArray[np.float64]:
    """Standard deviation (rad at f0) of the unfiltered split-spectrum estimate, shape of ``coherence``.

    ``coherence``: true (or bias-corrected) coherence 0..1 of the pair; ``looks``: independent looks
    of the full-band multilooked pixel (for oversampled data: the looks × bandwidth / sampling
    rate). Each sub-band keeps ``width_frac`` of them; σ_sub = √(1 − γ²)/(γ √(2 N_sub)) and
    σ_iono = f_L f_H/(f0 (f_H² − f_L²)) · σ_sub · √(f_H² + f_L²) (Gomba et al. 2016).
    """
    g = np.clip(np.asarray(coherence, np.float64), 1e-3, 1 - 1e-9)
    n_sub = max(float(looks) * width_frac, 1.0)
    s_sub = np.sqrt(1.0 - g * g) / (g * math.sqrt(2.0 * n_sub))
    fl, fh = float(f_low_hz), float(f_high_hz)
    k = fl * fh / (f0_hz * (fh * fh - fl * fl))
    return k * s_sub * math.hypot(fl, fh)


def filter_dispersive(
    phi: FloatArray,
    coherence: FloatArray,
    sigma_px: float | tuple[float, float],
    *,
    outlier_nsigma: float = 4.0,
    median_px: int | None = None,
    min_coherence: float = 0.0,
    ramp: bool = True,
) -> tuple[F32, npt.NDArray[np.bool_]]:
    """Smooth a raw dispersive-phase estimate (ny, nx, rad) into a long-wavelength screen.

    Steps (after Fattahi et al. 2017 and Liang et al. 2019, who filter with large windows and mask
    unreliable pixels first): (1) pixels with coherence < ``min_coherence`` or NaN are left out;
    (2) outliers — unwrapping errors of the difference interferogram and low-coherence noise — are
    masked where the estimate departs from a ``median_px`` median filter by more than
    ``outlier_nsigma`` robust standard deviations of the coherence-normalised deviation
    (1.4826·MAD); (3) a plane is fitted by weighted least squares to the kept pixels (so the
    Gaussian does not bias the ramp at the edges); (4) the rest is smoothed by a normalised
    Gaussian convolution (std ``sigma_px`` pixels, one value or (azimuth, range)) with the weights
    γ²/(1 − γ²) ∝ 1/σ² (inverse variance of the estimate) and added back to the plane. Gaps are
    filled from their neighbours (or the plane far from data). The filtered std of white noise of
    std σ is ≈ σ / (2√π·√(σ_y σ_x)) per pixel for unit weights.

    Returns (filtered float32 (ny, nx), kept mask). All NaN if fewer than 10 pixels are kept.
    """
    p = np.asarray(phi, np.float64)
    g = np.clip(np.nan_to_num(np.asarray(coherence, np.float64), nan=0.0), 0.0, 0.99)
    valid = np.isfinite(p) & (g >= max(min_coherence, 1e-3))
    if valid.sum() < 10:
        return np.full(p.shape, np.nan, np.float32), np.zeros(p.shape, bool)
    w = np.where(valid, g * g / (1.0 - g * g), 0.0)
    sy, sx = (float(sigma_px), float(sigma_px)) if isinstance(sigma_px, (int, float)) else sigma_px
    if median_px is None:
        median_px = int(2 * round(max(sy, sx)) + 1)
    # (2) outliers against a running median (gaps filled with the median of the valid values)
    fill = float(np.median(p[valid]))
    med = ndimage.median_filter(np.where(valid, p, fill), size=max(3, median_px), mode="nearest")
    z = (p - med) * np.sqrt(w)
    s = 1.4826 * float(np.median(np.abs(z[valid])))
    keep = valid & (np.abs(z) <= outlier_nsigma * max(s, 1e-12))
    if keep.sum() < 10:
        return np.full(p.shape, np.nan, np.float32), keep
    # (3) weighted plane
    ny, nx = p.shape
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float64)
    yy = (yy - ny / 2) / max(ny, 1)
    xx = (xx - nx / 2) / max(nx, 1)
    plane = np.zeros_like(p)
    if ramp:
        sw = np.sqrt(w[keep])
        a = np.column_stack([np.ones(int(keep.sum())), yy[keep], xx[keep]]) * sw[:, None]
        coef, *_ = np.linalg.lstsq(a, p[keep] * sw, rcond=None)
        plane = coef[0] + coef[1] * yy + coef[2] * xx
    else:
        plane[:] = float(np.sum(w[keep] * p[keep]) / np.sum(w[keep]))
    # (4) normalised Gaussian convolution of the residual
    wk = np.where(keep, w, 0.0)
    res = np.where(keep, p - plane, 0.0)
    num = ndimage.gaussian_filter(wk * res, (sy, sx), mode="constant", truncate=3.0)
    den = ndimage.gaussian_filter(wk, (sy, sx), mode="constant", truncate=3.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = np.where(den > 1e-6 * float(wk.max()), num / den, 0.0)
    return (plane + smooth).astype(np.float32), keep


def screen_noise_variance(raw: FloatArray, filtered: FloatArray, kept: npt.NDArray[np.bool_],
                          coherence: FloatArray, sigma_px: float | tuple[float, float], max_lag: int = 4,
                          ramp: bool = True) -> float:
    """Variance (rad²) of the estimation noise left in a filtered screen, measured from the data.

    ``raw``, ``filtered``, ``kept``: :func:`filter_dispersive`'s input, output and kept mask (ny, nx);
    ``coherence``: its weights' coherence; ``sigma_px``: its Gaussian. For noise of variance c/w_j
    (w = γ²/(1 − γ²), the filter's inverse-variance weights) the normalised convolution leaves, at
    each pixel, c · Σ w_j k_j² / (Σ w_j k_j)², edges included; c is the variance of the weighted
    residual (raw − filtered)·√w (the plain variance: the tails the outlier mask leaves, e.g. at
    C-band, move the weighted fit as much as they move it). Multilooked sub-band noise is correlated between
    neighbouring pixels, which that white-noise figure misses by 30-40 %: it is multiplied by the
    variance inflation factor Σ_τ ρ(τ) K2(τ)/K2(0) over lags |τ| ≤ ``max_lag`` px, with ρ the
    residual's autocorrelation (by FFT, gaps excluded) and K2 the kernel's own autocorrelation (a
    Gaussian of σ√2). The residual lacks the part of the noise the filter took, which lowers that
    sum by a known fraction β of it (for noise correlated over fewer pixels than σ); the sum is
    divided by 1 − β. Longer lags are left out, where the residual's autocorrelation is mostly that
    loss. With ``ramp`` (as the filter fits one) the noise of the fitted plane's tilt is added:
    tr(Cov_tilt · S) with Cov = c·(AᵀWA)⁻¹ of the weighted fit, inflated by the same correlation
    factor, and S the spread of the pixel coordinates; on a scene not much larger than the filter it
    is most of the screen's noise. Returns the mean over kept pixels (NaN if fewer than 10 are kept).
    """
    if int(kept.sum()) < 10:
        return float("nan")
    g = np.clip(np.nan_to_num(np.asarray(coherence, np.float64), nan=0.0), 0.0, 0.99)
    w = np.where(kept, g * g / (1.0 - g * g), 0.0)
    z = np.where(kept, (np.asarray(raw, np.float64) - np.asarray(filtered, np.float64)) * np.sqrt(w), 0.0)
    zk = z[kept]
    c = float(np.var(zk))    # not a robust scale: heavy tails left by the outlier mask move the fit as much
    sy, sx = (float(sigma_px), float(sigma_px)) if isinstance(sigma_px, (int, float)) else sigma_px
    num = ndimage.gaussian_filter(w, (sy / math.sqrt(2), sx / math.sqrt(2)), mode="constant",
                                  truncate=3.0 * math.sqrt(2)) / (4.0 * math.pi * sy * sx)
    den = ndimage.gaussian_filter(w, (sy, sx), mode="constant", truncate=3.0)
    white = c * num[kept] / np.maximum(den[kept], 1e-12) ** 2
    # autocorrelation of the residual at short lags, normalised by the count of pixel pairs
    ny, nx = z.shape
    shape = (2 * ny, 2 * nx)
    zz = np.where(kept, z - float(np.mean(zk)), 0.0)
    acf = np.fft.irfft2(np.abs(np.fft.rfft2(zz, shape)) ** 2, shape)
    cnt = np.fft.irfft2(np.abs(np.fft.rfft2(kept.astype(np.float64), shape)) ** 2, shape)
    lags = np.arange(-max_lag, max_lag + 1)
    ly, lx = np.meshgrid(lags, lags, indexing="ij")
    a = acf[ly % shape[0], lx % shape[1]] / np.maximum(cnt[ly % shape[0], lx % shape[1]], 1.0)
    rho = a / max(float(a[max_lag, max_lag]), 1e-30)
    k2 = np.exp(-(ly**2) / (4 * sy * sy) - (lx**2) / (4 * sx * sx))   # K2(τ)/K2(0)
    # the residual lacks the filtered part of the noise: for noise correlated over a few px its
    # autocorrelation is C(τ) − ΣC·(2k(τ) − K2(τ)), so the window's sum is ΣC·(1 − β)
    kern = np.exp(-(ly**2) / (2 * sy * sy) - (lx**2) / (2 * sx * sx)) / (2 * math.pi * sy * sx)
    beta = float(np.sum(k2 * (2.0 * kern - k2 / (4 * math.pi * sy * sx))))
    inflation = max(float(np.sum(rho * k2)) / max(1.0 - beta, 0.1), 1.0)
    out = float(np.mean(white)) * inflation
    if ramp:
        yy, xx = np.nonzero(kept)
        coords = np.column_stack([(yy - ny / 2) / ny, (xx - nx / 2) / nx])
        a = np.column_stack([np.ones(len(yy)), coords])
        cov = c * np.linalg.pinv(a.T @ (a * w[kept][:, None]))
        spread = np.cov(coords, rowvar=False)
        out += float(np.trace(cov[1:, 1:] @ spread)) * max(float(np.sum(rho)) / max(1.0 - beta, 0.1), 1.0)
    return out


def screen_dof(kept: npt.NDArray[np.bool_], sigma_px: float | tuple[float, float], ramp: bool = True) -> float:
    """Effective number of independent values in a filtered screen (its noise's degrees of freedom):
    the plane's two tilts (with ``ramp``) plus one per Gaussian footprint 4π σ_y σ_x of kept pixels."""
    sy, sx = (float(sigma_px), float(sigma_px)) if isinstance(sigma_px, (int, float)) else sigma_px
    return (2.0 if ramp else 0.0) + float(kept.sum()) / (4.0 * math.pi * sy * sx)


def screen_helps(screen_var: float, noise_var: float, dof: float = math.inf, alpha: float = 0.05) -> bool:
    """Whether removing a filtered screen lowers the error it leaves, with confidence.

    ``screen_var`` (rad²) is signal s² plus noise n² (``noise_var``). Removing the screen turns the
    error s² of the uncorrected phase into n²: a gain iff s² > n², i.e. ``screen_var > 2·noise_var``.
    The screen's own noise variance scatters as n²·χ²_ν/ν over ``dof`` = ν values
    (:func:`screen_dof`): a screen of noise alone would pass that bound by chance, often when ν is
    small (a plane on a scene smaller than the filter: ν ≈ 2 passes 2n² in 14 % of pairs). So the bound
    is also at least n²·χ²_ν(1 − ``alpha``)/ν, which noise alone exceeds with probability ``alpha``.
    Judged on the screen alone, not on the phase std before and after, which also moves with the
    chance correlation between the screen's noise and the non-dispersive phase (deformation,
    troposphere): on simulated pairs without ionosphere the std fell in 3 of 3 cases."""
    if not (np.isfinite(screen_var) and np.isfinite(noise_var)):
        return False
    q = 2.0
    if np.isfinite(dof) and dof > 0:
        q = max(q, float(chi2.ppf(1.0 - alpha, dof)) / dof)
    return bool(screen_var > q * noise_var)


@dataclass(frozen=True)
class IonoEstimate:
    """Result of :func:`split_spectrum_ionosphere` on the multilooked grid (ny, nx), rad at f0.

    ``raw``: unfiltered dispersive phase (NaN where not estimated); ``filtered``: the screen to remove;
    ``kept``: pixels used by the filter; ``coh_low``/``coh_high``: sub-band coherence;
    ``f_low``/``f_high``: effective sub-band centre frequencies (Hz); ``sigma_raw``: theoretical
    σ of ``raw`` from the estimated coherence (:func:`dispersive_sigma`); ``screen_var``: variance of
    ``filtered`` over the kept pixels (rad²); ``noise_var``: its estimation-noise part
    (:func:`screen_noise_variance`) and ``noise_dof`` its degrees of freedom (:func:`screen_dof`);
    :attr:`helps`: :func:`screen_helps`.
    """

    raw: F32
    filtered: F32
    kept: npt.NDArray[np.bool_]
    coh_low: F32
    coh_high: F32
    f_low: float
    f_high: float
    sigma_raw: F32
    screen_var: float = float("nan")
    noise_var: float = float("nan")
    noise_dof: float = math.inf

    @property
    def helps(self) -> bool:
        return screen_helps(self.screen_var, self.noise_var, self.noise_dof)


def split_spectrum_ionosphere(
    s1: ComplexArray,
    s2: ComplexArray,
    unw_full: FloatArray,
    *,
    f0_hz: float,
    sampling_rate_hz: float,
    bandwidth_hz: float,
    azimuth_looks: int,
    range_looks: int,
    ref_phase: FloatArray | None = None,
    centre_frac: float = 1 / 3,
    width_frac: float = 1 / 3,
    filter_sigma_px: float | tuple[float, float] = 16.0,
    outlier_nsigma: float = 4.0,
    min_coherence: float = 0.2,
) -> IonoEstimate:
    """The dispersive phase of the pair ``s1 · conj(s2)`` (module docstring), on the multilooked grid.

    ``s1``, ``s2``: coregistered full-resolution SLCs (ny, nx) at baseband; ``unw_full``: the
    full-band unwrapped phase (rad, (ny // azimuth_looks, nx // range_looks), NaN = no data) of the
    same pair and looks, with ``ref_phase`` (full resolution, rad) removed as here;
    ``sampling_rate_hz``: complex range sampling rate; ``bandwidth_hz``: the range (chirp) bandwidth.
    The sub-band centres are refined to the power-weighted mean frequency of each band in the data
    (the actual spectrum may be window-weighted). Returns an :class:`IonoEstimate`.
    """
    if bandwidth_hz > sampling_rate_hz * 1.001:
        raise ValueError(f"range bandwidth {bandwidth_hz / 1e6:.2f} MHz exceeds the sampling rate "
                         f"{sampling_rate_hz / 1e6:.2f} MHz")
    off, width = subband_offsets(bandwidth_hz, centre_frac, width_frac)
    power = range_power_spectrum(s1) + range_power_spectrum(s2)
    f_lo = f0_hz + _effective_offset(power, sampling_rate_hz, -off, width)
    f_hi = f0_hz + _effective_offset(power, sampling_rate_hz, +off, width)
    ifgs = []
    cohs = []
    for c in (-off, +off):
        b1 = bandpass_range(s1, sampling_rate_hz, c, width)
        b2 = bandpass_range(s2, sampling_rate_hz, c, width)
        i, g = multilooked_interferogram(b1, b2, azimuth_looks, range_looks, ref_phase)
        ifgs.append(i)
        cohs.append(g)
        del b1, b2
    i_lo, i_hi = ifgs
    g_lo, g_hi = cohs
    u0 = np.asarray(unw_full, np.float64)
    if u0.shape != i_lo.shape:
        raise ValueError(f"full-band phase {u0.shape} differs from the multilooked sub-bands {i_lo.shape}")
    g_d = np.sqrt(np.nan_to_num(g_lo) * np.nan_to_num(g_hi)).astype(np.float32)
    diff = i_hi * np.conj(i_lo)
    nlooks = azimuth_looks * range_looks * width_frac * bandwidth_hz / sampling_rate_hz
    d_unw, _ = unwrap_phase(diff, g_d, nlooks=max(nlooks, 1.0), min_coherence=min_coherence)
    # SNAPHU leaves a free 2πk: the difference's signal is (φ_nd − φ_iono)·(f_H − f_L)/f0, ~1.5 % of
    # the phases, so its median lies within ±π unless they exceed ~200 rad; fixing k there makes the
    # estimate absolute (consistent between pairs, closure-preserving) instead of offset by k·210 rad
    if np.isfinite(d_unw).any():
        d_unw = d_unw - 2 * np.pi * np.round(float(np.nanmedian(d_unw)) / (2 * np.pi))
    # anchor the sub-band sum to the full band: φ_L + φ_H = 2 φ0 + wrap(∠(I_L I_H) − 2 φ0)
    ssum = np.angle(i_lo * i_hi).astype(np.float64)
    s_unw = 2 * u0 + np.angle(np.exp(1j * (ssum - 2 * u0)))
    phi_lo = 0.5 * (s_unw - d_unw)
    phi_hi = 0.5 * (s_unw + d_unw)
    raw = dispersive_phase(phi_lo, phi_hi, f0_hz, f_lo, f_hi).astype(np.float32)
    filt, kept = filter_dispersive(raw, g_d, filter_sigma_px, outlier_nsigma=outlier_nsigma,
                                   min_coherence=min_coherence)
    looks_eff = azimuth_looks * range_looks * bandwidth_hz / sampling_rate_hz
    sig = dispersive_sigma(g_d, looks_eff, f0_hz, f_lo, f_hi, width_frac).astype(np.float32)
    n_ok = int(np.isfinite(raw).sum())
    log.debug("split-spectrum: f_L %.4f MHz, f_H %.4f MHz, %d px estimated, %d kept", f_lo / 1e6, f_hi / 1e6,
              n_ok, int(kept.sum()))
    noise = screen_noise_variance(raw, filt, kept, g_d, filter_sigma_px)   # (the filter fits a ramp)
    screen = float(np.var(filt[kept])) if kept.sum() >= 10 and np.isfinite(filt).any() else float("nan")
    return IonoEstimate(raw, filt, kept, g_lo, g_hi, f_lo, f_hi, sig, screen, noise, screen_dof(kept, filter_sigma_px))
