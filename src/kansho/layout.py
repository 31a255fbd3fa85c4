"""The run folder's layout, defined once: every path under ``OUT/`` and the result maps' contract.

DESIGN §4 fixes the names (LiCSBAS's). Everything that writes a run (:mod:`kansho.chain`) or reads
one (:mod:`kansho.run` and through it the viewer, exports, geodesy, batch and mosaics) takes its
paths from :class:`RunLayout`, so a file name is spelled in one place::

    OUT/
      results/<map>.tif      single-band GeoTIFFs (RESULT_MAPS, MASKED_MAPS, hgt)
      cum.h5, cum_filt.h5    LiCSBAS-compatible cubes
      info/                  tables a user reads to trust a run (INFO_FILES)
      plots/*.png, report.html
      stack.zarr             the stack store (kansho.store)
      work/ts.zarr           the chain's work arrays
      work/state.json        each step's record: skip key, typed result, seconds
      work/tasks/            finished-task records of an interrupted step (block-level resume)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STACK_NAME = "stack.zarr"
CUM_NAME = "cum.h5"
CUM_FILT_NAME = "cum_filt.h5"
REPORT_NAME = "report.html"
WORK_STORE_NAME = "ts.zarr"


@dataclass(frozen=True)
class ResultMap:
    """One ``results/<name>.tif``: the work array it is written from, its units and description."""

    source: str
    units: str
    description: str


#: results/<name>.tif written from the work store, in this order
RESULT_MAPS: dict[str, ResultMap] = {
    "vel": ResultMap("vel", "mm/yr", "LOS velocity, positive toward the satellite"),
    "vintercept": ResultMap("vintercept", "mm", "intercept of the linear fit"),
    "vstd": ResultMap("vstd", "mm/yr", "bootstrap standard deviation of the velocity"),
    "coh_avg": ResultMap("coh_avg", "1", "mean coherence of the pairs used"),
    "n_unw": ResultMap("n_unw", "count", "number of valid unwrapped pairs used"),
    "n_loop_err": ResultMap("n_loop_err", "count", "number of loops with an unwrapping error"),
    "n_gap": ResultMap("n_gap", "count", "number of gaps in the network"),
    "n_ifg_noloop": ResultMap("n_ifg_noloop", "count", "number of pairs in no closed loop"),
    "resid_rms": ResultMap("resid_rms", "mm", "RMS of the inversion residuals"),
    "stc": ResultMap("stc", "mm", "spatio-temporal consistency"),
    "maxTlen": ResultMap("maxTlen", "yr", "longest connected time span of the network"),
    "mask": ResultMap("mask", "1", "1 = kept by the noisy-pixel mask"),
    "vel.filt": ResultMap("vel_filt", "mm/yr", "velocity after the spatio-temporal filter"),
    "loop_ph_rms": ResultMap("loop_rms", "rad", "RMS of loop phases at the pixel"),
    "refmask": ResultMap("refmask", "1", "1 = pixel of the reference (its mean is zero in every epoch)"),
    "n_corrected": ResultMap("n_corrected", "count", "number of pairs corrected for an unwrapping error (1-2)"),
    "n_resid_fix": ResultMap("n_resid_fix", "count",
                             "number of pairs corrected or nulled by the residual check after the inversion (1-3)"),
    "n_unchecked": ResultMap("n_unchecked", "count", "number of used pairs on no closed loop (unverifiable)"),
    "ph_bias": ResultMap("ph_bias", "rad", "phase-bias indicator: mean |misclosure| of the loops of the shortest "
                         "pairs (before any phase-bias correction)"),
    "ph_bias_rate": ResultMap("ph_bias_rate", "rad/yr", "phase-bias rate removed by invert.phase_bias correct "
                              "(kansho.phasebias; 0 where none or declined; NaN when the option is off)"),
}
#: results/<name>.mskd.tif: these maps where the mask keeps the pixel, NaN elsewhere
MASKED_MAPS = ("vel", "vel.filt")
#: units of every map a run may hold (for readers of maps that carry none)
MAP_UNITS: dict[str, str] = {
    **{k: m.units for k, m in RESULT_MAPS.items()},
    **{f"{k}.mskd": RESULT_MAPS[k].units for k in MASKED_MAPS},
    "hgt": "m",
}

#: info/ tables (DESIGN §4), by what they hold
INFO_FILES = {
    "corrections": "03corrections.txt",
    "ifg_stats": "11ifg_stats.txt", "bad_ifg_qc": "11bad_ifg.txt", "coh_model": "11coh_model.txt",
    "loop_stats": "12loop_stats.txt", "bad_ifg_loops": "12bad_ifg.txt", "no_loop_ifg": "12no_loop_ifg.txt",
    "corrected_pairs": "12corrected_pairs.txt", "resid_corrected": "13corrected_pairs.txt",
    "ref": "12ref.txt", "dropped": "dropped_pairs.csv", "network_gaps": "13network_gaps.txt",
    "epoch_noise": "13epoch_noise.txt",
    "mask_stats": "15mask_stats.txt", "filter": "16filter.txt", "parameters": "parameters.yaml",
    "timings": "timings.txt",
}


@dataclass(frozen=True)
class RunLayout:
    """Paths of one run folder ``root`` (nothing is read or created here)."""

    root: Path

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def info(self) -> Path:
        return self.root / "info"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def cum(self) -> Path:
        return self.root / CUM_NAME

    @property
    def cum_filt(self) -> Path:
        return self.root / CUM_FILT_NAME

    @property
    def report(self) -> Path:
        return self.root / REPORT_NAME

    @property
    def stack(self) -> Path:
        return self.root / STACK_NAME

    @property
    def work_store(self) -> Path:
        return self.work / WORK_STORE_NAME

    @property
    def state(self) -> Path:
        return self.work / "state.json"

    @property
    def tasks(self) -> Path:
        return self.work / "tasks"

    def result_map(self, name: str) -> Path:
        """``results/<name>.tif``."""
        return self.results / f"{name}.tif"

    def info_file(self, key: str) -> Path:
        """``info/<file>`` of an :data:`INFO_FILES` key."""
        return self.info / INFO_FILES[key]

    def plot(self, name: str) -> Path:
        """``plots/<name>`` (give the extension)."""
        return self.plots / name
