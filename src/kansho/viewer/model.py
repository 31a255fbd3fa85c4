"""The model drawn over a clicked pixel's time series: linear rate plus annual sinusoid."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from kansho.velocity import fit_linear, fit_seasonal

__all__ = ["pixel_model"]


def pixel_model(t: npt.ArrayLike, cum: npt.ArrayLike, vstd: float | None, t_eval: npt.ArrayLike) -> dict[str, Any]:
    """Fit ``cum(t) = v·t + c + A·cos(2πt − φ)`` to one pixel and evaluate it with a 1-σ band.

    The fit is :func:`kansho.velocity.fit_seasonal` (least squares, NaN epochs ignored); with
    fewer than four valid epochs, or epochs that cannot separate the annual term, it falls back to
    the straight line of :func:`kansho.velocity.fit_linear` (``A = 0``). The band is the
    velocity uncertainty propagated to displacement about the mean valid time ``t̄``:
    ``σ(t) = vstd · |t − t̄|`` (mm), ``vstd`` being the bootstrap velocity standard deviation of
    step 1-4 (Morishita et al. 2020); it is omitted when ``vstd`` is unknown.

    Parameters
    ----------
    t:
        ``(n_epoch,)`` years from the first epoch.
    cum:
        ``(n_epoch,)`` displacement, mm (NaN = no data).
    vstd:
        Velocity standard deviation at the pixel, mm/yr, or ``None``.
    t_eval:
        ``(m,)`` years at which to evaluate the model.

    Returns
    -------
    dict with ``kind`` ("seasonal" | "linear" | "none"), ``vel`` (mm/yr), ``intercept`` (mm),
    ``annual_amp`` (mm), ``annual_phase`` (rad), ``t`` / ``model`` / ``sigma`` lists over ``t_eval``
    (``sigma`` ``None`` without ``vstd``), ``at_epochs`` (model at ``t``).
    """
    tt = np.asarray(t, np.float64)
    y = np.asarray(cum, np.float64)
    te = np.asarray(t_eval, np.float64)
    fin = np.isfinite(y)
    s = fit_seasonal(y[:, None], tt)
    kind = "seasonal"
    vel, icpt = float(s["vel"][0]), float(s["intercept"][0])
    amp, ph = float(s["annual_amp"][0]), float(s["annual_phase"][0])
    if not np.isfinite(vel):
        kind = "linear"
        v, c = fit_linear(y[:, None], tt)
        vel, icpt, amp, ph = float(v[0]), float(c[0]), 0.0, 0.0
    if not np.isfinite(vel):
        return {"kind": "none", "vel": None, "intercept": None, "annual_amp": None, "annual_phase": None,
                "t": te.tolist(), "model": None, "sigma": None, "at_epochs": None}

    def f(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return vel * x + icpt + amp * np.cos(2 * np.pi * x - ph)

    tbar = float(tt[fin].mean())
    sigma = None if vstd is None or not np.isfinite(vstd) else (float(vstd) * np.abs(te - tbar)).tolist()
    return {"kind": kind, "vel": vel, "intercept": icpt, "annual_amp": amp, "annual_phase": ph,
            "t": te.tolist(), "model": f(te).tolist(), "sigma": sigma, "at_epochs": f(tt).tolist()}
