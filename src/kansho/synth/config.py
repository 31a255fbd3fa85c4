"""Options of the frame simulator (:class:`SimConfig`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kansho._dates import parse_date

S1_WAVELENGTH_M = 0.05546576
"""Sentinel-1 C-band radar wavelength (m): c / 5.405 GHz."""


class SimConfig(BaseModel):
    """Everything that defines a simulated LiCSAR frame; the defaults make the ``kansho demo`` frame.

    Lengths of features (subsidence bowl, uplift source, fault) scale with the frame size and
    are clipped to physically plausible ranges; amplitudes are physical (mm, mm/yr, m).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- grid -----------------------------------------------------------------------------------
    shape: tuple[int, int] = Field(default=(200, 200), description="(rows, cols) of the frame grid")
    posting_deg: float = Field(default=0.001, gt=0, le=0.1, description="pixel size in degrees (~100 m = 0.001)")
    lon0: float = Field(default=139.0, ge=-180, le=360, description="longitude of the grid's top-left corner (deg)")
    lat0: float = Field(default=36.0, ge=-85, le=85, description="latitude of the grid's top-left corner (deg)")
    frame: str = Field(
        default="999D_00001_010203",
        pattern=r"^\d{3}[AD]_\d{5}_\d{6}$",
        description="LiCSAR frame id; its 4th character (A/D) sets the orbit direction",
    )
    # --- acquisitions and network ---------------------------------------------------------------
    start_date: int = Field(default=20180105, description="first acquisition (yyyymmdd)")
    n_epoch: int = Field(default=40, ge=4, le=2000, description="number of acquisitions kept")
    interval_days: int = Field(
        default=12, ge=1, le=60, description="revisit cadence (12 d: one Sentinel-1; 6 d: two)"
    )
    n_missing: int = Field(default=3, ge=0, description="isolated acquisitions skipped (missing scenes)")
    pairs_per_epoch: int = Field(default=4, ge=1, le=20, description="each epoch is paired with its next 1..k epochs")
    n_long_pairs: int = Field(
        default=4, ge=0, description="extra long pairs (~3, 6, 12 months) inside each network part"
    )
    n_dropped_pairs: int = Field(
        default=2, ge=0, description="pairs removed at random (failed processing), never a bridge"
    )
    gap: bool = Field(default=True, description="split the network in two parts with a temporal gap no pair spans")
    gap_position: float = Field(
        default=0.5, gt=0, lt=1, description="fraction of the epochs acquired before the gap"
    )
    gap_days: int = Field(
        default=96, ge=1, le=3650, description="length of the acquisition gap (days), added to the cadence"
    )
    # --- sensor ---------------------------------------------------------------------------------
    wavelength: float = Field(default=S1_WAVELENGTH_M, gt=0, le=1, description="radar wavelength (m)")
    incidence_center_deg: float = Field(
        default=39.0, ge=20, le=50, description="incidence angle at the frame centre (deg)"
    )
    bperp_tube_m: float = Field(
        default=150.0, ge=0, le=3000, description="half width of the orbital tube (m); |B⊥| ≤ this"
    )
    range_bandwidth_hz: float = Field(
        default=48.3e6, gt=0, description="range bandwidth (Hz), sets the critical baseline"
    )
    looks: int = Field(default=80, ge=1, le=10000, description="looks of the phase (LiCSAR: 20 x 4 multilook)")
    filter_px: float = Field(
        default=1.0, ge=0, le=20, description="σ (px) of the low-pass standing in for multilook + Goldstein filter"
    )
    coh_looks: int = Field(
        default=300, ge=2, le=100000, description="looks of the coherence estimator (sets its bias)"
    )
    coh_threshold: float = Field(
        default=0.12, ge=0, lt=1, description="unw is no data where the pair's true coherence is lower"
    )
    # --- deformation truth (LOS positive toward the satellite) -----------------------------------
    subsidence_rate: float = Field(
        default=-60.0, ge=-1000, le=1000, description="vertical rate at the bowl centre (mm/yr)"
    )
    uplift_rate: float = Field(
        default=15.0, ge=-1000, le=1000, description="vertical rate above the inflating source (mm/yr)"
    )
    seasonal_amp: float = Field(
        default=10.0, ge=0, le=500, description="vertical amplitude of the annual signal (mm)"
    )
    seasonal_rate: float = Field(
        default=-5.0, ge=-1000, le=1000, description="linear rate of the seasonal area (mm/yr)"
    )
    earthquake: bool = Field(default=False, description="add a coseismic step in the second part of the network")
    eq_offset: float = Field(
        default=30.0, ge=-1000, le=1000, description="coseismic LOS offset next to the fault (mm)"
    )
    # --- topography and land --------------------------------------------------------------------
    max_elevation: float = Field(
        default=2000.0, ge=0, le=9000, description="highest DEM point (m) for a frame ≥ 20 km"
    )
    water_fraction: float = Field(
        default=0.08, ge=0, le=0.5, description="fraction of the frame under water (sea + lake)"
    )
    dem_error_m: float = Field(
        default=3.0, ge=0, le=100, description="std of the DEM error (m), seen as B⊥-dependent phase"
    )
    snow: bool = Field(default=True, description="winter snow above a snow line decorrelates pairs with snowy epochs")
    # --- atmosphere -----------------------------------------------------------------------------
    atm_turb_mm: float = Field(
        default=6.0, ge=0, le=200, description="std of one epoch's turbulent delay over a 20 km area (mm)"
    )
    atm_beta: float = Field(
        default=8.0 / 3.0, gt=2, lt=5, description="2-D spectral exponent of the turbulence (Hanssen 2001)"
    )
    atm_strat_seasonal: float = Field(
        default=4.0, ge=0, le=200, description="annual amplitude of the delay–height gradient (mm/km)"
    )
    atm_strat_std: float = Field(
        default=2.5, ge=0, le=200, description="random part of the delay–height gradient (mm/km)"
    )
    ramp_mm_per_100km: float = Field(
        default=5.0, ge=0, le=1000, description="std of the per-epoch long-wavelength ramp (mm/100 km)"
    )
    # --- products -------------------------------------------------------------------------------
    n_unw_errors: int = Field(default=3, ge=0, description="pairs with an unwrapping error (a region off by 2πk)")
    local_unw_errors: float = Field(
        default=1.0, ge=0, le=100, description="mean number of small 2π patches per 100 km² of low coherence"
    )
    paired_unw_errors: int = Field(
        default=0, ge=0, le=50,
        description="sets of two pairs sharing their first epoch with the same error (region and k): "
        "the loop they form with the pair between their second epochs closes",
    )
    small_err_pairs: int = Field(
        default=0, ge=0, le=200, description="pairs given a cluster of small ±2π patches anywhere they are valid"
    )
    small_err_patches: int = Field(
        default=6, ge=1, le=200, description="small patches in each of the small_err_pairs pairs"
    )
    random_phase_offset: bool = Field(
        default=True, description="add a random 2πn (|n| ≤ 2) to each whole interferogram"
    )
    seed: int = Field(default=0, ge=0, description="seed of every random draw (overridden by simulate_frame's rng)")

    @field_validator("shape")
    @classmethod
    def _shape(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] < 16 or v[1] < 16:
            raise ValueError("shape must be at least (16, 16)")
        if v[0] * v[1] > 400_000_000:
            raise ValueError("shape too large")
        return v

    @field_validator("start_date")
    @classmethod
    def _date(cls, v: int) -> int:
        parse_date(v)
        return v

    @model_validator(mode="after")
    def _network(self) -> SimConfig:
        if self.gap:
            n0 = round(self.gap_position * self.n_epoch)
            if n0 < 2 or self.n_epoch - n0 < 2:
                raise ValueError("a gapped network needs at least two epochs each side of the gap")
        return self

    @property
    def orbit(self) -> str:
        """``"A"`` (ascending) or ``"D"`` (descending), from the frame id."""
        return self.frame[3]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
