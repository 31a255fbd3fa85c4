from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from kansho.filters import (
    epoch_surface,
    gaussian_nan,
    gaussian_weight,
    spatiotemporal_filter,
    temporal_gaussian,
    temporal_highpass,
)


# ----------------------------------------------------------------------------- Gaussian
def test_gaussian_nan_constant_and_holes():
    rng = np.random.default_rng(0)
    img = np.full((30, 40), 3.5)
    img[rng.random(img.shape) < 0.3] = np.nan
    out = gaussian_nan(img, 2.0, 3.0)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(img))
    np.testing.assert_allclose(out[np.isfinite(out)], 3.5, rtol=1e-12)
    filled = gaussian_nan(img, 2.0, 3.0, fill=True)
    assert np.isfinite(filled).all()
    np.testing.assert_allclose(filled, 3.5, rtol=1e-12)


def test_gaussian_nan_matches_scipy_without_nan_and_sigma0():
    rng = np.random.default_rng(1)
    img = rng.normal(size=(25, 25))
    # interior (away from the border) equals the plain Gaussian filter
    ref = ndimage.gaussian_filter(img, 1.5, mode="constant")
    out = gaussian_nan(img, 1.5, 1.5)
    np.testing.assert_allclose(out[7:-7, 7:-7], ref[7:-7, 7:-7], atol=1e-12)
    np.testing.assert_allclose(gaussian_nan(img, 0, 0), img)


def test_gaussian_nan_linear_field_interior():
    # normalised convolution of a linear field with a symmetric kernel is exact where the
    # kernel is complete
    yy, xx = np.mgrid[:40, :40].astype(float)
    img = 2 * xx - yy
    out = gaussian_nan(img, 2.0, 2.0)
    np.testing.assert_allclose(out[9:-9, 9:-9], img[9:-9, 9:-9], atol=1e-9)


