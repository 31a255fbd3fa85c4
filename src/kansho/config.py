"""Validated options for every step of the time-series chain, and their YAML template.

One pydantic model per step (``extra="forbid"``, every field with a description and a range);
:class:`RunConfig` gathers them. Thresholds default to LiCSBAS's published values (Morishita et al.
2020) for C-band; :func:`apply_band_defaults` switches the thresholds that differ to the L-band values
unless the user set them. The methods default to Kansho's own (per-pixel unwrapping correction, a
stable-set reference, coherence weights, the gap bridge's model chosen by the data, adaptive masks and
filter); :data:`PRESETS` ``licsbas`` gives LiCSBAS's choices instead. :func:`yaml_template` writes
the commented YAML that ``kansho config`` prints and ``--config`` reads.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from kansho._dates import parse_date
from kansho.errors import ConfigError


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class IngestConfig(_Step):
    """Step 0-2: read the input folder into the stack store."""

    nlook: int = Field(1, ge=1, le=100, description="multilook factor (n x n pixels averaged); 1 = full resolution")
    min_valid_looks: float = Field(
        0.5, ge=0.0, le=1.0, description="a multilooked pixel with a smaller fraction of valid looks becomes no data"
    )
    gacos: str | None = Field(
        None,
        description="folder of GACOS delays (yyyymmdd.ztd + .ztd.rsc, yyyymmdd.ztd.tif, or LiCSAR "
        "yyyymmdd.sltd.geo.tif) "
        "to subtract from every pair (Step 0-3); empty = no correction",
    )
    gacos_missing: Literal["drop", "keep"] = Field(
        "drop",
        description="a pair whose GACOS delay is missing for a date: drop it (as LiCSBAS) or keep it uncorrected"
    )
    layers: str | None = Field(
        None,
        description="per-epoch LOS delay layers removed at Step 0-3, comma-separated, applied in the order "
        "tide, iono, gacos, icams, user whatever the order given: tide (TIDE/<date>.tide.geo.tif; with no TIDE/ "
        "folder Kansho computes it, IERS 2010, from the metadata's center_time and the LOS), iono "
        "(IONO/<date>.geo.iono.code.tif), gacos (GACOS/, or the ingest.gacos folder), icams "
        "(ICAMS/<date>.icams.sltd.geo.tif), user (ingest.user_layer); 'auto' = every portal folder found "
        "beside the input (as kansho download writes them); empty = none besides ingest.gacos",
    )
    layers_dir: str | None = Field(
        None, description="folder holding the portal layer folders GACOS/ ICAMS/ TIDE/ IONO/ (empty: the input "
        "folder's parent, where kansho download puts them, then the input folder itself)"
    )
    user_layer: str | None = Field(
        None, description="folder of your own per-epoch layer, yyyymmdd*.tif on any lon/lat grid (layer 'user')"
    )
    user_layer_unit: Literal["rad", "m_los", "m_zenith"] = Field(
        "rad", description="unit of the user layer: rad (slant delay as phase, LiCSAR sign), m_los (slant delay, "
        "m, longer path positive) or m_zenith (zenith delay, m; mapped with 1/cos(incidence))"
    )
    layers_missing: Literal["drop", "keep"] = Field(
        "drop", description="a pair whose layer (other than GACOS: see gacos_missing) is missing for a date: "
        "drop it (as LiCSBAS for GACOS) or keep it without that layer's correction"
    )
    layers_force: str | None = Field(
        "tide", description="layers kept for every pair, comma-separated, 'all', or none; the others are kept for "
        "a pair only where they lower its phase standard deviation (listed in info/03corrections.txt). Default "
        "tide: the solid-earth tide is exact physics, and a smooth ramp's std test is decided by chance "
        "correlation with the frame's other long-wavelength signals"
    )
    clip_box: str | None = Field(
        None, description="clip to pixel box 'x1:x2/y1:y2' of the input grid (columns/rows, end-exclusive) (Step 0-5)"
    )
    clip_lonlat: str | None = Field(None, description="clip to lon/lat box 'lon1/lon2/lat1/lat2' (Step 0-5)")
    clip_polygon: str | None = Field(
        None, description="GeoJSON polygon file: clip to its bounding box and blank pixels outside it (Step 0-5)"
    )
    mask_box: str | None = Field(
        None, description="blank pixel boxes 'x1:x2/y1:y2' of the input grid, several separated by spaces (Step 0-4)"
    )
    mask_lonlat: str | None = Field(
        None, description="blank lon/lat boxes 'lon1/lon2/lat1/lat2', several separated by spaces (Step 0-4)"
    )
    mask_polygon: str | None = Field(None, description="GeoJSON polygon file: blank the pixels inside it (Step 0-4)")

    @field_validator("layers", "layers_force")
    @classmethod
    def _check_layers(cls, v: str | None, info: Any) -> str | None:
        if v is None or not v.strip():
            return None
        from kansho.io.layers import parse_layer_list

        kinds = parse_layer_list(v)
        if info.field_name == "layers_force" and kinds == ["auto"]:
            raise ValueError("give layer names or 'all'")
        return v.strip()

    @field_validator("clip_box", "mask_box", "clip_lonlat", "mask_lonlat")
    @classmethod
    def _check_boxes(cls, v: str | None, info: Any) -> str | None:
        if v is None or not v.strip():
            return None
        want = "lonlat" if info.field_name.endswith("lonlat") else "pixel"
        parts = v.split()
        if info.field_name.startswith("clip") and len(parts) > 1:
            raise ValueError("give one clip box")
        for part in parts:
            kind, _ = parse_ref(part)
            if kind != want:
                what = "lon/lat box lon1/lon2/lat1/lat2" if want == "lonlat" else "pixel box x1:x2/y1:y2"
                raise ValueError(f"{part!r} is not a {what}")
        return v.strip()


class QCConfig(_Step):
    """Step 1-1: drop interferograms of poor coverage or coherence."""

    min_coverage: float = Field(0.3, ge=0.0, le=1.0, description="drop a pair whose valid-pixel ratio is below this")
    min_coh: float = Field(0.05, ge=0.0, le=1.0, description="drop a pair whose mean coherence is below this")


class LoopsConfig(_Step):
    """Step 1-2: loop closure, unwrapping-error detection and the reference area."""

    loop_rms_threshold: float = Field(
        1.5, gt=0.0, le=10.0, description="a loop is bad if the RMS of its loop phase over the frame is >= this (rad)"
    )
    pixel_loop_threshold: float = Field(
        math.pi, gt=0.0, le=20.0, description="a loop counts as an error at a pixel if |loop phase| exceeds this (rad)"
    )
    pixel_errors: Literal["correct", "null", "off"] = Field(
        "correct",
        description="unwrapping errors per pixel, found from the loop misclosures near a non-zero multiple of "
        "2 pi before bad pairs are looked for: 'correct' adds the integer cycles where the loops determine them "
        "and nulls the pixel in the pairs concerned where they do not; 'null' nulls wherever it would correct; "
        "'off' leaves the phase as it is (LiCSBAS)",
    )
    spatial_errors: Literal["correct", "off"] = Field(
        "correct",
        description="unwrapping errors seen in one interferogram alone, before the loops (when pixel_errors is "
        "not off): a region whose unwrapped phase jumps by the same whole number of cycles along its edge, "
        "smooth on both sides, is moved back by those cycles ('null' mode nulls it); the one check of a pair "
        "no loop checks. 'off' leaves it (LiCSBAS)",
    )
    noloop_max_frac: float | None = Field(
        0.1, gt=0.0, le=1.0,
        description="drop a pair in no loop whose preliminary inversion residual exceeds pi rad at more than "
        "this fraction of its pixels (an unwrapping error loop closure cannot see); empty = keep them all",
    )
    ref: str | None = Field(
        None,
        description=(
            "reference area: pixel box 'x1:x2/y1:y2' (columns/rows, end-exclusive) or lon/lat box "
            "'lon1/lon2/lat1/lat2'; empty = choose automatically (stable, coherent, gap-free)"
        ),
    )
    ref_size: int = Field(5, ge=1, le=101, description="side of the automatically chosen reference window (pixels)")
    ref_mode: Literal["auto", "window"] = Field(
        "auto",
        description="automatic reference: 'auto' = the mean of a large, spread set of stable, reliable pixels "
        "(averages the reference's atmosphere down); 'window' = one ref_size window (LiCSBAS)",
    )

    @field_validator("ref")
    @classmethod
    def _check_ref(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        parse_ref(v)
        return v


class InvertConfig(_Step):
    """Step 1-3: small-baseline inversion with the NSBAS temporal constraint."""

    gamma: float = Field(1e-4, gt=0.0, le=1e3, description="weight of the temporal-model constraint that bridges gaps")
    min_pairs_factor: float = Field(
        0.5, ge=0.0, le=20.0, description="skip pixels with fewer valid pairs than this x number of epochs (LiCSBAS: "
        "1, 0.5 at L band); the pixels between carry local gaps, bridged and left to the mask"
    )
    model: Literal["auto", "linear", "annual"] = Field(
        "auto",
        description="temporal model that bridges network gaps: linear (LiCSBAS), linear + annual, or auto (per "
        "region, the one with the smaller estimated velocity error; annual only where the data span >= 1 yr); "
        "old 'annual: true' / --annual mean annual",
    )
    step_dates: str | None = Field(
        None, description="dates of steps (e.g. earthquakes) the bridge may model, 'yyyymmdd,yyyymmdd'; empty = none"
    )
    gap_tie: Literal["stable", "off"] = Field(
        "stable", description="across a network gap, tie each pixel's later segments to the reference set's pattern "
        "(the set does not move: what its segments' offsets show there is error, predicted at every pixel by "
        "cross-validated smoothing; kansho.gaptie); 'off' = the temporal bridge alone (LiCSBAS)"
    )
    epoch_weight: Literal["noise", "off"] = Field(
        "noise", description="weight each epoch in the velocity fit and the gap bridge by the inverse of its noise "
        "variance, measured on the frame (the robust spread, IQR/1.349, of the residuals of the pixels' "
        "lines at that epoch; info/13epoch_noise.txt): an epoch of strong atmosphere counts less; "
        "'off' = equal weights (LiCSBAS)"
    )
    coh_weight: bool = Field(True, description="weight each pair by its coherence-derived phase variance "
                             "(LiCSBAS: unweighted); ignored without coherence")
    resid_check: bool = Field(True, description="after the inversion, test each pixel's residuals for pairs off by "
                              "whole cycles (data snooping): correct them, or null them where the data cannot tell "
                              "which pair is wrong (LiCSBAS: none)")
    phase_bias: Literal["off", "correct"] = Field(
        "off", description="phase bias ('fading signal') of short pairs: 'correct' fits each pixel's bias, "
        "growing with short temporal baselines and fading with long ones, to its loop misclosures and removes "
        "it from every pair before the inversion (kansho.phasebias); 'off' leaves the phase as it is (LiCSBAS)")

    @model_validator(mode="before")
    @classmethod
    def _old_annual(cls, data: Any) -> Any:
        """``annual: true`` (before ``model``) means ``model: annual``; ``annual: false`` leaves ``model`` as given."""
        if isinstance(data, dict) and "annual" in data:
            data = dict(data)
            annual = data.pop("annual")
            if annual not in (True, False, None):
                raise ValueError(f"annual must be true or false, got {annual!r}")
            if annual:
                if data.get("model", "annual") != "annual":
                    raise ValueError(f"annual: true contradicts model: {data['model']}")
                data["model"] = "annual"
        return data

    @field_validator("step_dates")
    @classmethod
    def _check_steps(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        dates = [d.strip() for d in v.split(",")]
        for d in dates:
            parse_date(d)  # ValueError "not a yyyymmdd date: ..."
        return ",".join(sorted(set(dates)))


class VstdConfig(_Step):
    """Step 1-4: bootstrap standard deviation of the velocity."""

    n_boot: int = Field(100, ge=2, le=10000, description="number of bootstrap resamples of the epochs")
    seed: int = Field(0, ge=0, description="random seed of the bootstrap (results are reproducible)")


class MaskConfig(_Step):
    """Step 1-5: mask noisy pixels. A threshold left empty disables that criterion."""

    coh_avg: float | None = Field(0.05, ge=0, le=1, description="keep coh_avg >= this (L-band 0.01)")
    n_unw_factor: float | None = Field(1.5, ge=0, description="keep n_unw >= this x number of epochs (L-band 1.0)")
    vstd: float | None = Field(100.0, ge=0, description="keep vstd <= this (mm/yr) (L-band 200)")
    maxTlen: float | None = Field(1.0, ge=0, description="keep maxTlen >= this (yr)")
    n_gap: float | None = Field(10, ge=0, description="keep n_gap <= this (L-band 1)")
    stc: float | None = Field(5.0, ge=0, description="keep stc <= this (mm) (L-band 10)")
    n_ifg_noloop: float | None = Field(50, ge=0, description="keep n_ifg_noloop <= this")
    n_unchecked: float | None = Field(0, ge=0, description="keep n_unchecked <= this: pairs at the pixel on no closed "
                                      "loop, whose unwrapping errors nothing can reveal (LiCSBAS: none)")
    n_loop_err: float | None = Field(5, ge=0, description="keep n_loop_err <= this (L-band 1)")
    resid_rms: float | None = Field(2.0, ge=0, description="keep resid_rms <= this (mm) (L-band 10)")
    ph_bias: float | None = Field(None, ge=0, description="keep ph_bias <= this (rad): mean |misclosure| of the "
                                  "loops of the shortest pairs, the phase-bias indicator; empty = off")
    adapt: Literal["auto", "licsbas", "off"] = Field(
        "auto",
        description="thresholds left at their defaults: 'auto' = relax one no pixel can meet (maxTlen to what the "
        "network allows) and scale the noise thresholds to the frame's noise; 'licsbas' = only move a threshold "
        "that alone masks every pixel (LiCSBAS); 'off' = as given. Given thresholds are always kept",
    )


class FilterConfig(_Step):
    """Step 1-6: spatio-temporal filter of residual atmosphere, optional ramp and height term."""

    method: Literal["adaptive", "gaussian"] = Field(
        "adaptive",
        description="adaptive: temporal model (rate + annual) and widths chosen by cross-validation, declined "
        "where it would not help; gaussian: LiCSBAS's fixed widths (sigma_km, sigma_yr, temporal_order)"
    )
    sigma_km: float = Field(2.0, gt=0, le=1000, description="width of the spatial Gaussian (km; method gaussian)")
    sigma_yr: float | None = Field(
        None, gt=0, le=100, description="width of the temporal Gaussian (yr); empty = 3 x the mean epoch interval "
        "(gaussian) or chosen by cross-validation (adaptive)"
    )
    deramp: Literal[0, 1, 2] = Field(0, description="remove a ramp per epoch: 0 none, 1 linear, 2 quadratic")
    hgt_corr: bool = Field(False, description="remove a height-correlated (stratified atmosphere) term per epoch")
    temporal_order: Literal[0, 1] = Field(
        0,
        description="temporal high-pass of method gaussian: 0 Gaussian after removing the linear trend, 1 local-linear "
        "(kinder to seasons)"
    )


class RunConfig(_Step):
    """All options of a ``kansho ts`` run."""

    band: Literal["C", "L"] = Field("C", description="radar band: sets the L-band defaults of thresholds not given")
    wavelength: float | None = Field(None, description="radar wavelength (m), e.g. 0.2362 (ALOS-2), over the "
                                     "input's; empty = the input's (refused if it has none, unless a Sentinel-1 "
                                     "frame); the command line also takes --freq (Hz)")
    preset: Literal["licsbas"] | None = Field(
        None, description="a named group of option values for every option of the group not given; "
        "licsbas = LiCSBAS's published choices where Kansho's defaults differ (to compare with it)")
    block_size: int = Field(256, ge=16, le=8192, description="side of the spatial blocks processed at once (pixels); "
                            "made smaller automatically when a block would not fit in --memory-limit")
    workers: int = Field(0, ge=0, le=4096, description="local dask worker processes (0 = run in this process)")
    scheduler: str | None = Field(None, description="address of an existing dask scheduler (tcp://host:8786); "
                                  "overrides workers")
    memory_limit: str | None = Field(None, description="memory for the whole run, e.g. 6GB (default: 60 percent "
                                     "of RAM, at most 8 GB or 2 GB per core if more); sets the block size and the "
                                     "workers' limits")
    gpu: bool = Field(False, description="solve the inversion on the GPU with CuPy (falls back to an error if CuPy "
                      "or a GPU is missing)")

    @field_validator("wavelength")
    @classmethod
    def _check_wavelength(cls, v: float | None) -> float | None:
        """Refuse a wavelength in centimetres (23.6), a frequency, or one outside the radar bands."""
        if v is None:
            return None
        from kansho.io.radar_meta import wavelength_problem

        problem = wavelength_problem(v)
        if problem is not None:
            raise PydanticCustomError("wavelength", f"{problem} (e.g. --wavelength 0.2362 or --freq 1.2575e9)")
        return v

    @field_validator("memory_limit")
    @classmethod
    def _check_memory_limit(cls, v: str | None) -> str | None:
        """Refuse a size that :func:`kansho.parallel.parse_memory` cannot read, before the run starts."""
        if v is None:
            return None
        from kansho.parallel import parse_memory

        try:
            size = parse_memory(v)
        except (ValueError, OverflowError):
            size = None
        # custom errors: pydantic would prefix a ValueError's message with "Value error, "
        if size is None:
            raise PydanticCustomError("memory_size", f"cannot read a memory size from {v!r} (examples: 6GB, 512MiB)")
        if size < 0:
            raise PydanticCustomError("memory_size", f"memory size {v!r} is negative (examples: 6GB, 512MiB)")
        return v
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    qc: QCConfig = Field(default_factory=QCConfig)
    loops: LoopsConfig = Field(default_factory=LoopsConfig)
    invert: InvertConfig = Field(default_factory=InvertConfig)
    vstd: VstdConfig = Field(default_factory=VstdConfig)
    mask: MaskConfig = Field(default_factory=MaskConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)


#: L-band values of thresholds that differ (LiCSBAS's published defaults).
L_BAND_DEFAULTS: dict[str, dict[str, float]] = {
    "invert": {"min_pairs_factor": 0.5},
    "mask": {
        "coh_avg": 0.01,
        "n_unw_factor": 1.0,
        "vstd": 200.0,
        "n_gap": 1,
        "stc": 10.0,
        "n_loop_err": 1,
        "resid_rms": 10.0,
    },
}


def apply_band_defaults(cfg: RunConfig) -> RunConfig:
    """Return ``cfg`` with L-band defaults for every threshold the user did not set explicitly."""
    if cfg.band != "L":
        return cfg
    out = cfg.model_copy(deep=True)
    for step, values in L_BAND_DEFAULTS.items():
        sub = getattr(out, step)
        given = getattr(cfg, step).model_fields_set
        for k, v in values.items():
            if k not in given:
                setattr(sub, k, v)
                sub.__pydantic_fields_set__.discard(k)  # a band default, not a value the user gave
    return out


#: Named groups of option values (dotted keys, as in :func:`load_config`'s overrides), applied by
#: :func:`apply_preset` to every option of the group the user did not set. ``licsbas``: LiCSBAS's
#: published choices (Morishita et al. 2020; its README and scripts' usage) where Kansho's defaults
#: differ; LiCSBAS keeps every pair in no loop (its Step 1-2 only lists them), so the residual check
#: of pairs in no loop, a Kansho addition, is off; it drops whole pairs by loop closure (no per-pixel
#: correction, no residual check after the inversion), refers everything to one window, weights every
#: pair equally, corrects no phase bias (set here too, should Kansho's default change), bridges gaps with
#: a linear model, masks nothing for pairs no loop checks, relaxes only mask thresholds no pixel meets,
#: and filters with fixed Gaussian widths. At L band a band default (:data:`L_BAND_DEFAULTS`, LiCSBAS's own
#: L-band values) wins over the preset's C-band value.
PRESETS: dict[str, dict[str, Any]] = {
    "licsbas": {
        "loops.noloop_max_frac": None,
        "loops.pixel_errors": "off",
        "loops.spatial_errors": "off",
        "loops.ref_mode": "window",
        "invert.model": "linear",
        "invert.min_pairs_factor": 1.0,
        "invert.gap_tie": "off",
        "invert.epoch_weight": "off",
        "invert.coh_weight": False,
        "invert.resid_check": False,
        "invert.phase_bias": "off",
        "mask.n_unchecked": None,
        "mask.adapt": "licsbas",
        "filter.method": "gaussian",
    },
}


def apply_preset(cfg: RunConfig, explicit: set[str] | None = None) -> RunConfig:
    """Return ``cfg`` with the values of its preset for every option not set explicitly.

    ``explicit``: dotted names the user gave (default: the fields pydantic saw set in ``cfg``).
    Raises :class:`ConfigError` if a preset names an option that does not exist.
    """
    if cfg.preset is None:
        return cfg
    out = cfg.model_copy(deep=True)
    for key, value in PRESETS[cfg.preset].items():
        section, _, name = key.rpartition(".")
        owner = getattr(cfg, section) if section else cfg
        if not isinstance(owner, BaseModel) or name not in type(owner).model_fields:
            raise ConfigError(f"preset {cfg.preset}: no option {key}")
        given = key in explicit if explicit is not None else name in owner.model_fields_set
        band_default = cfg.band == "L" and name in L_BAND_DEFAULTS.get(section, {})
        if not given and not band_default:
            setattr(getattr(out, section) if section else out, name, value)
    return out


def parse_ref(text: str) -> tuple[str, tuple[float, float, float, float]]:
    """Parse a reference-area (or clip/mask) box: :func:`kansho._lonlat.parse_box`, one syntax for the
    command line, the config file and the viewer.

    Returns ``("pixel", (x1, x2, y1, y2))`` for ``'x1:x2/y1:y2'`` (or ``px:...``) or ``("lonlat",
    (lon1, lon2, lat1, lat2))`` for ``'lon1/lon2/lat1/lat2'``, ``'lon1:lon2/lat1:lat2'`` with decimals or
    signs, hemisphere letters allowed. Raises :class:`ValueError` naming the expected forms otherwise.
    """
    from kansho._lonlat import parse_box

    return parse_box(text)


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML config (or start from defaults), apply dotted ``overrides``, validate.

    ``overrides`` maps ``"step.field"`` (or a top-level field) to a value; ``None`` values are
    ignored, so CLI options left unset keep the file's or the default value.
    Raises :class:`ConfigError` with a one-line message on any problem.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            loaded = yaml.safe_load(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{p}: config file not found") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: expected a mapping of options at the top level")
        data = loaded
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        parts = key.split(".")
        d = data
        for part in parts[:-1]:
            d = d.setdefault(part, {})
            if not isinstance(d, dict):
                raise ConfigError(f"option {key}: {part} is not a section")
        d[parts[-1]] = value
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}option {loc}: {err['msg']}") from None
    return apply_preset(apply_band_defaults(cfg))


def _yaml_value(v: Any) -> str:
    if v is None:
        return ""
    return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()


def yaml_template(cfg: RunConfig | None = None) -> str:
    """The commented YAML config: every option, its value and its description."""
    cfg = cfg or RunConfig()
    lines = ["# Kansho time-series options (kansho ts --config FILE). Empty value = disabled / automatic.", ""]
    for name, field in RunConfig.model_fields.items():
        value = getattr(cfg, name)
        if isinstance(value, BaseModel):
            doc = (type(value).__doc__ or "").strip().splitlines()[0]
            lines.append(f"# {doc}")
            lines.append(f"{name}:")
            for sub, sfield in type(value).model_fields.items():
                lines.append(f"  # {sfield.description}")
                lines.append(f"  {sub}: {_yaml_value(getattr(value, sub))}".rstrip())
            lines.append("")
        else:
            lines.append(f"# {field.description}")
            lines.append(f"{name}: {_yaml_value(value)}".rstrip())
            lines.append("")
    return "\n".join(lines) + "\n"
