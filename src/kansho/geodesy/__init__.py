"""Geodetic applications of InSAR velocities: GNSS comparison and tie, 3-D decomposition, strain rates.

* :mod:`.fit` — trajectory model of a time series (velocity, seasonal terms, offsets).
* :mod:`.compare` — LOS projection of GNSS, InSAR averaging around stations, velocity and time-series
  differences, tie of InSAR to GNSS (offset and ramp).
* :mod:`.decompose` — east/up (and north) velocities from two or more LOS tracks.
* :mod:`.strain` — horizontal velocity-gradient and strain-rate tensors.
* :mod:`.plate` — ITRF plate motion models and the LOS velocity of a rigid plate rotation
  (``kansho plate``, orchestrated in :mod:`.plate_runs`).
* :mod:`.epoch_ramp` — per-epoch ramps of a time series fitted to InSAR − GNSS differences
  (``kansho gnss-ramp``, orchestrated in :mod:`.epoch_ramp_runs`).

Numerics here are plain functions on arrays; file handling lives in :mod:`kansho.io.gnss` and the
``kansho gnss`` / ``decompose`` / ``strain`` commands.
"""
