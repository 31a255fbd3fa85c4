"""Sensor presets for the coherence and baseline planner, and user-defined sensors from YAML/TOML.

A :class:`Sensor` holds what the decorrelation budget needs: wavelength, range bandwidth, incidence
angle, orbit altitude, slant range, number of looks, thermal SNR and the temporal-decorrelation
parameters per land cover. Presets:

* ``jers1``, ``palsar28``, ``palsar14`` — Table 1 of seed 001 (Shimada, "ALOS の軌道間距離保持への
  要望", NASDA EORC NDX-000290): altitude, bandwidth, incidence, γ_temporal = 0.5, N = 8,
  λ = 23.5 cm, slant range r. They use the document's baseline term (``baseline_form="ground_range"``,
  see :func:`kansho.planning.model.critical_baseline`) and its constant γ_thermal·γ_temporal = 0.5
  (its eq. 10-1).
* ``sentinel1_iw`` — ESA Sentinel-1 User Guide / product specification: C band 5.405 GHz, IW2 range
  bandwidth 48.2 MHz (IW1 56.5, IW3 42.8), incidence 29.1–46.0° (39° mid-swath), altitude 693 km,
  NESZ about −22 dB (SNR ≈ 10 dB on land); N = 80 for LiCSAR's 20 × 4 multilook.
* ``alos1_fbs`` / ``alos1_fbd`` — ALOS PALSAR (JAXA): 1.270 GHz, 28 / 14 MHz, 38.7° incidence at
  34.3° off-nadir, altitude 691.65 km.
* ``alos2_sm1`` / ``alos2_sm2`` / ``alos2_sm3`` — ALOS-2 PALSAR-2 strip-map ultra-fine (3 m, 84 MHz),
  high-sensitive (6 m, 42 MHz), fine (10 m, 28 MHz); 1.2575 GHz, altitude 628 km (JAXA ALOS-2
  user handbook); 36° incidence as a typical mid-swath value.
* ``alos4_sm3m`` / ``alos4_sm6m`` / ``alos4_sm10m`` — ALOS-4 PALSAR-3 strip-map 3 / 6 / 10 m
  (84 / 42 / 28 MHz), 1.2575 GHz, altitude 628 km (JAXA ALOS-4 mission overview).
* ``nisar_l20`` / ``nisar_l40`` / ``nisar_l80`` (alias ``nisar_l``) — NISAR L-SAR (NASA/ISRO NISAR
  handbook): 1.257 GHz, 20 / 40 / 80 MHz, altitude 747 km, incidence 33–47° (40° mid-swath).

The temporal model is γ_temporal(Δt) = (γ0 − γ∞)·exp(−Δt/τ) + γ∞ (Rocca 2007, IEEE TGRS 45(10),
"Modeling interferogram stacks"; the same form is fitted globally to Sentinel-1 by Kellndorfer et al.
2022, Scientific Data 9:73, and per band by Morishita & Hanssen 2015, IEEE TGRS 53(2)). The land-cover
presets below are planning values chosen within the ranges those studies report (C band: τ of days
to weeks, γ∞ ≈ 0.1–0.3 on vegetation, higher on built-up and bare ground; L band: τ of months, and the
seed's Fig. 4: 0.45–0.55 on bare ground/towns and 0.35–0.41 on grassland after hundreds of days).
They are starting points: fit your own stack with :func:`kansho.planning.fit_temporal_model`.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kansho._constants import SPEED_OF_LIGHT
from kansho.errors import ConfigError, InputError

__all__ = [
    "EARTH_RADIUS_M",
    "SENSORS",
    "Sensor",
    "TemporalModel",
    "get_sensor",
    "load_sensors",
    "slant_range_from_geometry",
]

EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True)
class TemporalModel:
    """γ_temporal(Δt) = (gamma0 − gamma_inf)·exp(−Δt / tau_days) + gamma_inf (``tau_days`` may be inf)."""

    gamma0: float
    gamma_inf: float
    tau_days: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.gamma_inf <= self.gamma0 <= 1.0):
            raise ConfigError(f"temporal model needs 0 <= gamma_inf <= gamma0 <= 1, got {self}")
        if not self.tau_days > 0:
            raise ConfigError(f"temporal model needs tau_days > 0, got {self.tau_days}")


# C band (λ ≈ 5.5 cm): short memories over vegetation (see module docstring for sources).
C_BAND_LANDCOVER: dict[str, TemporalModel] = {
    "default": TemporalModel(0.75, 0.25, 20.0),
    "urban": TemporalModel(0.90, 0.60, 60.0),
    "bare": TemporalModel(0.90, 0.50, 40.0),
    "grassland": TemporalModel(0.70, 0.15, 15.0),
    "agriculture": TemporalModel(0.70, 0.10, 12.0),
    "forest": TemporalModel(0.50, 0.05, 6.0),
}
# L band (λ ≈ 24 cm): the wave penetrates vegetation and sees slower, larger scatterers.
L_BAND_LANDCOVER: dict[str, TemporalModel] = {
    "default": TemporalModel(0.85, 0.40, 200.0),
    "urban": TemporalModel(0.90, 0.60, 400.0),
    "bare": TemporalModel(0.90, 0.55, 300.0),
    "grassland": TemporalModel(0.80, 0.35, 90.0),
    "agriculture": TemporalModel(0.80, 0.25, 60.0),
    "forest": TemporalModel(0.70, 0.25, 60.0),
}
# Seed 001, eq. (10-1): γ_SNR·γ_temporal = 0.5 for every Δt (thermal folded in, so γ_thermal = 1).
DOCUMENT_LANDCOVER: dict[str, TemporalModel] = {"default": TemporalModel(0.5, 0.5, math.inf)}


def slant_range_from_geometry(altitude_m: float, incidence_deg: float, earth_radius_m: float = EARTH_RADIUS_M) -> float:
    """Slant range (m) from orbit altitude (m) and incidence angle (deg) on a spherical Earth.

    Law of cosines in the triangle Earth centre – target – satellite:
    r = sqrt((R+H)² − R² sin²θ_inc) − R cos θ_inc. With R = 6371 km it gives the seed's Table 1
    ranges (933 km for H = 691 km, 45°; 703 km for H = 568 km, 38°).
    """
    inc = math.radians(incidence_deg)
    rh = earth_radius_m + altitude_m
    return math.sqrt(rh**2 - (earth_radius_m * math.sin(inc)) ** 2) - earth_radius_m * math.cos(inc)


@dataclass(frozen=True)
class Sensor:
    """Parameters of one SAR mode for the decorrelation budget (SI units; angles in degrees).

    ``slant_range_m`` defaults to :func:`slant_range_from_geometry`. ``snr_db`` None means
    γ_thermal = 1. ``baseline_form`` selects the critical-baseline expression
    (:func:`kansho.planning.model.critical_baseline`). ``landcover`` maps names to
    :class:`TemporalModel`; when empty the C- or L-band presets are used by wavelength.
    """

    name: str
    wavelength_m: float
    bandwidth_hz: float
    incidence_deg: float
    altitude_m: float
    slant_range_m: float = 0.0
    looks: int = 1
    snr_db: float | None = None
    baseline_form: str = "wavenumber"
    landcover: dict[str, TemporalModel] = field(default_factory=dict)
    description: str = ""
    reference: str = ""

    def __post_init__(self) -> None:
        for key in ("wavelength_m", "bandwidth_hz", "altitude_m"):
            if not getattr(self, key) > 0:
                raise ConfigError(f"sensor {self.name!r}: {key} must be > 0, got {getattr(self, key)}")
        if not 0 < self.incidence_deg < 90:
            raise ConfigError(f"sensor {self.name!r}: incidence_deg must be in (0, 90), got {self.incidence_deg}")
        if self.looks < 1:
            raise ConfigError(f"sensor {self.name!r}: looks must be >= 1, got {self.looks}")
        if self.baseline_form not in ("wavenumber", "ground_range"):
            raise ConfigError(f"sensor {self.name!r}: baseline_form must be 'wavenumber' or 'ground_range'")
        if self.slant_range_m <= 0:
            object.__setattr__(self, "slant_range_m", slant_range_from_geometry(self.altitude_m, self.incidence_deg))

    @property
    def gamma_thermal(self) -> float:
        """γ_thermal = 1 / (1 + SNR⁻¹) (Zebker & Villasenor 1992, eq. 10); 1 without an SNR."""
        if self.snr_db is None:
            return 1.0
        return 1.0 / (1.0 + 10.0 ** (-self.snr_db / 10.0))

    @property
    def offnadir_deg(self) -> float:
        """Off-nadir (look) angle (deg) on a spherical Earth: sin θ_look = R sin θ_inc / (R + H)."""
        inc = math.radians(self.incidence_deg)
        return math.degrees(math.asin(EARTH_RADIUS_M * math.sin(inc) / (EARTH_RADIUS_M + self.altitude_m)))

    def temporal(self, landcover: str = "default") -> TemporalModel:
        """The temporal model for a land cover (the sensor's own table, else the band's presets)."""
        table = self.landcover or (C_BAND_LANDCOVER if self.wavelength_m < 0.15 else L_BAND_LANDCOVER)
        if landcover not in table:
            raise ConfigError(f"sensor {self.name!r}: unknown landcover {landcover!r} (choose from {sorted(table)})")
        return table[landcover]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["landcover"] = {k: dataclasses.asdict(v) for k, v in self.landcover.items()}
        return d


def _wl(freq_hz: float) -> float:
    return SPEED_OF_LIGHT / freq_hz


_SEED = "Shimada, seed 001 (NASDA EORC NDX-000290), Table 1"
_PRESETS: list[Sensor] = [
    Sensor("jers1", 0.235, 15e6, 38.0, 568e3, 703e3, looks=8, baseline_form="ground_range",
           landcover=DOCUMENT_LANDCOVER, description="JERS-1 SAR as in seed 001 Table 1", reference=_SEED),
    Sensor("palsar28", 0.235, 28e6, 45.0, 691e3, 933e3, looks=8, baseline_form="ground_range",
           landcover=DOCUMENT_LANDCOVER, description="ALOS PALSAR 28 MHz as in seed 001 Table 1", reference=_SEED),
    Sensor("palsar14", 0.235, 14e6, 45.0, 691e3, 933e3, looks=8, baseline_form="ground_range",
           landcover=DOCUMENT_LANDCOVER, description="ALOS PALSAR 14 MHz as in seed 001 Table 1", reference=_SEED),
    Sensor("sentinel1_iw", _wl(5.405e9), 48.2e6, 39.0, 693e3, looks=80, snr_db=10.0,
           description="Sentinel-1 IW (IW2 bandwidth, mid-swath), LiCSAR 20x4 looks",
           reference="ESA Sentinel-1 User Guide; Sentinel-1 Product Specification"),
    Sensor("alos1_fbs", _wl(1.270e9), 28e6, 38.7, 691.65e3, looks=8, snr_db=15.0,
           description="ALOS PALSAR fine-beam single polarisation (34.3 deg off-nadir)",
           reference="JAXA ALOS handbook"),
    Sensor("alos1_fbd", _wl(1.270e9), 14e6, 38.7, 691.65e3, looks=8, snr_db=15.0,
           description="ALOS PALSAR fine-beam dual polarisation (34.3 deg off-nadir)", reference="JAXA ALOS handbook"),
    Sensor("alos2_sm1", _wl(1.2575e9), 84e6, 36.0, 628e3, looks=16, snr_db=15.0,
           description="ALOS-2 PALSAR-2 strip-map ultra-fine 3 m", reference="JAXA ALOS-2 user handbook"),
    Sensor("alos2_sm2", _wl(1.2575e9), 42e6, 36.0, 628e3, looks=16, snr_db=15.0,
           description="ALOS-2 PALSAR-2 strip-map high-sensitive 6 m", reference="JAXA ALOS-2 user handbook"),
    Sensor("alos2_sm3", _wl(1.2575e9), 28e6, 36.0, 628e3, looks=16, snr_db=15.0,
           description="ALOS-2 PALSAR-2 strip-map fine 10 m", reference="JAXA ALOS-2 user handbook"),
    Sensor("alos4_sm3m", _wl(1.2575e9), 84e6, 36.0, 628e3, looks=16, snr_db=15.0,
           description="ALOS-4 PALSAR-3 strip-map 3 m", reference="JAXA ALOS-4 mission overview"),
    Sensor("alos4_sm6m", _wl(1.2575e9), 42e6, 36.0, 628e3, looks=16, snr_db=15.0,
           description="ALOS-4 PALSAR-3 strip-map 6 m", reference="JAXA ALOS-4 mission overview"),
    Sensor("alos4_sm10m", _wl(1.2575e9), 28e6, 36.0, 628e3, looks=16, snr_db=15.0,
           description="ALOS-4 PALSAR-3 strip-map 10 m", reference="JAXA ALOS-4 mission overview"),
    Sensor("nisar_l20", _wl(1.257e9), 20e6, 40.0, 747e3, looks=16, snr_db=12.0,
           description="NISAR L-SAR 20 MHz", reference="NASA/ISRO NISAR science users' handbook"),
    Sensor("nisar_l40", _wl(1.257e9), 40e6, 40.0, 747e3, looks=16, snr_db=12.0,
           description="NISAR L-SAR 40 MHz", reference="NASA/ISRO NISAR science users' handbook"),
    Sensor("nisar_l80", _wl(1.257e9), 80e6, 40.0, 747e3, looks=16, snr_db=12.0,
           description="NISAR L-SAR 80 MHz", reference="NASA/ISRO NISAR science users' handbook"),
]
SENSORS: dict[str, Sensor] = {s.name: s for s in _PRESETS}
SENSORS["nisar_l"] = SENSORS["nisar_l20"]
SENSORS["alos2"] = SENSORS["alos2_sm3"]
SENSORS["alos4"] = SENSORS["alos4_sm10m"]

_REQUIRED = ("wavelength_m", "bandwidth_hz", "incidence_deg", "altitude_m")
_OPTIONAL = ("slant_range_m", "looks", "snr_db", "baseline_form", "description", "reference")


def get_sensor(sensor: str | Sensor) -> Sensor:
    """A preset by name (case-insensitive) or the :class:`Sensor` itself."""
    if isinstance(sensor, Sensor):
        return sensor
    key = str(sensor).lower().replace("-", "_")
    if key not in SENSORS:
        raise ConfigError(f"unknown sensor {sensor!r}; presets: {', '.join(sorted(SENSORS))}")
    return SENSORS[key]


def _sensor_from_mapping(name: str, spec: Any, path: Path) -> Sensor:
    if not isinstance(spec, dict):
        raise InputError(path, f"sensor {name!r} must be a mapping of parameters")
    unknown = set(spec) - set(_REQUIRED) - set(_OPTIONAL) - {"landcover", "base"}
    if unknown:
        raise InputError(path, f"sensor {name!r}: unknown keys {sorted(unknown)}")
    kwargs: dict[str, Any] = {}
    if "base" in spec:
        try:
            kwargs = get_sensor(spec["base"]).to_dict()
        except ConfigError as exc:
            raise InputError(path, str(exc)) from None
        kwargs["landcover"] = get_sensor(spec["base"]).landcover
        kwargs["slant_range_m"] = 0.0 if "altitude_m" in spec or "incidence_deg" in spec else kwargs["slant_range_m"]
    missing = [k for k in _REQUIRED if k not in spec and k not in kwargs]
    if missing:
        raise InputError(path, f"sensor {name!r}: missing {', '.join(missing)}")
    for k in _REQUIRED + _OPTIONAL:
        if k in spec:
            kwargs[k] = spec[k]
    if "landcover" in spec:
        lc = spec["landcover"]
        if not isinstance(lc, dict):
            raise InputError(path, f"sensor {name!r}: landcover must map names to gamma0/gamma_inf/tau_days")
        try:
            kwargs["landcover"] = {k: TemporalModel(float(v["gamma0"]), float(v["gamma_inf"]), float(v["tau_days"]))
                                   for k, v in lc.items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(path, f"sensor {name!r}: bad landcover entry ({exc})") from None
    kwargs["name"] = name
    try:
        for k in ("wavelength_m", "bandwidth_hz", "incidence_deg", "altitude_m", "slant_range_m"):
            if k in kwargs:
                kwargs[k] = float(kwargs[k])
        if "looks" in kwargs:
            kwargs["looks"] = int(kwargs["looks"])
        return Sensor(**kwargs)
    except (ConfigError, TypeError, ValueError) as exc:
        raise InputError(path, f"sensor {name!r}: {exc}") from None


def load_sensors(path: str | Path) -> dict[str, Sensor]:
    """User-defined sensors from a YAML (``.yaml``/``.yml``) or TOML (``.toml``) file.

    The file maps sensor names to parameters (``wavelength_m``, ``bandwidth_hz``, ``incidence_deg``,
    ``altitude_m``; optional ``slant_range_m``, ``looks``, ``snr_db``, ``baseline_form``, ``base``
    (a preset to start from) and ``landcover: {name: {gamma0, gamma_inf, tau_days}}``), optionally under
    a top-level ``sensors`` key. Raises :class:`~kansho.errors.InputError` naming the file.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(path, f"cannot read sensor file ({exc.strerror})") from None
    try:
        if path.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - parser errors of either library become one line
        raise InputError(path, f"not valid {'TOML' if path.suffix.lower() == '.toml' else 'YAML'} "
                               f"({str(exc).splitlines()[0]})") from None
    if isinstance(data, dict) and isinstance(data.get("sensors"), dict):
        data = data["sensors"]
    if not isinstance(data, dict) or not data:
        raise InputError(path, "expected a mapping of sensor names to parameters")
    return {str(name): _sensor_from_mapping(str(name), spec, path) for name, spec in data.items()}
