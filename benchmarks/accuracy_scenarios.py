"""The simulated scenarios of the accuracy harness (``benchmarks/bench_accuracy.py``).

Each is a :class:`kansho.synth.SimConfig` (as keyword arguments) and a seed, with the radar band
the chain is told (``C`` or ``L``; everything else at Kansho's defaults: one configuration for
all). Sizes are 240 px and 45-60 epochs so that the whole set (with LiCSBAS) runs in well under
an hour on the 2 shared cores of the development machine; the issue's 200-320 px / 45-90 epochs
is the range, and ``--scale`` enlarges them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    sim: dict[str, Any]
    seed: int
    band: str = "C"
    tags: tuple[str, ...] = field(default=())

    def sim_config(self, scale: float = 1.0) -> Any:
        from kansho.synth import SimConfig

        kw = dict(self.sim)
        n = round(kw.pop("size", 240) * scale)
        return SimConfig(shape=(n, n), **kw)


#: 1.7 years at a 12-day cadence is ~52 epochs; 3 years at 24 days is ~46
SHORT = {"n_epoch": 52, "interval_days": 12}
LONG = {"n_epoch": 46, "interval_days": 24}

SCENARIOS: list[Scenario] = [
    Scenario("short_n4", "1.7 yr, 12-day cadence, 4 pairs per epoch, no gap, default atmosphere and errors",
             {**SHORT, "pairs_per_epoch": 4, "gap": False}, seed=11, tags=("short",)),
    Scenario("long_gap_n3", "3 yr, 24-day cadence, 3 pairs per epoch, a 96-day network gap",
             {**LONG, "pairs_per_epoch": 3, "gap": True}, seed=12, tags=("long", "gap")),
    Scenario("sparse_n2_gap", "1.7 yr, 2 pairs per epoch (many pairs in no loop), a network gap",
             {**SHORT, "pairs_per_epoch": 2, "gap": True, "gap_days": 72}, seed=13, tags=("short", "gap")),
    Scenario("dense_n5_seasonal", "3 yr, 5 pairs per epoch, strong seasonal signal (25 mm) and an earthquake",
             {**LONG, "pairs_per_epoch": 5, "gap": False, "seasonal_amp": 25.0, "earthquake": True},
             seed=14, tags=("long", "seasonal")),
    Scenario("snow_vegetation", "3 yr, mountains to 3500 m with winter snow, long pairs over vegetation",
             {**LONG, "pairs_per_epoch": 3, "gap": True, "snow": True, "max_elevation": 3500.0,
              "n_long_pairs": 10, "coh_threshold": 0.2}, seed=15, tags=("long", "decorrelation")),
    Scenario("lband", "L-band (23.6 cm), 3 yr at 28 days, 3 pairs per epoch, the chain told --band L",
             {"n_epoch": 45, "interval_days": 28, "pairs_per_epoch": 3, "gap": False, "wavelength": 0.236,
              "range_bandwidth_hz": 14e6, "subsidence_rate": -90.0}, seed=16, band="L", tags=("long", "L")),
    Scenario("noisy_atmosphere", "10-look noisy phase, strong turbulence (15 mm), ramps (25 mm/100 km), "
             "stratification 8 mm/km",
             {**SHORT, "pairs_per_epoch": 4, "gap": True, "looks": 10, "atm_turb_mm": 15.0,
              "ramp_mm_per_100km": 25.0, "atm_strat_seasonal": 8.0, "atm_strat_std": 5.0}, seed=17,
             tags=("short", "atmosphere")),
    Scenario("big_errors", "3 yr, 4 pairs per epoch, 10 large unwrapping errors (k = ±1, ±2)",
             {**LONG, "pairs_per_epoch": 4, "gap": True, "n_unw_errors": 10}, seed=18, tags=("long", "errors")),
    Scenario("small_errors", "1.7 yr, 4 pairs per epoch, many small ±2π patches (4 per 100 km² of low "
             "coherence, and 8 pairs with 8 patches anywhere)",
             {**SHORT, "pairs_per_epoch": 4, "gap": False, "n_unw_errors": 1, "local_unw_errors": 4.0,
              "small_err_pairs": 8, "small_err_patches": 8}, seed=19, tags=("short", "errors")),
    Scenario("paired_errors", "3 yr, 3 pairs per epoch: 3 sets of two pairs sharing their first epoch and one "
             "error (their loop closes), 4 pairs missing elsewhere",
             {**LONG, "pairs_per_epoch": 3, "gap": False, "n_unw_errors": 2, "paired_unw_errors": 3,
              "n_dropped_pairs": 4}, seed=20, tags=("long", "errors")),
]

BY_NAME = {s.name: s for s in SCENARIOS}
