"""The model drawn over a clicked pixel's time series: the run's own.

Every Kansho run's velocity map (``results/vel.tif``) is the straight line fitted by least squares
to the pixel's whole series in ``cum.h5`` (:func:`kansho.velocity.fit_linear`); ``invert.model``
(``info/parameters.yaml``) says which temporal model bridged the network's gaps: ``linear``
(LiCSBAS), ``annual`` (linear + annual sinusoid), or ``auto`` (chosen per pixel, recorded as
``bridge_model`` in ``cum.h5``). The viewer draws that line, whose rate is the map's, and adds the
annual term only where the run used it at the pixel *and* the pixel's valid epochs span at least
:data:`MIN_ANNUAL_SPAN_YR` (an annual term fitted to less than a year of data is not supported by it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from kansho.velocity import fit_linear, fit_seasonal

__all__ = ["MIN_ANNUAL_EPOCHS", "MIN_ANNUAL_SPAN_YR", "annual_supported", "pixel_model"]

#: shortest span (yr) of valid epochs over which an annual term is fitted
MIN_ANNUAL_SPAN_YR = 1.0
#: fewest valid epochs for an annual term (four unknowns and some redundancy)
MIN_ANNUAL_EPOCHS = 6


def annual_supported(t: npt.ArrayLike, cum: npt.ArrayLike) -> bool:
    """Whether the valid epochs of a series can support an annual term: at least
    :data:`MIN_ANNUAL_EPOCHS` of them spanning at least :data:`MIN_ANNUAL_SPAN_YR`."""
    tt = np.asarray(t, np.float64)[np.isfinite(np.asarray(cum, np.float64))]
    return tt.size >= MIN_ANNUAL_EPOCHS and float(tt.max() - tt.min()) >= MIN_ANNUAL_SPAN_YR - 1e-9


def pixel_model(t: npt.ArrayLike, cum: npt.ArrayLike, vstd: float | None, t_eval: npt.ArrayLike,
                annual: bool = False, weights: npt.ArrayLike | None = None) -> dict[str, Any]:
    """The run's model of one pixel, evaluated at ``t_eval`` with a 1-σ band.

    Always the line ``cum(t) = v·t + c`` of :func:`kansho.velocity.fit_linear` with the run's epoch
    ``weights`` (None: equal; ``vel_linear``: the rate ``results/vel.tif`` holds); with ``annual``
    (the run bridged this pixel with the annual model) and :func:`annual_supported`, the drawn model
    is ``v·t + c + A·cos(2πt − φ)`` (:func:`kansho.velocity.fit_seasonal`) and ``vel`` its rate. The
    band is the velocity uncertainty propagated about the mean valid time ``t̄``:
    ``σ(t) = vstd · |t − t̄|`` (mm), ``vstd`` the bootstrap standard deviation of step 1-4; omitted
    when ``vstd`` is unknown.

    Returns
    -------
    dict with ``kind`` ("linear" | "seasonal" | "none"), ``annual_declined`` (the run used the
    annual model here but the data cannot support it), ``vel`` (mm/yr, of the drawn model),
    ``vel_linear`` (mm/yr), ``intercept`` (mm), ``annual_amp`` (mm), ``annual_phase`` (rad),
    ``t`` / ``model`` / ``sigma`` lists over ``t_eval``, ``at_epochs`` (model at ``t``).
    """
    tt = np.asarray(t, np.float64)
    y = np.asarray(cum, np.float64)
    te = np.asarray(t_eval, np.float64)
    fin = np.isfinite(y)
    v, c = fit_linear(y[:, None], tt, weights)
    vel_lin, icpt = float(v[0]), float(c[0])
    if not np.isfinite(vel_lin):
        return {"kind": "none", "annual_declined": False, "vel": None, "vel_linear": None, "intercept": None,
                "annual_amp": None, "annual_phase": None, "t": te.tolist(), "model": None, "sigma": None,
                "at_epochs": None}
    kind, vel, amp, ph = "linear", vel_lin, 0.0, 0.0
    supported = annual and annual_supported(tt, y)
    if supported:
        s = fit_seasonal(y[:, None], tt)
        if np.isfinite(s["vel"][0]):
            kind, vel, icpt = "seasonal", float(s["vel"][0]), float(s["intercept"][0])
            amp, ph = float(s["annual_amp"][0]), float(s["annual_phase"][0])

    def f(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return vel * x + icpt + amp * np.cos(2 * np.pi * x - ph)

    tbar = float(tt[fin].mean())
    sigma = None if vstd is None or not np.isfinite(vstd) else (float(vstd) * np.abs(te - tbar)).tolist()
    return {"kind": kind, "annual_declined": bool(annual and kind == "linear"), "vel": vel, "vel_linear": vel_lin,
            "intercept": icpt, "annual_amp": amp, "annual_phase": ph, "t": te.tolist(), "model": f(te).tolist(),
            "sigma": sigma, "at_epochs": f(tt).tolist()}
