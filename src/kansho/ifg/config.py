"""Validated options of the interferometry chain (``kansho ifg``), one pydantic model per step.

Every model forbids unknown keys and documents each field; :func:`load_ifg_config` reads a YAML
file into :class:`IfgConfig` and turns validation failures into a one-line
:class:`~kansho.errors.ConfigError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from kansho.errors import ConfigError

__all__ = [
    "FilterConfig",
    "FormConfig",
    "GeocodeConfig",
    "IfgConfig",
    "IonoConfig",
    "NetworkConfig",
    "TroposphereConfig",
    "UnwrapConfig",
    "load_ifg_config",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class NetworkConfig(_Model):
    """Which pairs to form from the stack's dates."""

    method: Literal["baselines", "coherence", "all"] = Field(
        "baselines",
        description="'baselines': temporal and perpendicular baseline limits; 'coherence': predicted coherence "
        "(kansho.planning) above min_coherence; 'all': every pair",
    )
    max_dt_days: float = Field(60.0, gt=0, le=3650, description="longest temporal baseline of a pair (days)")
    max_bperp_m: float = Field(200.0, gt=0, le=20000, description="largest |perpendicular baseline| of a pair (m)")
    connect_neighbours: bool = Field(
        True, description="always add consecutive-date pairs, so the network stays connected whatever the limits"
    )
    min_coherence: float = Field(0.3, ge=0, le=1, description="'coherence' method: keep pairs predicted above this")
    sensor: str = Field(
        "sentinel1_iw", description="'coherence' method: sensor preset of kansho.planning (sentinel1_iw, alos2, ...)"
    )
    landcover: str = Field(
        "default",
        description="'coherence' method: land-cover preset of kansho.planning (default, urban, forest, ...)",
    )


class FormConfig(_Model):
    """Interferogram formation: reference phase, multilooking, coherence."""

    range_looks: int = Field(9, ge=1, le=200, description="looks (pixels averaged) in range, i.e. along columns")
    azimuth_looks: int = Field(3, ge=1, le=200, description="looks in azimuth, i.e. along rows")
    flat_earth: Literal["auto", "remove", "keep"] = Field(
        "auto",
        description="flat-earth phase: 'auto' removes it unless the stack's reader says the SLCs were already "
        "flattened (SNAP coregistered stacks)",
    )
    topography: Literal["auto", "remove", "keep"] = Field(
        "auto",
        description="topographic phase from the DEM height and the baseline: 'auto' removes it when a DEM is known",

    )


class FilterConfig(_Model):
    """Goldstein-Werner adaptive filter applied before unwrapping (not to the coherence)."""

    enabled: bool = Field(True, description="filter the multilooked interferogram before unwrapping")
    alpha: float = Field(0.5, ge=0, le=1, description="filter exponent: 0 = no filtering, 1 = strongest")
    window: int = Field(32, ge=8, le=256, description="FFT patch size (pixels, even)")
    step: int = Field(8, ge=2, le=128, description="patch step (pixels); window/step patches overlap a pixel")
    smooth: int = Field(3, ge=1, le=15, description="boxcar size smoothing the patch spectrum before weighting")


class TroposphereConfig(_Model):
    """Tropospheric correction of the unwrapped phase."""

    method: Literal["none", "height", "gacos"] = Field(
        "none", description="'height': remove a height-correlated phase per pair; 'gacos': GACOS maps (needs gacos_dir)"
    )
    gacos_dir: str | None = Field(
        None,
        description="method 'gacos': folder of per-date delays (GACOS yyyymmdd.ztd + .ztd.rsc, yyyymmdd.ztd.tif, "
        "or LiCSAR yyyymmdd.sltd.geo.tif), subtracted from each geocoded unwrapped pair",
    )
    gacos_missing: Literal["drop", "keep"] = Field(
        "drop",
        description="method 'gacos': a pair with no delay file for one of its dates is dropped (not formed, listed "
        "in GEOC/.ifg/gacos_dropped.txt, as LiCSBAS) or kept uncorrected (listed in gacos_stats.txt)",
    )
    min_coherence: float = Field(0.4, ge=0, le=1, description="pixels used to estimate the height relation")


