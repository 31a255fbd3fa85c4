"""Physically based simulator of LiCSAR frames with known truth.

:func:`simulate_frame` writes a Sentinel-1 frame in the LiCSAR GEOC layout (unwrapped phase and
coherence per pair, E/N/U, hgt, ``baselines``, ``metadata.txt``) together with ``truth.npz``,
and returns the :class:`Truth`. What goes in: Mogi-type subsidence and uplift, a seasonal aquifer,
an optional coseismic step (:mod:`.deformation`); power-law turbulent, stratified and ramp
atmosphere (:mod:`.atmosphere`); land-cover, baseline and weather decorrelation with Cramér–Rao
phase noise (:mod:`.coherence`); a LiCSAR-like network with a gap (:mod:`.network`); DEM errors;
unwrapping errors of 2πk (:mod:`.unwrap_errors`).

Example::

    from kansho.synth import SimConfig, simulate_frame, load_truth
    truth = simulate_frame("sim", SimConfig(shape=(100, 100), n_epoch=20), rng=1)
    truth = load_truth("sim/truth.npz")
"""

from kansho.synth.config import S1_WAVELENGTH_M, SimConfig
from kansho.synth.frame import simulate_frame
from kansho.synth.truth import Truth, load_truth

__all__ = ["S1_WAVELENGTH_M", "SimConfig", "Truth", "load_truth", "simulate_frame"]
