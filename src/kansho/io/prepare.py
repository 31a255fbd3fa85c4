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

from kansho import prep
from kansho._files import write_text_atomic
from kansho.config import parse_ref
from kansho.errors import ConfigError, InputError
from kansho.grid import Grid
from kansho.io.gacos import KIND_ZTD_M, find_delay_files, read_delay
from kansho.io.vector import read_polygons

if TYPE_CHECKING:
    from kansho.config import IngestConfig
    from kansho.io.inputs import InputSet

log = logging.getLogger(__name__)

__all__ = ["GacosCorrector", "PrepPlan", "plan_prep", "prep_files"]

Window = tuple[slice, slice]


@dataclass
class PrepPlan:
    """What ingest does besides copying: clip window, blanked pixels, GACOS files, dropped pairs.

    ``clip`` is a window of the *input* grid (``None``: whole grid); ``mask`` is True where pixels
    are blanked, shaped like the clipped input grid (``None``: nothing blanked).
    """

    clip: Window | None = None
    mask: npt.NDArray[np.bool_] | None = None
    gacos_dir: Path | None = None
    gacos_files: dict[int, Path] = field(default_factory=dict)
    dropped: list[tuple[str, str]] = field(default_factory=list)
    uncorrected: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.clip is not None or self.mask is not None or bool(self.gacos_files)


def prep_files(icfg: IngestConfig) -> list[Path]:
    """The files the options name (GACOS delays, polygons), for the ingest fingerprint."""
    out: list[Path] = []
    for poly in (icfg.clip_polygon, icfg.mask_polygon):
        if poly:
            out.append(Path(poly).expanduser())
    if icfg.gacos:
        files = find_delay_files(icfg.gacos)
        for f in files.values():
            out.append(f)
            rsc = f.with_name(f.name + ".rsc")
            if rsc.is_file():
                out.append(rsc)
    return out


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
    if icfg.gacos:
        inputs = _plan_gacos(plan, inputs, icfg)
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


def _plan_gacos(plan: PrepPlan, inputs: InputSet, icfg: IngestConfig) -> InputSet:
    """Step 0-3: the delay file of each date; pairs lacking one are dropped or kept uncorrected."""
    assert icfg.gacos
    plan.gacos_dir = Path(icfg.gacos).expanduser()
    files = find_delay_files(plan.gacos_dir)
    keep = []
    for p in inputs.pairs:
        missing = [d for d in (p.date1, p.date2) if d not in files]
        if not missing:
            keep.append(p)
            continue
        reason = f"no GACOS delay for {', '.join(str(d) for d in missing)}"
        if icfg.gacos_missing == "drop":
            plan.dropped.append((p.name, reason))
        else:
            plan.uncorrected.append(p.name)
            keep.append(p)
    if plan.dropped:
        log.warning("0-3 GACOS: %d pair(s) dropped for a missing delay, e.g. %s (%s)", len(plan.dropped),
                    *plan.dropped[0])
        epochs = np.unique(np.array([d for p in keep for d in (p.date1, p.date2)], dtype=np.int64))
        inputs = dataclasses.replace(inputs, pairs=keep, epochs=epochs)
        if inputs.n_pairs < 2 or inputs.n_epochs < 3:
            raise InputError(plan.gacos_dir, f"after dropping the {len(plan.dropped)} pair(s) without a GACOS "
                                             f"delay only {inputs.n_pairs} pair(s) remain (use gacos_missing: keep)")
    if plan.uncorrected:
        log.warning("0-3 GACOS: %d pair(s) kept uncorrected for a missing delay", len(plan.uncorrected))
    need = {int(d) for p in inputs.pairs if p.name not in plan.uncorrected for d in (p.date1, p.date2)}
    plan.gacos_files = {d: f for d, f in files.items() if d in need}
    return inputs


def _box(text: str) -> tuple[Any, ...]:
    return parse_ref(text)[1]


class GacosCorrector:
    """Per-epoch delay phase on the stack grid, and the per-pair correction with its statistics.

    ``los_u`` (ny, nx) is the Up component of the LOS vector on the stack grid (or a scalar);
    needed for zenith delays only. The delay phase of an epoch is kept with its median removed
    (a constant per epoch only shifts an interferogram, which the reference area removes).
    Memory: n_epoch x ny x nx float32.
    """

    def __init__(self, plan: PrepPlan, grid: Grid, wavelength: float, los_u: npt.ArrayLike | None,
                 date1: npt.NDArray[np.int64], date2: npt.NDArray[np.int64]) -> None:
        self.grid = grid
        self.phase: dict[int, npt.NDArray[np.float32]] = {}
        self.kind = ""
        u = None if los_u is None else np.asarray(los_u, np.float32)
        for d, path in plan.gacos_files.items():
            dm = read_delay(path)
            if self.kind and dm.kind != self.kind:
                raise InputError(path, "mixes zenith (.ztd) and slant (.sltd) delays in one folder")
            self.kind = dm.kind
            res = prep.bilinear_resample(dm.data, dm.grid, grid)
            if not np.isfinite(res).any():
                raise InputError(path, "the delay map does not overlap the frame")
            if dm.kind == KIND_ZTD_M:
                if u is None or not np.isfinite(u).any():
                    raise InputError(path, "zenith delays need the incidence angle: no U file and no incidence "
                                           "in the input's metadata")
                ph = prep.delay_phase(np.zeros_like(res), prep.zenith_to_slant(res, u), wavelength)
            else:
                ph = res
            ph = (ph - np.float32(np.nanmedian(ph))).astype(np.float32)
            self.phase[int(d)] = ph
        n = date1.size
        self.date1, self.date2 = date1, date2
        self.correct = np.array([int(a) in self.phase and int(b) in self.phase for a, b in zip(date1, date2,
                                                                                                strict=True)])
        self._s = np.zeros((2, 3, n))  # before/after x (count, sum, sum of squares)
        self.n_blanked = np.zeros(n, np.int64)

    def apply(self, k: int, rows: slice, u: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Correct pair ``k`` on the stack rows ``rows`` (``u``: (rows, nx) rad); NaN where no delay."""
        if not self.correct[k]:
            return u
        corr = self.phase[int(self.date2[k])][rows] - self.phase[int(self.date1[k])][rows]
        out = u - corr
        ok = np.isfinite(out)
        self.n_blanked[k] += int((np.isfinite(u) & ~ok).sum())
        for j, a in enumerate((u[ok], out[ok])):
            a64 = a.astype(np.float64)
            self._s[j, 0, k] += a64.size
            self._s[j, 1, k] += a64.sum()
            self._s[j, 2, k] += (a64 * a64).sum()
        return out.astype(np.float32)

    def stats(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Per pair: phase standard deviation (rad) before and after, over the same pixels (NaN if uncorrected)."""
        cnt, s1, s2 = self._s[:, 0], self._s[:, 1], self._s[:, 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            var = s2 / cnt - (s1 / cnt) ** 2
        sd = np.sqrt(np.maximum(var, 0.0))
        sd[:, ~self.correct | (cnt[0] == 0)] = np.nan
        return sd[0], sd[1]


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
        lines.append(f"{name}  {b:14.4f}  {a:13.4f}  {red:11.1f}")
    dropped = ["# pair              reason (dropped before ingest)"] + [f"{n}  {r}" for n, r in g.get("dropped", [])]
    out = []
    for name, text in (("03gacos_stats.txt", lines), ("03gacos_dropped_ifg.txt", dropped)):
        out.append(write_text_atomic(info_dir / name, "\n".join(text) + "\n"))
    return out
