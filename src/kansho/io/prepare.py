"""Ingest-time preparation (Steps 0-3 … 0-5): plan the clip, the mask and the GACOS correction.

:func:`plan_prep` turns the ingest options into a :class:`PrepPlan` (which window of the input
grid to keep, which pixels to blank, which delay file serves each date, which pairs to drop for a
missing delay); :class:`GacosCorrector` holds the per-epoch delay phase on the stack grid and
corrects the pairs strip by strip while it accumulates each pair's phase standard deviation before
and after. The numerics are in :mod:`kansho.prep`; the stack store applies the plan in
:func:`kansho.store.create_stack`, so the input files are never rewritten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from kansho import prep, tides
from kansho._files import write_text_atomic
from kansho.config import parse_ref
from kansho.errors import ConfigError, InputError
from kansho.grid import Grid
from kansho.io.gacos import KIND_SLTD_RAD, KIND_ZTD_M, find_delay_files
from kansho.io.layers import COMPUTED, FOLDERS, ORDER, UNITS, LayerSpec, find_layer_files, parse_layer_list, read_layer
from kansho.io.vector import read_polygons

if TYPE_CHECKING:
    from kansho.config import IngestConfig
    from kansho.io.inputs import InputSet

log = logging.getLogger(__name__)

__all__ = ["GacosCorrector", "LayerCorrector", "PrepPlan", "plan_prep", "prep_files"]

Window = tuple[slice, slice]
#: LOS unit-vector components E, N, U on the stack grid
LosEnu = tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike]


@dataclass
class PrepPlan:
    """What ingest does besides copying: clip window, blanked pixels, GACOS files, dropped pairs.

    ``clip`` is a window of the *input* grid (``None``: whole grid); ``mask`` is True where pixels
    are blanked, shaped like the clipped input grid (``None``: nothing blanked).
    """

    clip: Window | None = None
    mask: npt.NDArray[np.bool_] | None = None
    #: the per-epoch delay layers (Step 0-3), in the order applied; ``gacos_dir``/``gacos_files``
    #: repeat the GACOS layer's (and alone describe it where a plan is built by hand)
    layers: list[LayerSpec] = field(default_factory=list)
    gacos_dir: Path | None = None
    gacos_files: dict[int, Path] = field(default_factory=dict)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    #: pairs kept without the GACOS correction (a delay missing); ``uncorrected_by``: per layer kind
    uncorrected: list[str] = field(default_factory=list)
    uncorrected_by: dict[str, list[str]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.clip is not None or self.mask is not None or bool(self.gacos_files) or bool(self.layers)

    def layer_specs(self) -> list[LayerSpec]:
        """The layers to apply: ``layers``, or a GACOS layer from ``gacos_files`` alone."""
        if self.layers:
            return self.layers
        if self.gacos_files:
            return [LayerSpec("gacos", self.gacos_dir or Path("."), "", dict(self.gacos_files))]
        return []


def prep_files(icfg: IngestConfig, input_root: Path | None = None) -> list[Path]:
    """The files the options name (delay layers, polygons), for the ingest fingerprint.

    Layers in portal folders beside the input are listed when ``input_root`` (the input folder) or
    ``layers_dir`` is known. A layer folder that cannot be read is left out: ingest names the fault.
    """
    out: list[Path] = []
    for poly in (icfg.clip_polygon, icfg.mask_polygon):
        if poly:
            out.append(Path(poly).expanduser())
    found: list[dict[int, Path]] = []
    if icfg.gacos:
        found.append(find_delay_files(icfg.gacos))
    if icfg.user_layer:
        found.append(_files_or_empty("user", Path(icfg.user_layer).expanduser()))
    kinds = parse_layer_list(icfg.layers)
    if kinds and (input_root is not None or icfg.layers_dir):
        bases = _portal_bases(input_root or Path("."), icfg)
        for k in FOLDERS:
            if (k == "gacos" and icfg.gacos) or not (kinds == ["auto"] or k in kinds):
                continue
            folder = _portal_folder(k, bases)
            if folder is not None:
                found.append(_files_or_empty(k, folder))
    for files in found:
        for f in files.values():
            out.append(f)
            rsc = f.with_name(f.name + ".rsc")
            if rsc.is_file():
                out.append(rsc)
    return out


def _files_or_empty(kind: str, folder: Path) -> dict[int, Path]:
    try:
        return find_layer_files(kind, folder)
    except InputError:
        return {}


def files_fingerprint(paths: list[Path]) -> str:
    """Hash of names, sizes and modification times (empty string for no files)."""
    if not paths:
        return ""
    h = hashlib.sha256()
    for f in sorted(paths):
        try:
            st = f.stat()
        except OSError:
            h.update(f"{f}:missing;".encode())
            continue
        h.update(f"{f}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def plan_prep(inputs: InputSet, icfg: IngestConfig) -> tuple[InputSet, PrepPlan]:
    """The :class:`PrepPlan` of the options, and the input set without the pairs it drops.

    Raises :class:`ConfigError` for a box or polygon that misses the grid, :class:`InputError`
    for unreadable polygon or GACOS files or a network too small after dropping pairs.
    """
    plan = PrepPlan()
    win, outside_poly = _plan_clip(plan, inputs.grid, icfg)
    _plan_mask(plan, inputs.grid, icfg, win, outside_poly)
    inputs = _plan_layers(plan, inputs, icfg)
    return inputs, plan


def _plan_clip(plan: PrepPlan, grid: Grid, icfg: IngestConfig) -> tuple[Window, npt.NDArray[np.bool_] | None]:
    """Step 0-5: the window kept (sets ``plan.clip`` unless it is the whole grid) and, for a clip
    polygon, the pixels outside it (on the whole input grid)."""
    shape = grid.shape
    win: Window = (slice(0, shape[0]), slice(0, shape[1]))
    outside_poly: npt.NDArray[np.bool_] | None = None
    try:
        if icfg.clip_box:
            win = prep.window_intersection(win, prep.pixel_window(_box(icfg.clip_box), shape))
        if icfg.clip_lonlat:
            win = prep.window_intersection(win, prep.lonlat_window(_box(icfg.clip_lonlat), grid))
        if icfg.clip_polygon:
            inside = prep.polygon_mask(read_polygons(icfg.clip_polygon), grid)
            win = prep.window_intersection(win, prep.clip_window(inside))
            outside_poly = ~inside
    except ValueError as exc:
        raise ConfigError(f"clip: {exc}") from None
    if win != (slice(0, shape[0]), slice(0, shape[1])):
        plan.clip = win
        plan.info["clip"] = {"rows": [win[0].start, win[0].stop], "cols": [win[1].start, win[1].stop],
                             "box": icfg.clip_box, "lonlat": icfg.clip_lonlat, "polygon": icfg.clip_polygon}
        log.info("0-5 clip: rows %d:%d, cols %d:%d of the %dx%d input grid", win[0].start, win[0].stop,
                 win[1].start, win[1].stop, shape[1], shape[0])
    return win, outside_poly


def _plan_mask(plan: PrepPlan, grid: Grid, icfg: IngestConfig, win: Window,
               outside_poly: npt.NDArray[np.bool_] | None) -> None:
    """Step 0-4: the blanked pixels of the clipped grid (boxes, polygon, outside the clip polygon)."""
    shape = grid.shape
    windows: list[Window] = []
    try:
        for part in (icfg.mask_box or "").split():
            windows.append(prep.pixel_window(_box(part), shape))
        for part in (icfg.mask_lonlat or "").split():
            windows.append(prep.lonlat_window(_box(part), grid))
    except ValueError as exc:
        raise ConfigError(f"mask: {exc}") from None
    blank = prep.box_mask(windows, shape) if windows else np.zeros(shape, bool)
    if icfg.mask_polygon:
        blank |= prep.polygon_mask(read_polygons(icfg.mask_polygon), grid)
    if outside_poly is not None:
        blank |= outside_poly
    blank = blank[win]
    if blank.any():
        if blank.all():
            raise ConfigError("mask: the mask and clip options blank every pixel")
        plan.mask = blank
        plan.info["mask"] = {"n_blanked": int(blank.sum()), "box": icfg.mask_box, "lonlat": icfg.mask_lonlat,
                             "polygon": icfg.mask_polygon}
        log.info("0-4 mask: %d of %d pixels blanked", int(blank.sum()), blank.size)


def _plan_layers(plan: PrepPlan, inputs: InputSet, icfg: IngestConfig) -> InputSet:
    """Step 0-3: the layers asked for, the file of each date; pairs lacking one are dropped or kept
    uncorrected for that layer (``gacos_missing`` for GACOS, ``layers_missing`` for the others)."""
    specs = _layer_specs(inputs.root, icfg, inputs)
    if not specs:
        _warn_unused(inputs.root, icfg)
        return inputs
    plan.layers = specs
    keep = []
    for p in inputs.pairs:
        drop_why: list[str] = []
        unc: list[str] = []
        for sp in specs:
            missing = [d for d in (p.date1, p.date2) if d not in sp.files]
            if not missing:
                continue
            if sp.missing == "drop":
                dates = ", ".join(str(d) for d in missing)
                drop_why.append(f"no {_LABEL.get(sp.kind, sp.kind + ' layer')} for {dates}")
            else:
                unc.append(sp.kind)
        if drop_why:
            plan.dropped.append((p.name, "; ".join(drop_why)))
            continue
        keep.append(p)
        for k in unc:
            plan.uncorrected_by.setdefault(k, []).append(p.name)
    if plan.dropped:
        log.warning("0-3 layers: %d pair(s) dropped for a missing layer, e.g. %s (%s)", len(plan.dropped),
                    *plan.dropped[0])
        epochs = np.unique(np.array([d for p in keep for d in (p.date1, p.date2)], dtype=np.int64))
        inputs = dataclasses.replace(inputs, pairs=keep, epochs=epochs)
        if inputs.n_pairs < 2 or inputs.n_epochs < 3:
            first = next(sp for sp in specs if sp.missing == "drop")
            opt = "gacos_missing" if first.kind == "gacos" else "layers_missing"
            what = "a GACOS delay" if first.kind == "gacos" else "a layer"
            raise InputError(first.folder, f"after dropping the {len(plan.dropped)} pair(s) without {what} only "
                                           f"{inputs.n_pairs} pair(s) remain (use {opt}: keep)")
    for k, names in plan.uncorrected_by.items():
        log.warning("0-3 %s: %d pair(s) kept without this layer's correction (missing for a date)", k, len(names))
    for sp in specs:
        unc_k = set(plan.uncorrected_by.get(sp.kind, []))
        need = {int(d) for p in inputs.pairs if p.name not in unc_k for d in (p.date1, p.date2)}
        sp.files = {d: f for d, f in sp.files.items() if d in need}
        log.info("0-3 layer %s: %d epoch(s) from %s", sp.kind, len(sp.files), sp.folder)
        if sp.kind == "gacos":
            plan.gacos_dir, plan.gacos_files = sp.folder, sp.files
            plan.uncorrected = list(plan.uncorrected_by.get("gacos", []))
    return inputs


_LABEL = {"gacos": "GACOS delay"}


def _portal_bases(root: Path, icfg: IngestConfig) -> list[Path]:
    return [Path(icfg.layers_dir).expanduser()] if icfg.layers_dir else [Path(root).parent, Path(root)]


def _portal_folder(kind: str, bases: list[Path]) -> Path | None:
    for b in bases:
        f = b / FOLDERS[kind]
        if f.is_dir():
            return f
    return None


def _layer_specs(root: Path, icfg: IngestConfig, inputs: InputSet | None = None) -> list[LayerSpec]:
    """The layers the options ask for, in :data:`kansho.io.layers.ORDER`, with every file found.

    ``tide`` asked for by name with no ``TIDE/`` folder is computed (:func:`_computed_tide_spec`)."""
    kinds = parse_layer_list(icfg.layers)
    auto = kinds == ["auto"]
    bases = _portal_bases(root, icfg)
    force = parse_layer_list(icfg.layers_force)
    specs = []
    for kind in ORDER:
        folder: Path | None = None
        if kind == "gacos" and icfg.gacos:
            folder = Path(icfg.gacos).expanduser()
        elif kind == "user":
            if icfg.user_layer:
                folder = Path(icfg.user_layer).expanduser()
            elif kind in kinds:
                raise ConfigError("layer 'user' needs ingest.user_layer (the folder of its files)")
        elif auto or kind in kinds:
            folder = _portal_folder(kind, bases)
            if folder is None and kind == "tide" and not auto and inputs is not None:
                specs.append(_computed_tide_spec(inputs, icfg, force="tide" in force))
                continue
            if folder is None and not auto:
                raise InputError(bases[0], f"layer {kind}: no {FOLDERS[kind]}/ folder here"
                                 + ("" if icfg.layers_dir else f" nor in {bases[1]}") + " (set ingest.layers_dir)")
        if folder is None:
            continue
        try:
            files = find_layer_files(kind, folder)
        except InputError as exc:
            if not auto or (kind == "gacos" and icfg.gacos):
                raise
            log.warning("0-3 layers auto: %s not used: %s", folder, exc)
            continue
        unit = "" if kind == "gacos" else icfg.user_layer_unit if kind == "user" else UNITS[kind]
        missing = icfg.gacos_missing if kind == "gacos" else icfg.layers_missing
        specs.append(LayerSpec(kind, folder, unit, files, missing, force=kind in force, found=sorted(files)))
    if {"gacos", "icams"} <= {s.kind for s in specs}:
        log.warning("0-3 layers: GACOS and ICAMS both model the troposphere; ICAMS is kept for a pair only "
                    "where it still lowers the phase std after GACOS")
    return specs


def _computed_tide_spec(inputs: InputSet, icfg: IngestConfig, force: bool) -> LayerSpec:
    """The solid-earth tide layer computed at every epoch (no ``TIDE/`` folder was given).

    Needs the acquisition time (``center_time`` of the metadata) and the LOS (E/N/U files, or the
    incidence and heading); raises :class:`InputError` naming the input and the fix otherwise."""
    ct = inputs.metadata.get("center_time")
    if not ct:
        raise InputError(inputs.root, "layer tide: no TIDE/ folder to read and no acquisition time (center_time) "
                                      "in the metadata to compute it: run 'kansho tide INPUT --time HH:MM:SS' first")
    if not inputs.has_los:
        raise InputError(inputs.root, "layer tide: no TIDE/ folder and no LOS geometry (E/N/U files, or incidence "
                                      "and heading in the metadata) to compute the tide in the line of sight")
    tides.epoch_times(inputs.epochs, str(ct), source=str(inputs.root))    # a malformed time fails here
    log.info("0-3 layer tide: no TIDE/ folder; the tide is computed at %s UTC for %d epochs", ct, inputs.n_epochs)
    files = {int(d): COMPUTED for d in inputs.epochs}
    return LayerSpec("tide", COMPUTED, UNITS["tide"], files, icfg.layers_missing, force=force,
                     found=sorted(files), computed_time=str(ct))


def _warn_unused(root: Path, icfg: IngestConfig) -> None:
    """Say (never silently) which portal layer folders lie beside the input and are not applied."""
    bases = _portal_bases(root, icfg)
    found = [f"{f.name}/" for k in FOLDERS if (f := _portal_folder(k, bases)) is not None]
    if found:
        log.warning("0-3 layers: %s found beside the input but not applied (layers are applied only when asked: "
                    "--layers auto or --layers %s)", ", ".join(found), ",".join(
                        k for k in FOLDERS if _portal_folder(k, bases) is not None))


def _box(text: str) -> tuple[Any, ...]:
    return parse_ref(text)[1]


class LayerCorrector:
    """Per-epoch delay phase of every layer on the stack grid, the per-pair decision and correction.

    One pass over the data (:meth:`observe`, strip by strip, from any thread for distinct pairs)
    gathers each pair's moments of ``[unw, c_1 … c_L]`` (:func:`kansho.prep.layer_moments`, over the
    pixels where the phase and every layer that applies are finite); :meth:`decide` then keeps each
    layer for a pair where it lowers the phase std given the other layers kept
    (:func:`kansho.prep.choose_layers`), or always for a forced layer; :meth:`apply` subtracts the
    kept corrections. ``los_u`` (ny, nx) is the Up component of the LOS vector on the stack grid (or
    a scalar), needed for zenith delays only; ``los_enu`` (E, N, U on the stack grid) for a
    computed tide only. An epoch's delay phase is kept with its median removed
    (a constant per epoch only shifts an interferogram, which the reference area removes).
    Memory: n_layer x n_epoch x ny x nx float32.
    """

    def __init__(self, plan: PrepPlan, grid: Grid, wavelength: float, los_u: npt.ArrayLike | None,
                 date1: npt.NDArray[np.int64], date2: npt.NDArray[np.int64],
                 los_enu: LosEnu | None = None) -> None:
        self.grid = grid
        self.specs = plan.layer_specs()
        self.units: list[str] = []
        self.phases: list[dict[int, npt.NDArray[np.float32]]] = []
        u = None if los_u is None else np.asarray(los_u, np.float32)
        for sp in self.specs:
            if sp.computed_time:
                ph_l, unit = _tide_phases(sp, grid, wavelength, los_enu), sp.unit
            else:
                ph_l, unit = _file_phases(sp, grid, wavelength, u)
            self.units.append(unit or sp.unit)
            self.phases.append(ph_l)
        n, nl = date1.size, len(self.specs)
        self.date1, self.date2 = date1, date2
        self.applies = np.array([[int(a) in ph and int(b) in ph for ph in self.phases]
                                 for a, b in zip(date1, date2, strict=True)], bool).reshape(n, nl)
        self.force = [sp.force for sp in self.specs]
        self._n = np.zeros(n, np.int64)
        self._s = np.zeros((n, nl + 1))
        self._S = np.zeros((n, nl + 1, nl + 1))
        self.keep = np.zeros((n, nl), bool)
        self.before = np.full((n, nl), np.nan)
        self.after = np.full((n, nl), np.nan)
        self.n_blanked = np.zeros(n, np.int64)

    def _corr(self, k: int, li: int, rows: slice) -> npt.NDArray[np.float32]:
        ph = self.phases[li]
        return ph[int(self.date2[k])][rows] - ph[int(self.date1[k])][rows]

    def observe(self, k: int, rows: slice, u: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Add pair ``k``'s strip ``rows`` (``u``: (rows, nx) rad) to its moments; returns ``u``."""
        corrs = [self._corr(k, li, rows) if self.applies[k, li] else None for li in range(len(self.specs))]
        cnt, s, S = prep.layer_moments(u, corrs)
        self._n[k] += cnt
        self._s[k] += s
        self._S[k] += S
        return u

    def decide(self) -> None:
        """Choose, per pair and layer, whether the correction is kept (after every strip is observed)."""
        self.keep, self.before, self.after = prep.choose_layers(self._n, self._s, self._S, self.applies,
                                                                  self.force)

    def std_final(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per pair: phase std (rad) with no layer and with the kept ones, over the same pixels."""
        n, nl = self.keep.shape
        a0 = np.zeros((n, nl + 1))
        a0[:, 0] = 1.0
        a1 = a0.copy()
        a1[:, 1:] = -self.keep.astype(np.float64)
        return prep.moment_std(self._n, self._s, self._S, a0), prep.moment_std(self._n, self._s, self._S, a1)

    @property
    def any_kept(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.keep.any(axis=1), bool)

    def apply(self, k: int, rows: slice, u: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Subtract pair ``k``'s kept corrections on ``rows``; NaN where a kept layer has no value."""
        if not self.keep[k].any():
            return u
        out = u.astype(np.float32, copy=True)
        for li in np.flatnonzero(self.keep[k]):
            out -= self._corr(k, int(li), rows)
        self.n_blanked[k] += int((np.isfinite(u) & ~np.isfinite(out)).sum())
        return out

    def record(self, names: list[str]) -> dict[str, Any]:
        """The ``layers`` entry of the stack's ``prep`` attribute (JSON-ready)."""
        raw, final = self.std_final()
        out: dict[str, Any] = {"order": [sp.kind for sp in self.specs], "pairs": names,
                               "std_raw": _rounded(raw), "std_final": _rounded(final),
                               "n_blanked": self.n_blanked.tolist(), "layer": {}}
        for li, sp in enumerate(self.specs):
            out["layer"][sp.kind] = {
                "dir": sp.source, "unit": self.units[li], "force": bool(sp.force), "missing": sp.missing,
                "epochs_found": [int(d) for d in (sp.found or sorted(sp.files))],
                "applies": self.applies[:, li].tolist(), "kept": self.keep[:, li].tolist(),
                "std_before": _rounded(self.before[:, li]), "std_after": _rounded(self.after[:, li]),
                "epoch_std": {str(d): _rounded(np.array([float(np.nanstd(ph))]))[0]
                              for d, ph in sorted(self.phases[li].items())}}
        return out


def _tide_phases(sp: LayerSpec, grid: Grid, wavelength: float,
                 los_enu: LosEnu | None) -> dict[int, npt.NDArray[np.float32]]:
    """A computed tide layer's delay phase (rad) per date on ``grid``, each with its median removed."""
    if los_enu is None or not all(np.isfinite(np.asarray(c, np.float64)).any() for c in los_enu):
        raise InputError(sp.folder, "layer tide: no LOS geometry on the stack grid to compute the tide")
    dates = sorted(sp.files)
    times = tides.epoch_times(np.array(dates, np.int64), sp.computed_time)
    e, n, u = (np.asarray(c, np.float32) for c in los_enu)
    mm = tides.los_tide_mm(grid.lon(), grid.lat(), times, e, n, u)
    out: dict[int, npt.NDArray[np.float32]] = {}
    for k, d in enumerate(dates):
        out[d] = _centred(prep.layer_delay_phase(mm[k] / 1000.0, "m_disp", wavelength))
    return out


def _file_phases(sp: LayerSpec, grid: Grid, wavelength: float, u: npt.NDArray[np.float32] | None
                 ) -> tuple[dict[int, npt.NDArray[np.float32]], str]:
    """A layer's delay phase (rad) per date on ``grid`` from its files, each with its median removed, and
    the files' unit. Raises :class:`InputError` naming a file that mixes units, misses the frame, or is a
    zenith delay without the incidence angle."""
    unit = ""
    out: dict[int, npt.NDArray[np.float32]] = {}
    for d, path in sp.files.items():
        data, g, f_unit = read_layer(sp.kind, path, sp.unit)
        if unit and f_unit != unit:
            raise InputError(path, "mixes zenith (.ztd) and slant (.sltd) delays in one folder")
        unit = f_unit
        res = prep.bilinear_resample(data, g, grid)
        if not np.isfinite(res).any():
            raise InputError(path, f"the {sp.kind} layer does not overlap the frame")
        if unit == "m_zenith" and (u is None or not np.isfinite(u).any()):
            raise InputError(path, "zenith delays need the incidence angle: no U file and no incidence "
                                   "in the input's metadata")
        out[int(d)] = _centred(prep.layer_delay_phase(res, unit, wavelength, u))
    return out, unit


def _centred(ph: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """An epoch's delay phase without its median (a constant only shifts an interferogram)."""
    return (ph - np.float32(np.nanmedian(ph))).astype(np.float32)


def _rounded(a: npt.NDArray[np.float64]) -> list[float | None]:
    return [None if not np.isfinite(v) else round(float(v), 5) for v in a]


class GacosCorrector(LayerCorrector):
    """A :class:`LayerCorrector` of the GACOS layer alone (``plan.gacos_files``), as the
    interferogram chain uses it: ``phase`` (date → delay phase, rad) and ``kind`` (the files' kind)."""

    def __init__(self, plan: PrepPlan, grid: Grid, wavelength: float, los_u: npt.ArrayLike | None,
                 date1: npt.NDArray[np.int64], date2: npt.NDArray[np.int64]) -> None:
        gplan = PrepPlan(gacos_dir=plan.gacos_dir, gacos_files=dict(plan.gacos_files))
        super().__init__(gplan, grid, wavelength, los_u, date1, date2)

    @property
    def phase(self) -> dict[int, npt.NDArray[np.float32]]:
        return self.phases[0] if self.phases else {}

    @property
    def kind(self) -> str:
        if not self.phases or not self.phases[0]:
            return ""
        return KIND_ZTD_M if self.units[0] == "m_zenith" else KIND_SLTD_RAD


def write_prep_info(info_dir: Path, prep_attrs: dict[str, Any]) -> list[Path]:
    """Write ``03gacos_stats.txt`` and ``03gacos_dropped_ifg.txt`` from the stack's ``prep`` attribute.

    Nothing is written when GACOS was not used. Files are written atomically (temporary name,
    then rename). Returns the paths written.
    """
    g = prep_attrs.get("gacos")
    if not g:
        return []
    info_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"# GACOS correction (Step 0-3) from {g['dir']} ({g.get('kind', '')})",
             "# pair               std_before_rad  std_after_rad  reduction_%  note"]
    for i, name in enumerate(g.get("pairs", [])):
        b, a = g["std_before"][i], g["std_after"][i]
        if b is None or a is None:
            lines.append(f"{name}  {'nan':>14}  {'nan':>13}  {'nan':>11}  uncorrected (delay missing)")
            continue
        red = 100.0 * (1.0 - a / b) if b > 0 else float("nan")
        kept = g.get("kept", [True] * len(g["pairs"]))[i]
        lines.append(f"{name}  {b:14.4f}  {a:13.4f}  {red:11.1f}" + ("" if kept else "  declined (std not lowered)"))
    dropped = ["# pair              reason (dropped before ingest)"] + [f"{n}  {r}" for n, r in g.get("dropped", [])]
    out = []
    for name, text in (("03gacos_stats.txt", lines), ("03gacos_dropped_ifg.txt", dropped)):
        out.append(write_text_atomic(info_dir / name, "\n".join(text) + "\n"))
    return out


def prep_attrs(plan: PrepPlan, corr: LayerCorrector | None, inputs: InputSet) -> dict[str, Any]:
    """The ``prep`` attribute: clip window, mask, the delay layers (per pair and layer: std before and
    after, kept or not) and, for GACOS, its entry as it was before the other layers existed."""
    out: dict[str, Any] = dict(plan.info)
    names = [p.name for p in inputs.pairs]
    if corr is not None:
        rec = corr.record(names)
        rec["dropped"] = [list(d) for d in plan.dropped]
        rec["uncorrected"] = {k: list(v) for k, v in plan.uncorrected_by.items()}
        rec["epochs_input"] = sorted({int(d) for n, _ in plan.dropped for d in n.split("_")}
                                     | {int(e) for e in inputs.epochs})
        out["layers"] = rec
    if plan.gacos_dir is not None:
        g: dict[str, Any] = {"dir": str(plan.gacos_dir), "dropped": [list(d) for d in plan.dropped],
                             "uncorrected": list(plan.uncorrected)}
        if corr is not None and "gacos" in rec["layer"]:
            lg = rec["layer"]["gacos"]
            g.update(kind=KIND_ZTD_M if lg["unit"] == "m_zenith" else KIND_SLTD_RAD, pairs=names,
                     corrected=lg["applies"], kept=lg["kept"], std_before=lg["std_before"],
                     std_after=lg["std_after"], n_blanked=rec["n_blanked"])
        out["gacos"] = g
    return out


def apply_layers(unw: Any, corr: LayerCorrector, block: int) -> None:
    """Subtract the kept layer corrections (Step 0-3) from the stored pairs, strip by strip.

    The decision needs each pair's whole-frame statistics, so the pairs are stored as read and the
    kept corrections applied here, in a second pass over the store (not over the input files).
    """
    todo = np.flatnonzero(corr.any_kept)
    if not todo.size:
        return
    ny = unw.shape[1]
    lo, hi = int(todo.min()), int(todo.max()) + 1
    for r0 in range(0, ny, block):
        r1 = min(r0 + block, ny)
        u = np.asarray(unw[lo:hi, r0:r1, :])
        for k in todo:
            u[k - lo] = corr.apply(int(k), slice(r0, r1), u[k - lo])
        unw[lo:hi, r0:r1, :] = u
    log.info("0-3 layers: corrections applied to %d of %d pairs", todo.size, corr.keep.shape[0])
