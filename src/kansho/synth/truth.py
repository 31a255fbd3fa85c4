"""The known truth of a simulated frame (:class:`Truth`), saved next to it as ``truth.npz``."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kansho._types import BoolArray, Float32Array
from kansho.errors import InputError
from kansho.grid import Grid

TRUTH_FORMAT = 1


@dataclass(frozen=True, eq=False)
class Truth:
    """Everything the simulator put into a frame. Maps are (ny, nx), stacks (n_epoch, ny, nx).

    Conventions: LOS mm positive toward the satellite; time series relative to the first epoch;
    ``atmosphere`` is displacement-equivalent (= −delay), so an epoch's apparent displacement is
    ``cum[e] + atmosphere[e] + bperp[e] * topo_mm_per_m``; phase = −mm·4π/(λ·1000).

    Attributes
    ----------
    frame, seed, config:
        LiCSAR frame id, the seed actually used, and the :class:`~kansho.synth.SimConfig` as a dict.
    grid, wavelength:
        The frame's grid and radar wavelength (m).
    epochs, pairs, master, bperp:
        Dates (n_epoch,) yyyymmdd; pairs (n_pair, 2) (date1 < date2); the baseline reference
        epoch; B⊥ of each epoch relative to ``master`` (m, as in the ``baselines`` file).
    gaps:
        (n_gap, 2) dates either side of each network gap (no pair spans it); (0, 2) without gap.
    cum:
        True deformation (mm), no atmosphere, float32.
    vel, vel_fit:
        Linear-rate part of the model (mm/yr), and the least-squares slope of ``cum`` over the
        epochs (what a linear fit of a perfect time series gives; differs from ``vel`` by the
        seasonal and coseismic terms).
    seasonal_amp, seasonal_peak_doy:
        Amplitude (mm LOS) of the annual term and the day of year of its maximum.
    eq_date, eq_step:
        Coseismic step (mm) applied to epochs on or after ``eq_date`` (0 = no earthquake).
    atmosphere, strat_coef:
        Per-epoch atmosphere (mm, displacement-equivalent; mean over land removed) and its
        delay–height gradient (mm/km).
    hgt, dem_error, topo_mm_per_m, incidence:
        DEM written as hgt (m); error of that DEM (m); apparent LOS mm per metre of B⊥ that the
        DEM error causes; incidence angle (deg).
    water, landcover, landcover_names, stable:
        Water mask; land-cover codes (index into ``landcover_names``); pixels whose true
        displacement stays within 1 mm at every epoch (candidates for a reference area).
    unw_error_pairs, unw_error_k, unw_error_masks:
        Pairs with an unwrapping error (n_err, 2), their 2π multiple, and where (n_err, ny, nx):
        the written phase there is ``+2π·k`` off.
    phase_offset_cycles:
        The integer n of the 2π·n constant added to each whole interferogram (n_pair,).
    local_err_pair, local_err_pixel, local_err_k:
        Small unwrapping-error patches in low-coherence areas, one entry per affected pixel: pair
        index, flat pixel index (row·nx + col) and k (±1); the written phase there is 2π·k off.
    coverage, coh_mean:
        Per pair: fraction of all pixels with valid unwrapped phase, and the mean written
        coherence over those pixels.
    """

    frame: str
    seed: int
    config: dict[str, Any]
    grid: Grid
    wavelength: float
    epochs: npt.NDArray[np.int64]
    pairs: npt.NDArray[np.int64]
    master: int
    bperp: npt.NDArray[np.float64]
    gaps: npt.NDArray[np.int64]
    cum: Float32Array
    vel: Float32Array
    vel_fit: Float32Array
    seasonal_amp: Float32Array
    seasonal_peak_doy: float
    eq_date: int
    eq_step: Float32Array
    atmosphere: Float32Array
    strat_coef: npt.NDArray[np.float64]
    hgt: Float32Array
    dem_error: Float32Array
    topo_mm_per_m: Float32Array
    incidence: Float32Array
    water: BoolArray
    landcover: npt.NDArray[np.uint8]
    landcover_names: tuple[str, ...]
    stable: BoolArray
    unw_error_pairs: npt.NDArray[np.int64]
    unw_error_k: npt.NDArray[np.int64]
    unw_error_masks: BoolArray
    phase_offset_cycles: npt.NDArray[np.int64]
    local_err_pair: npt.NDArray[np.int64]
    local_err_pixel: npt.NDArray[np.int64]
    local_err_k: npt.NDArray[np.int8]
    coverage: Float32Array
    coh_mean: Float32Array

    # ------------------------------------------------------------------ helpers
    @property
    def n_epoch(self) -> int:
        return len(self.epochs)

    @property
    def mm_to_rad(self) -> float:
        """Multiply LOS mm by this to get LiCSAR phase (rad): −4π/(λ·1000)."""
        return -4.0 * math.pi / (self.wavelength * 1000.0)

    def epoch_index(self, date: int) -> int:
        hit = np.flatnonzero(self.epochs == int(date))
        if hit.size == 0:
            raise KeyError(f"epoch {date} not in the simulated frame")
        return int(hit[0])

    def pair_index(self, date1: int, date2: int) -> int:
        hit = np.flatnonzero((self.pairs[:, 0] == int(date1)) & (self.pairs[:, 1] == int(date2)))
        if hit.size == 0:
            raise KeyError(f"pair {date1}_{date2} not in the simulated frame")
        return int(hit[0])

    def apparent_mm(self, e: int) -> Float32Array:
        """Apparent LOS displacement of epoch index ``e``: deformation + atmosphere + DEM error term."""
        return (self.cum[e] + self.atmosphere[e] + np.float32(self.bperp[e]) * self.topo_mm_per_m).astype(np.float32)

    def ifg_mm(self, i: int) -> Float32Array:
        """True deformation of pair index ``i`` (mm): cum(date2) − cum(date1)."""
        d1, d2 = self.pairs[i]
        return (self.cum[self.epoch_index(d2)] - self.cum[self.epoch_index(d1)]).astype(np.float32)

    def model_phase(self, i: int, *, errors: bool = True, offset: bool = True) -> Float32Array:
        """Noise-free unwrapped phase (rad) of pair index ``i`` everywhere on the grid.

        −(Δdeformation + Δatmosphere + ΔB⊥·topo)·4π/(λ·1000), plus (by default) the injected
        unwrapping errors (large regions and small patches) and the 2π·n constant. The written
        phase equals this plus decorrelation noise on valid pixels.
        """
        d1, d2 = self.pairs[i]
        e1, e2 = self.epoch_index(d1), self.epoch_index(d2)
        ph = (self.apparent_mm(e2) - self.apparent_mm(e1)) * np.float32(self.mm_to_rad)
        if errors:
            for m in np.flatnonzero((self.unw_error_pairs[:, 0] == d1) & (self.unw_error_pairs[:, 1] == d2)):
                ph = ph + np.float32(2 * math.pi * self.unw_error_k[m]) * self.unw_error_masks[m]
            sel = self.local_err_pair == i
            if sel.any():
                cycles = np.zeros(ph.size, dtype=np.float32)
                np.add.at(cycles, self.local_err_pixel[sel], self.local_err_k[sel].astype(np.float32))
                ph = ph + np.float32(2 * math.pi) * cycles.reshape(ph.shape)
        if offset:
            ph = ph + np.float32(2 * math.pi * self.phase_offset_cycles[i])
        return ph.astype(np.float32)

    # ------------------------------------------------------------------ I/O
    def save(self, path: str | Path) -> Path:
        """Write as an uncompressed ``.npz`` (atomic: temporary name, then rename)."""
        path = Path(path)
        arrays: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "grid":
                arrays["grid"] = np.array(json.dumps(v.to_dict()))
            elif f.name == "config":
                arrays["config"] = np.array(json.dumps(v))
            elif f.name in ("frame",):
                arrays[f.name] = np.array(v)
            elif f.name == "landcover_names":
                arrays[f.name] = np.array(list(v))
            else:
                arrays[f.name] = np.asarray(v)
        arrays["format"] = np.array(TRUTH_FORMAT)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        return path


def load_truth(path: str | Path) -> Truth:
    """Read a ``truth.npz`` written by :func:`~kansho.synth.simulate_frame`.

    ``path`` may be the file or the simulation's output folder (which holds ``truth.npz``).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "truth.npz"
    if not path.is_file():
        raise InputError(path, "truth file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a readable truth file ({exc})") from None
    kw: dict[str, Any] = {}
    for f in fields(Truth):
        if f.name not in data:
            raise InputError(path, f"truth file lacks '{f.name}'")
        v = data[f.name]
        if f.name == "grid":
            kw["grid"] = Grid.from_dict(json.loads(str(v)))
        elif f.name == "config":
            kw["config"] = json.loads(str(v))
        elif f.name == "frame":
            kw["frame"] = str(v)
        elif f.name == "landcover_names":
            kw[f.name] = tuple(str(s) for s in v)
        elif f.name in ("seed", "master", "eq_date"):
            kw[f.name] = int(v)
        elif f.name in ("wavelength", "seasonal_peak_doy"):
            kw[f.name] = float(v)
        else:
            kw[f.name] = v
    return Truth(**kw)