@pytest.mark.parametrize("sigma", [(2.0, 3.0), (9.0, 12.0)])  # the direct and the FFT path
def test_gaussian_of_an_impulse_sums_to_one_and_the_weight_is_one_inside(sigma: tuple[float, float]) -> None:
    """The kernel has unit mass: the low-pass of an impulse far from the border sums to one, is
    symmetric about it and peaks there; the weight of a fully valid image is 1 where the kernel fits."""
    r = int(4 * max(sigma) + 0.5)  # kernel radius
    n = 4 * r + 21  # the impulse's spread stays where the whole kernel fits in the image
    img = np.zeros((n, n))
    img[n // 2, n // 2] = 1.0
    out = gaussian_nan(img, *sigma)
    assert out.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(out, out[::-1, ::-1], atol=1e-15)
    assert np.unravel_index(np.argmax(out), out.shape) == (n // 2, n // 2)
    den = gaussian_weight(np.ones((n, n), bool), *sigma)
    np.testing.assert_allclose(den[r:-r, r:-r], 1.0, atol=1e-12)
    # at a corner, the mass of the kernel's quadrant: (1/2 + k(0)/2) along each axis
    half = []
    for sg in sigma:
        rr = int(4 * sg + 0.5)
        k = np.exp(-0.5 * (np.arange(-rr, rr + 1) / sg) ** 2)
        half.append(0.5 + 0.5 * k[rr] / k.sum())
    assert den[0, 0] == pytest.approx(half[0] * half[1], abs=1e-12)


# ----------------------------------------------------------------------------- temporal
def test_temporal_gaussian_against_explicit_weights():
    rng = np.random.default_rng(2)
    t = np.sort(rng.random(15)) * 3
    x = rng.normal(size=(15, 4, 5))
    x[rng.random(x.shape) < 0.2] = np.nan
    out = temporal_gaussian(x, t, 0.3)
    assert out.shape == x.shape
    np.testing.assert_array_equal(np.isnan(out), np.isnan(x))
    for (i, y, z) in [(0, 0, 0), (7, 2, 3), (14, 3, 4)]:
        if np.isnan(x[i, y, z]):
            continue
        v = np.isfinite(x[:, y, z])
        w = np.exp(-((t - t[i]) ** 2) / (2 * 0.3**2)) * v
        assert out[i, y, z] == pytest.approx(np.nansum(w * np.nan_to_num(x[:, y, z])) / w.sum())
    np.testing.assert_allclose(temporal_gaussian(np.full((15, 3), 2.0), t, 0.3), 2.0)


def test_temporal_gaussian_order1_reproduces_lines():
    rng = np.random.default_rng(3)
    t = np.sort(rng.random(20)) * 4
    a, v = rng.normal(size=50), rng.normal(size=50) * 10
    x = a + v * t[:, None]
    x[rng.random(x.shape) < 0.2] = np.nan
    out = temporal_gaussian(x, t, 0.2, order=1)
    np.testing.assert_allclose(out[np.isfinite(x)], x[np.isfinite(x)], atol=1e-8)
    # order 0 is biased at the ends by the trend
    out0 = temporal_gaussian(x, t, 0.2)
    assert np.nanmax(np.abs(out0 - x)) > 0.1


@pytest.mark.parametrize("order", [0, 1])
def test_temporal_highpass_of_a_line_is_zero(order: int) -> None:
    """A linear deformation has no part faster than σ: both orders pass it through untouched,
    at the ends of the series and with missing epochs too."""
    rng = np.random.default_rng(6)
    t = np.sort(rng.random(30)) * 5
    x = rng.normal(size=40) + rng.normal(size=40) * 20 * t[:, None]
    x[rng.random(x.shape) < 0.2] = np.nan
    hp = temporal_highpass(x, t, 0.3, order=order)
    np.testing.assert_array_equal(np.isnan(hp), np.isnan(x))
    np.testing.assert_allclose(hp[np.isfinite(hp)], 0.0, atol=1e-9)


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("freq", [0.5, 1.0])  # cycles per year
def test_temporal_highpass_of_a_sinusoid_follows_the_gaussian_transfer_function(order: int, freq: float) -> None:
    """Away from the ends of a densely sampled series the Gaussian low-pass multiplies a sinusoid of
    frequency f by H(f) = exp(-2π² σ² f²), so the high-pass keeps (1 - H(f)) of it (the linear trend
    removed first by order 0 passes the symmetric kernel unchanged)."""
    sigma, dt = 0.2, 0.02
    t = np.arange(600) * dt
    x = np.stack([np.cos(2 * np.pi * freq * t + ph) for ph in (0.0, 1.0, 2.5)], axis=1) * 7.0
    hp = temporal_highpass(x, t, sigma, order=order)
    inner = (t > 8 * sigma) & (t < t[-1] - 8 * sigma)
    gain = 1.0 - np.exp(-2 * np.pi**2 * sigma**2 * freq**2)
    np.testing.assert_allclose(hp[inner], gain * x[inner], rtol=0, atol=1e-9)


# ----------------------------------------------------------------------------- surfaces
def test_epoch_surface_removes_a_plane_and_a_quadratic_exactly():
    """A planar (deramp=1) or quadratic (deramp=2) ramp is fitted exactly over the mask, whatever
    lies outside it, with missing pixels and on a subsample (max_points)."""
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:50, :70].astype(float)
    plane = 3.0 + 0.2 * xx - 0.05 * yy
    quad = plane + 1e-3 * xx**2 - 2e-3 * xx * yy + 5e-4 * yy**2
    use = np.ones(plane.shape, bool)
    use[:10] = False
    for deg, truth in ((1, plane), (2, quad)):
        img = truth.copy()
        img[rng.random(img.shape) < 0.3] = np.nan
        img[:10] = 1e6  # outside the mask
        for max_points in (200_000, 100):
            surf, coef = epoch_surface(img, use, deg, None, max_points=max_points)
            assert coef == 0.0
            np.testing.assert_allclose(surf, truth, atol=1e-8)
    with pytest.raises(ValueError):
        epoch_surface(quad, use, 3, None)


def test_epoch_surface_removes_a_height_term_exactly():
    """A constant plus a term proportional to height (and a plane with it) is fitted exactly and
    the height coefficient (mm/m) is returned; NaN height leaves those pixels out of the fit."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:30, :40].astype(float)
    hgt = rng.random((30, 40)) * 2000
    hgt[3, 4] = np.nan
    strat = 4.0 + 0.003 * hgt
    surf, k = epoch_surface(strat, np.ones(hgt.shape, bool), None, hgt)
    assert k == pytest.approx(0.003, rel=1e-10)
    np.testing.assert_allclose(surf, strat, atol=1e-9, equal_nan=True)
    both = strat + 0.1 * xx - 0.02 * yy
    surf, k = epoch_surface(both, np.ones(hgt.shape, bool), 1, hgt)
    assert k == pytest.approx(0.003, rel=1e-10)
    np.testing.assert_allclose(surf, both, atol=1e-9, equal_nan=True)


def test_epoch_surface_with_too_few_pixels_is_zero():
    img = np.full((6, 6), np.nan)
    img[0, :2] = 1.0
    surf, k = epoch_surface(img, np.ones((6, 6), bool), 2, None)
    np.testing.assert_array_equal(surf, 0.0)
    assert k == 0.0


# ----------------------------------------------------------------------------- filter
def _scene(seed, n_epoch=60, ny=64, nx=64, px=0.5, atm_mm=5.0):
    rng = np.random.default_rng(seed)
    t = np.arange(n_epoch) * 12 / 365.25
    yy, xx = np.mgrid[:ny, :nx]
    bowl = np.exp(-(((yy - ny / 2) ** 2 + (xx - nx / 2) ** 2) * px**2) / (2 * 8.0**2))
    defo = -30.0 * bowl[None] * t[:, None, None]  # broad subsidence, 30 mm/yr at the centre
    atm = np.stack(
        [ndimage.gaussian_filter(rng.normal(size=(ny, nx)), 6, mode="wrap") for _ in range(n_epoch)]
    )
    atm *= atm_mm / atm.std(axis=(1, 2), keepdims=True)
    noise = rng.normal(0, 0.5, defo.shape)
    noise[0] = 0
    obs = defo + atm - atm[0] + noise  # relative to the first epoch
    return t, defo, obs, bowl


@pytest.mark.parametrize("seed", [0, 1])
def test_filter_reduces_turbulent_atmosphere(seed):
    t, defo, obs, _ = _scene(seed)
    res = spatiotemporal_filter(obs, t, pixel_km=(0.5, 0.5), sigma_km=2.0)
    before = np.sqrt(np.mean((obs - defo) ** 2))
    after = np.sqrt(np.mean((res.cum_filt - defo) ** 2))
    assert after < 0.6 * before
    # the velocity is essentially unchanged: the filter removes what is random in time, which
    # averages out of a 60-epoch velocity anyway
    A = np.stack([np.ones_like(t), t], axis=1)
    v_obs = np.linalg.lstsq(A, obs.reshape(len(t), -1), rcond=None)[0][1]
    v_filt = np.linalg.lstsq(A, res.cum_filt.reshape(len(t), -1), rcond=None)[0][1]
    v_true = defo[-1].ravel() / t[-1]
    assert np.sqrt(np.mean((v_filt - v_true) ** 2)) < 1.1 * np.sqrt(np.mean((v_obs - v_true) ** 2))
    np.testing.assert_array_equal(res.cum_filt[0], 0.0)
    np.testing.assert_array_equal(res.aps[0], 0.0)
    assert res.sigma_yr == pytest.approx(3 * 12 / 365.25)
    assert res.sigma_px == (4.0, 4.0)
    assert res.trend is None


def test_filter_does_not_damage_linear_deformation():
    t, defo, _, _ = _scene(0)
    for order in (0, 1):
        res = spatiotemporal_filter(defo, t, pixel_km=(0.5, 0.5), temporal_order=order)
        np.testing.assert_allclose(res.cum_filt, defo, atol=1e-9)


def test_filter_local_linear_option_also_works():
    t, defo, obs, _ = _scene(2)
    res = spatiotemporal_filter(obs, t, pixel_km=(0.5, 0.5), temporal_order=1)
    assert np.sqrt(np.mean((res.cum_filt - defo) ** 2)) < 0.65 * np.sqrt(np.mean((obs - defo) ** 2))


def test_filter_nan_and_dtype_and_mask():
    t, _, obs, _ = _scene(3, n_epoch=20, ny=32, nx=32)
    obs = obs.astype(np.float32)
    obs[:, 5:8, 5:8] = np.nan
    obs[7, 20, 20] = np.nan
    mask = np.ones((32, 32), bool)
    mask[20:25, 0:5] = False  # not used for estimation, still corrected
    res = spatiotemporal_filter(obs, t, pixel_km=(0.5, 0.5), mask=mask)
    assert res.cum_filt.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(res.cum_filt), np.isnan(obs))
    assert np.isfinite(res.aps[:, 22, 2]).all() and np.abs(res.aps[1:, 22, 2]).max() > 0


def test_filter_deramp_removes_per_epoch_ramp():
    t, _, _, _ = _scene(4, n_epoch=15, ny=40, nx=50)
    rng = np.random.default_rng(4)
    yy, xx = np.mgrid[:40, :50].astype(float)
    ramps = np.stack([a + b * xx + c * yy for a, b, c in rng.normal(0, [2, 0.1, 0.1], (15, 3))])
    ramps -= ramps[0]
    # no deformation: the filtered result must be zero (ramp removed, nothing else left)
    res = spatiotemporal_filter(ramps, t, pixel_km=(0.5, 0.5), deramp=1)
    np.testing.assert_allclose(res.trend, ramps, atol=1e-9)
    np.testing.assert_allclose(res.cum_filt, 0.0, atol=1e-9)


def test_filter_height_term_and_reference_window():
    """A purely stratified series is taken out by the height term; the reference window then
    shifts every epoch back to its own mean there."""
    n_epoch, ny, nx = 12, 30, 30
    t = np.arange(n_epoch) * 0.1
    rng = np.random.default_rng(6)
    hgt = ndimage.gaussian_filter(rng.random((ny, nx)), 3) * 3000
    k = rng.normal(0, 0.002, n_epoch)
    k[0] = 0
    strat = k[:, None, None] * hgt[None]
    ref = (10, 13, 10, 13)
    res = spatiotemporal_filter(strat, t, pixel_km=(0.5, 0.5), hgt=hgt, ref_window=ref)
    assert res.trend is not None
    np.testing.assert_allclose(res.trend, strat, atol=1e-9)
    ref_mean = strat[:, 10:13, 10:13].mean(axis=(1, 2))[:, None, None]
    np.testing.assert_allclose(res.trend + res.aps, strat - ref_mean, atol=1e-9)
    np.testing.assert_allclose(res.cum_filt, np.broadcast_to(ref_mean, strat.shape), atol=1e-9)
    with pytest.raises(ValueError):
        spatiotemporal_filter(strat, t, pixel_km=(0.5, 0.5), hgt=hgt[:-1])


@pytest.mark.parametrize("sig", [(20.0, 20.0), (9.0, 14.0)])
def test_gaussian_nan_fft_path_equals_direct_convolution(sig: tuple[float, float]) -> None:
    """Wide kernels go through an FFT; the result is scipy.ndimage's zero-padded normalised convolution."""
    from scipy import ndimage

    rng = np.random.default_rng(5)
    a = rng.normal(size=(90, 130))
    a[rng.random(a.shape) < 0.3] = np.nan
    w = np.isfinite(a)
    num = ndimage.gaussian_filter(np.where(w, a, 0.0), sig, mode="constant", truncate=4.0)
    den = ndimage.gaussian_filter(w.astype(float), sig, mode="constant", truncate=4.0)
    ref = np.where(w, num / den, np.nan)
    got = gaussian_nan(a, *sig)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("sigma", [3.0, 12.0])
def test_gaussian_nan_with_a_shared_weight_is_the_same(sigma: float) -> None:
    """Passing the normalising weight of the finite pattern (as the pipeline does for every epoch
    under one mask) gives exactly the filter's own result, on both the direct and the FFT path."""
    rng = np.random.default_rng(4)
    a = rng.normal(size=(120, 90))
    a[rng.random(a.shape) < 0.2] = np.nan
    den = gaussian_weight(np.isfinite(a), sigma, sigma)
    assert np.all((den >= -1e-12) & (den <= 1 + 1e-12))
    np.testing.assert_array_equal(gaussian_nan(a, sigma, sigma, fill=True, den=den),
                                  gaussian_nan(a, sigma, sigma, fill=True))
    with pytest.raises(ValueError):
        gaussian_nan(a, sigma, sigma, den=den[:-1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fft_gaussian_is_bit_for_bit_the_plain_2d_fft_product(seed: int) -> None:
    """The FFT path (rows of the zero padding left out of the row passes, the kernel's transform
    kept between calls) equals ``irfft2(rfft2(a, shp) * rfft2(kernel, shp), shp)`` cropped, exactly."""
    from scipy import fft

    from kansho import filters

    rng = np.random.default_rng(seed)
    for _ in range(6):
        ny, nx = (int(v) for v in rng.integers(20, 160, 2))
        sig = (float(rng.uniform(8.0, 30.0)), float(rng.uniform(0.5, 30.0)))
        a = rng.standard_normal((int(rng.integers(1, 4)), ny, nx))
        a[:, rng.random((ny, nx)) < 0.3] = 0.0
        ky, kx = filters._gaussian_kernel(sig[0], 4.0), filters._gaussian_kernel(sig[1], 4.0)
        ry, rx = ky.size // 2, kx.size // 2
        shp = (fft.next_fast_len(ny + ry, real=True), fft.next_fast_len(nx + rx, real=True))
        ref = fft.irfft2(fft.rfft2(a, shp) * fft.rfft2(np.outer(ky, kx), shp), shp)[..., ry: ry + ny, rx: rx + nx]
        for _ in range(2):  # the second call uses the kept kernel transform
            np.testing.assert_array_equal(filters._gaussian_zero_padded(a, sig, 4.0), ref)


@pytest.mark.parametrize(("shape", "sig"), [((1000, 37), (8.0, 200.0)), ((64, 900), (256.0, 9.0)),
                                            ((300, 300), (40.0, 40.0))])
def test_fft_gaussian_padding_has_no_wrap_around(shape: tuple[int, int], sig: tuple[float, float]) -> None:
    """A transform of the image plus one kernel radius (not two) already keeps the wrapped-around tail of the
    circular convolution out of the rows and columns kept: the FFT path equals the direct zero-padded
    convolution to round-off, even where the kernel is longer than the image (a width of 256 px on 37 px)."""
    from scipy import ndimage

    from kansho import filters

    a = np.random.default_rng(3).standard_normal((2, *shape))
    ref = np.stack([ndimage.gaussian_filter(x, sig, mode="constant", cval=0.0, truncate=4.0) for x in a])
    np.testing.assert_allclose(filters._gaussian_zero_padded(a, sig, 4.0), ref, rtol=0,
                               atol=1e-13 * float(np.abs(ref).max()))


@settings(max_examples=40, deadline=None)
@given(ny=st.integers(1, 40), nx=st.integers(1, 40), sy=st.floats(0.0, 6.0), sx=st.floats(0.0, 6.0),
       seed=st.integers(0, 2**16), holes=st.floats(0.0, 0.5))
def test_compiled_gaussian_is_scipys_to_the_bit(ny: int, nx: int, sy: float, sx: float, seed: int,
                                                 holes: float) -> None:
    """The compiled narrow Gaussian (used from :data:`kansho.filters.COMPILED_MIN_PX` pixels on) gives
    :func:`scipy.ndimage.gaussian_filter`'s bits with zero padding: any shape (kernels wider than the
    image included), widths from 0 (an axis left alone) to 6 px, zeros where data are missing."""
    from kansho._filter_jit import gaussian2d
    from kansho.filters import ndimage_weights

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((ny, nx)) * 10.0 ** rng.uniform(-3, 3)
    x[rng.random((ny, nx)) < holes] = 0.0
    ref = ndimage.gaussian_filter(x, (sy, sx), mode="constant", cval=0.0, truncate=4.0)
    np.testing.assert_array_equal(gaussian2d(x, ndimage_weights(sy, 4.0), ndimage_weights(sx, 4.0)), ref)


def test_narrow_gaussian_of_a_large_frame_takes_the_compiled_path_with_scipys_bits() -> None:
    """From :data:`COMPILED_MIN_PX` pixels the stack's narrow Gaussian is the compiled one, with the same bits."""
    from kansho import filters

    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 520, 510))
    assert x.shape[1] * x.shape[2] >= filters.COMPILED_MIN_PX
    got = filters._gaussian_zero_padded(x, (2.5, 1.2), 4.0)
    for k in range(2):
        np.testing.assert_array_equal(got[k], ndimage.gaussian_filter(x[k], (2.5, 1.2), mode="constant", cval=0.0,
                                                                      truncate=4.0))
