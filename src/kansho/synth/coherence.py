"""Coherence of each interferogram, its estimate, and the phase noise it implies.

Coherence is a product of decorrelation terms (Zebker & Villasenor 1992):

    γ = γ_temporal(Δt) · γ_spatial(B⊥) · c(date1) · c(date2) · (per-pair fluctuation)

* temporal: γ_t = (γ0 − γ∞)·exp(−Δt/τ) + γ∞ per land-cover class (urban stays high, cropland
  and forest decay within weeks, water is incoherent), with smooth spatial variation of γ0, γ∞
  and τ inside each class; γ0 includes thermal (SNR) decorrelation;
* spatial (baseline): γ_s = 1 − |B⊥| / B⊥c, with B⊥c from the local incidence (slopes facing the
  radar decorrelate faster); layover and shadow are incoherent;
* per-epoch conditions c(date): wet or snow-covered scenes. In winter, snow above a snow line
  decorrelates every pair that includes the snowy epoch; rain lowers vegetated coherence a little.

The written coherence is the *estimate* with its positive bias and spread for ``coh_looks``
looks (Touzi et al. 1999): E[γ̂²] ≈ γ² + (1 − γ²)²/L, sd ≈ (1 − γ²)/√(2L). The phase noise uses
the Cramér–Rao bound σ_φ = √((1 − γ²) / (2Lγ²)) for L looks (Rodriguez & Martin 1992), capped
at π/√3, the standard deviation of a uniformly distributed (fully decorrelated) phase; it is then
smoothed by a small Gaussian kernel standing in for the adaptive (Goldstein & Werner 1998) filter
LiCSAR applies before unwrapping, which makes the noise spatially correlated over a few pixels
and reduces it (by 1/(2√π·σ_px) for white noise, ≈ 0.28 for σ = 1 px).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from kansho._dates import parse_date
from kansho._types import Float32Array
from kansho.synth._fields import smooth_noise
from kansho.synth.terrain import CROPLAND, FOREST, URBAN, WATER

# (γ0, γ∞, τ days) per land-cover class; γ0 includes thermal decorrelation
CLASS_PARAMS = {
    WATER: (0.0, 0.0, 1.0),
    URBAN: (0.88, 0.62, 250.0),
    CROPLAND: (0.75, 0.22, 24.0),
    FOREST: (0.60, 0.16, 14.0),
}
SIGMA_PHASE_MAX = math.pi / math.sqrt(3.0)


@dataclass(frozen=True)
class CoherenceModel:
    """Static per-pixel coherence parameters, (ny, nx) float32: γ0, γ∞, τ (days), B⊥c (m),
    ``incoherent`` (water, layover, shadow), ``hgt`` (m) and ``vegetated`` weight (0..1)."""

    g0: Float32Array
    ginf: Float32Array
    tau: Float32Array
    bcrit: Float32Array
    incoherent: npt.NDArray[np.bool_]
    hgt: Float32Array
    vegetated: Float32Array
    snow_noise: Float32Array


def make_coherence_model(
    landcover: npt.NDArray[np.uint8],
    hgt: Float32Array,
    bcrit: Float32Array,
    local_incidence: Float32Array,
    rng: np.random.Generator,
) -> CoherenceModel:
    """Per-pixel γ0, γ∞, τ from the land cover with smooth in-class variation."""
    shape = landcover.shape
    scale = max(3.0, min(shape) / 25.0)
    g0 = np.zeros(shape, np.float32)
    ginf = np.zeros(shape, np.float32)
    tau = np.ones(shape, np.float32)
    for cls, (a, b, t) in CLASS_PARAMS.items():
        m = landcover == cls
        g0[m], ginf[m], tau[m] = a, b, t
    z1 = smooth_noise(shape, scale, rng)
    z2 = smooth_noise(shape, scale, rng)
    z3 = smooth_noise(shape, scale * 0.5, rng)
    g0 = np.clip(g0 * np.exp(0.08 * z1 + 0.04 * z3), 0.0, 0.95).astype(np.float32)
    ginf = np.clip(ginf * np.exp(0.25 * z2 + 0.1 * z3), 0.0, 0.9 * g0).astype(np.float32)
    tau = (tau * np.exp(0.3 * z2)).astype(np.float32)
    incoherent = (landcover == WATER) | (local_incidence <= math.radians(1.0)) | (local_incidence >= math.radians(89.0))
    vegetated = np.where(landcover == FOREST, 1.0, np.where(landcover == CROPLAND, 0.8, 0.15)).astype(np.float32)
    return CoherenceModel(
        g0=g0,
        ginf=ginf,
        tau=tau,
        bcrit=bcrit,
        incoherent=incoherent,
        hgt=hgt,
        vegetated=vegetated,
        snow_noise=smooth_noise(shape, scale, rng),
    )


@dataclass(frozen=True)
class EpochCondition:
    """Weather of one acquisition: snow line (m; inf = no snow) and rain (0..1)."""

    snow_line: float
    rain: float


def draw_conditions(epochs: npt.NDArray[np.int64], snow: bool, rng: np.random.Generator) -> list[EpochCondition]:
    """Snow on most mid-winter scenes (Dec–Mar), rain on ~15% of scenes."""
    out = []
    for d in epochs:
        m = parse_date(int(d)).month
        line = math.inf
        if snow and m in (12, 1, 2, 3):
            p = 0.75 if m in (1, 2) else 0.4
            if rng.random() < p:
                line = float(rng.uniform(700.0, 1500.0))
        else:
            rng.random()  # keep the draw count independent of the snow option
        rain = float(rng.uniform(0.3, 1.0)) if rng.random() < 0.15 else 0.0
        out.append(EpochCondition(snow_line=line, rain=rain))
    return out


def condition_factor(model: CoherenceModel, cond: EpochCondition) -> Float32Array | None:
    """Multiplicative coherence factor of one epoch, (ny, nx) float32, or None if 1 everywhere."""
    f: Float32Array | None = None
    if math.isfinite(cond.snow_line):
        line = cond.snow_line + 150.0 * model.snow_noise
        cover = np.clip((model.hgt - line) / 200.0, 0.0, 1.0)  # patchy transition over ~200 m
        f = (1.0 - 0.8 * cover).astype(np.float32)
    if cond.rain > 0:
        r = (1.0 - 0.25 * cond.rain * model.vegetated).astype(np.float32)
        f = r if f is None else f * r
    return f


def pair_coherence(
    model: CoherenceModel,
    dt_days: float,
    bperp_m: float,
    cond1: Float32Array | None,
    cond2: Float32Array | None,
    rng: np.random.Generator,
) -> Float32Array:
    """True coherence of one pair, (ny, nx) float32 in [0, 0.95]."""
    g = (model.g0 - model.ginf) * np.exp(np.float32(-dt_days) / model.tau) + model.ginf
    g *= np.clip(1.0 - np.float32(abs(bperp_m)) / model.bcrit, 0.0, 1.0)
    if cond1 is not None:
        g *= cond1
    if cond2 is not None:
        g *= cond2
    # pair-to-pair variation (soil moisture, wind): γ ** exp(0.15 z) with z a smooth field keeps
    # γ in [0, 1] and varies low coherence more than high coherence
    shape = g.shape
    g = np.clip(g, 0.0, 0.95)
    g **= np.exp(np.float32(0.15) * smooth_noise(shape, max(3.0, min(shape) / 10.0), rng))
    g[model.incoherent] = 0.0
    return g.astype(np.float32, copy=False)


def estimate_coherence(gamma: Float32Array, looks: int, rng: np.random.Generator) -> Float32Array:
    """Sample-coherence estimate of ``gamma`` with ``looks`` looks (biased up at low γ), float32."""
    g2 = gamma * gamma
    one = np.float32(1.0) - g2
    mean = np.sqrt(g2 + one * one / np.float32(looks))
    sd = one / np.float32(math.sqrt(2.0 * looks))
    est = mean + sd * rng.standard_normal(gamma.shape, dtype=np.float32)
    return np.clip(est, 0.0, 1.0).astype(np.float32)


def phase_noise(gamma: Float32Array, looks: int, filter_px: float, rng: np.random.Generator) -> Float32Array:
    """Phase noise (rad) of one interferogram: CRB-scaled white noise, Gaussian-filtered."""
    noise = phase_sigma(gamma, looks) * rng.standard_normal(gamma.shape, dtype=np.float32)
    if filter_px > 0:
        noise = ndimage.gaussian_filter(noise, filter_px, truncate=3.0, mode="reflect")
    return noise.astype(np.float32, copy=False)


def phase_sigma(gamma: Float32Array, looks: int) -> Float32Array:
    """Phase standard deviation (rad) from coherence: Cramér–Rao bound capped at π/√3."""
    g = np.maximum(gamma, np.float32(1e-3))
    s = np.sqrt((1.0 - g * g) / (2.0 * looks * g * g))
    return np.minimum(s, np.float32(SIGMA_PHASE_MAX)).astype(np.float32)