class IonoConfig(_Model):
    """Ionospheric correction by range split-spectrum (Gomba et al. 2016; :mod:`kansho.ifg.iono`)."""

    method: Literal["auto", "off", "split-spectrum"] = Field(
        "auto",
        description="'split-spectrum': estimate the dispersive phase of each pair from two range sub-bands, remove "
        "it from the unwrapped phase and write it as yyyymmdd_yyyymmdd.geo.iono.tif; 'auto': split-spectrum for "
        "L-band stacks (wavelength > 15 cm), off for C- and X-band (where the ionosphere is 4-5x weaker and the "
        "estimate's noise would dominate)",
    )
    range_bandwidth_hz: float | None = Field(
        None, gt=0,
        description="range (chirp) bandwidth of the SLCs in Hz (ALOS-2 strip-map: 84e6, 42e6 or 28e6); empty: "
        "the -10 dB width of the first SLC's range spectrum",
    )
    subband_centre: float = Field(
        1 / 3, gt=0, lt=0.5,
        description="offset of each sub-band's centre from the carrier, fraction of the bandwidth (+-B/3: the edges)",
    )
    subband_width: float = Field(
        1 / 3, gt=0, le=1, description="width of each sub-band, fraction of the bandwidth (centre + width/2 <= 0.5)"
    )
    filter_sigma_m: float = Field(
        2000.0, gt=0, le=1e6,
        description="std of the Gaussian smoothing the dispersive estimate (m on the ground); it is ~50x noisier "
        "than the full band, and the ionosphere is smooth over kilometres",
    )
    outlier_nsigma: float = Field(
        4.0, gt=0, le=100, description="estimates farther than this many robust stds from a running median are masked"
    )
    min_coherence: float = Field(0.2, ge=0, le=1, description="sub-band coherence below which no estimate is made")
    keep: Literal["auto", "always"] = Field(
        "auto",
        description="'auto': remove a pair's dispersive screen only where it lowers the error it leaves, i.e. its "
        "variance exceeds twice its own estimation noise (measured from the data) and what that noise reaches by "
        "chance in 5 % of pairs; declined pairs are written "
        "uncorrected and listed in .ifg/iono_stats.txt; 'always': remove it from every pair",
    )

    @model_validator(mode="after")
    def _bands_fit(self) -> IonoConfig:
        if self.subband_centre + self.subband_width / 2 > 0.5 + 1e-9:
            raise ValueError(f"sub-bands at +-{self.subband_centre:g} B of width {self.subband_width:g} B extend "
                             "beyond the band (need subband_centre + subband_width/2 <= 0.5)")
        return self


class UnwrapConfig(_Model):
    """Phase unwrapping with SNAPHU (Chen & Zebker 2001) through the ``snaphu`` package."""

    cost: Literal["smooth", "defo"] = Field("smooth", description="SNAPHU statistical cost mode")
    init: Literal["mcf", "mst"] = Field("mcf", description="SNAPHU initialisation")
    min_coherence: float = Field(
        0.2, ge=0, le=1, description="pixels whose coherence is below this are masked (not unwrapped, no data)"
    )
    tile_size: int = Field(
        1000, ge=64, le=100000, description="tiles of at most this many pixels a side for big interferograms"
    )
    tile_overlap: int = Field(64, ge=0, le=2000, description="overlap between SNAPHU tiles (pixels)")
    nproc: int = Field(1, ge=1, le=256, description="SNAPHU processes for tiled unwrapping")
    min_conncomp_frac: float = Field(0.01, gt=0, le=1, description="smallest connected component (fraction of a tile)")
    keep_unconnected: bool = Field(
        False, description="keep pixels SNAPHU puts in no connected component (label 0); default: no data"
    )


class GeocodeConfig(_Model):
    """Radar → regular lat/lon (EPSG:4326) grid."""

    posting_deg: float = Field(0.001, gt=0, le=1, description="latitude posting of the output grid (degrees)")
    posting_lon_deg: float | None = Field(None, gt=0, le=1, description="longitude posting; empty = posting_deg")
    method: Literal["nearest", "linear"] = Field(
        "nearest", description="resampling of radar values at each output cell: nearest or bilinear"
    )


class IfgConfig(_Model):
    """All options of ``kansho ifg``."""

    format: Literal["auto", "snap_zarr", "gamma", "envi", "geotiff"] = Field(
        "auto", description="SLC stack format; 'auto' recognises it from the folder's files"
    )
    frame: str = Field("kansho", description="frame name used for the E/N/U/hgt file names")
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    form: FormConfig = Field(default_factory=FormConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    troposphere: TroposphereConfig = Field(default_factory=TroposphereConfig)
    iono: IonoConfig = Field(default_factory=IonoConfig)
    unwrap: UnwrapConfig = Field(default_factory=UnwrapConfig)
    geocode: GeocodeConfig = Field(default_factory=GeocodeConfig)


def load_ifg_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> IfgConfig:
    """Read ``path`` (YAML; ``None`` = defaults), apply dotted ``overrides`` (``{"form.range_looks": 5}``)."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            loaded = yaml.safe_load(p.read_text())
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read config ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{p}: expected a mapping of options at the top level")
        data = loaded or {}
    for key, value in (overrides or {}).items():
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    try:
        return IfgConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}option {loc}: {err['msg']}") from None
