"""Perpendicular baselines (B⊥) from GAMMA's per-pair baseline files.

GAMMA stacks (and the PyRate/GAMMA test stacks such as the bundled Mexico City crop) carry, per
interferogram ``d1-d2``:

``*_bperp.par`` / ``*.bperp``
    the output of GAMMA ``base_perp``: a table ``line range B_t B_c B_n look_angle bpara bperp blen``
    over the scene; B⊥ of the pair is the table's value at the scene centre (interpolated between
    the table's lines and ranges, as LiCSAR quotes one value per epoch at the centre);
``*_base.par`` / ``*.base``
    the output of ``base_orbit`` / ``base_est_fft``: the baseline vector at the scene centre in
    the TCN frame (``precision_baseline(TCN)``, else ``initial_baseline(TCN)``). B⊥ needs the look
    angle θ at the scene centre, computed from a GAMMA image header (``*mli.par``/``*slc.par``:
    ``center_range_slc``, ``sar_to_earth_center``, ``earth_radius_below_sensor``) by the law of
    cosines; then B⊥ = B_c cos θ − B_n sin θ (right-looking; the same formula ``base_perp`` uses,
    which reproduces its table to 1 mm).

Per-pair values are turned into per-epoch ones (first epoch 0) by least squares over the network
(:func:`kansho.io.radar_meta.read_baselines` does the same for per-pair ``baselines`` files).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from kansho.errors import InputError
from kansho.io.pairnames import date_int

log = logging.getLogger(__name__)

__all__ = ["find_gamma_baselines", "gamma_bperp_epochs", "gamma_pair_bperp", "look_angle_deg", "read_base_par",
           "read_bperp_par"]

#: two dates in a baseline file's name: 20180106-20180130_VV_8rlks_base.par, 20180106_20180130.base
_NAME_RE = re.compile(r"(?<!\d)(\d{8})[-_](\d{8})(?!\d)")
_BPERP_SUFFIXES = ("bperp.par", ".bperp")
_BASE_SUFFIXES = ("base.par", ".base")
_TCN_KEYS = ("precision_baseline(tcn)", "initial_baseline(tcn)")


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(path, f"cannot read baseline file ({exc.strerror})") from None


def read_bperp_par(path: str | Path) -> float:
    """B⊥ (m) at the scene centre from a GAMMA ``base_perp`` table (``*_bperp.par``).

    The centre is taken from the header's ``interferogram lines`` and ``range samples/line``
    (else the middle of the table's own lines and ranges); the value is interpolated linearly in
    range, then in line. Raises :class:`InputError` naming the file when it holds no table rows.
    """
    path = Path(path)
    text = _text(path)
    rows: list[tuple[float, float, float]] = []
    n_lines = n_ranges = None
    for raw in text.splitlines():
        m = re.search(r"interferogram lines:\s*(\d+)\s+range samples/line:\s*(\d+)", raw)
        if m:
            n_lines, n_ranges = int(m.group(1)), int(m.group(2))
            continue
        toks = raw.split()
        if len(toks) == 9 and toks[0].isdigit() and toks[1].isdigit():
            try:
                rows.append((float(toks[0]), float(toks[1]), float(toks[7])))
            except ValueError:
                continue
    if not rows:
        raise InputError(path, "no 'line range B_t B_c B_n look bpara bperp blen' rows (not a GAMMA base_perp table)")
    a = np.asarray(rows)
    lines = np.unique(a[:, 0])
    ranges = np.unique(a[:, 1])
    lc = (n_lines - 1) / 2.0 if n_lines else float(lines.mean())
    rc = (n_ranges - 1) / 2.0 if n_ranges else float(ranges.mean())
    per_line = []
    for ln in lines:
        sel = a[a[:, 0] == ln]
        order = np.argsort(sel[:, 1])
        per_line.append(float(np.interp(rc, sel[order, 1], sel[order, 2])))
    return float(np.interp(lc, lines, per_line))


def read_base_par(path: str | Path) -> tuple[float, float, float]:
    """The baseline vector (T, C, N) in m from a GAMMA ``*_base.par`` (precision baseline if estimated,
    else the initial orbit baseline). Raises :class:`InputError` naming the file without one."""
    path = Path(path)
    vals: dict[str, list[float]] = {}
    for raw in _text(path).splitlines():
        key, sep, rest = raw.partition(":")
        if not sep:
            continue
        try:
            vals[key.strip().lower()] = [float(t) for t in rest.split()[:3]]
        except ValueError:
            continue
    for k in _TCN_KEYS:
        v = vals.get(k)
        if v is not None and len(v) == 3 and (k != "precision_baseline(tcn)" or any(v)):
            return v[0], v[1], v[2]
    raise InputError(path, "no precision_baseline(TCN) or initial_baseline(TCN) line (not a GAMMA base.par)")


def look_angle_deg(header: dict[str, str], path: Path | None = None) -> float:
    """Look angle (degrees) at the scene centre from a GAMMA image header's ``center_range_slc``,
    ``sar_to_earth_center`` and ``earth_radius_below_sensor`` (law of cosines, spherical Earth)."""
    try:
        r, rs, re_ = (float(header[k].split()[0]) for k in
                      ("center_range_slc", "sar_to_earth_center", "earth_radius_below_sensor"))
    except (KeyError, ValueError, IndexError):
        raise InputError(path, "GAMMA header lacks center_range_slc, sar_to_earth_center or "
                               "earth_radius_below_sensor (needed for B⊥ from a base.par)") from None
    c = (r * r + rs * rs - re_ * re_) / (2.0 * r * rs)
    if not -1.0 <= c <= 1.0:
        raise InputError(path, "inconsistent orbit geometry (no look angle from center_range_slc, "
                               "sar_to_earth_center, earth_radius_below_sensor)")
    return math.degrees(math.acos(c))


def _read_header(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in _text(path).splitlines():
        m = re.match(r"^\s*([A-Za-z_]\w*)\s*:\s*(.*)$", raw)
        if m:
            out[m.group(1).lower()] = m.group(2).strip()
    return out


def find_gamma_baselines(dirs: Iterable[Path]) -> dict[tuple[int, int], dict[str, Path]]:
    """``(date1, date2) → {"bperp": path, "base": path}`` of the GAMMA baseline files in ``dirs``."""
    found: dict[tuple[int, int], dict[str, Path]] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.iterdir()):
            name = p.name.lower()
            kind = ("bperp" if name.endswith(_BPERP_SUFFIXES) else "base" if name.endswith(_BASE_SUFFIXES)
                    else None)
            m = _NAME_RE.search(p.name)
            if kind is None or m is None or not p.is_file():
                continue
            try:
                key = (date_int(m.group(1)), date_int(m.group(2)))
            except ValueError:
                continue
            if key[0] < key[1]:
                found.setdefault(key, {}).setdefault(kind, p)
    return found


def _look_angle_for(dirs: Sequence[Path]) -> tuple[float, Path] | None:
    """Look angle (degrees) from the first GAMMA image header (mli.par, then slc.par) in ``dirs``."""
    for suffix in ("mli.par", "slc.par"):
        for d in dirs:
            if not d.is_dir():
                continue
            for p in sorted(d.glob(f"*{suffix}")):
                hdr = _read_header(p)
                if "center_range_slc" in hdr:
                    return look_angle_deg(hdr, p), p
    return None


def gamma_pair_bperp(dirs: Sequence[Path]) -> dict[tuple[int, int], float]:
    """Per-pair B⊥ (m) from the GAMMA baseline files in ``dirs``: a ``bperp.par`` table where there is
    one, else a ``base.par`` with the look angle of a GAMMA image header in ``dirs`` (pairs with only
    a ``base.par`` and no header are skipped with a warning)."""
    files = find_gamma_baselines(dirs)
    out: dict[tuple[int, int], float] = {}
    need_look = any("bperp" not in kinds for kinds in files.values())
    look = _look_angle_for(dirs) if need_look else None
    skipped = 0
    for key, kinds in sorted(files.items()):
        if "bperp" in kinds:
            out[key] = read_bperp_par(kinds["bperp"])
            continue
        if look is None:
            skipped += 1
            continue
        _t, c, n = read_base_par(kinds["base"])
        th = math.radians(look[0])
        out[key] = c * math.cos(th) - n * math.sin(th)
    if skipped:
        log.warning("%s: %d GAMMA base.par file(s) without a *mli.par/*slc.par header for the look angle: "
                    "no B⊥ for those pairs", dirs[0] if dirs else "", skipped)
    return out


def gamma_bperp_epochs(dirs: Sequence[Path], epochs: Sequence[int] | None = None) -> dict[int, float]:
    """Per-epoch B⊥ (m; the first epoch of the network 0) from GAMMA per-pair baseline files in ``dirs``.

    Least squares over the pairs (B⊥(d2) − B⊥(d1) = the pair's value); an epoch of ``epochs`` reached
    by no pair is left out (a warning names how many). Empty when ``dirs`` hold no baseline files.
    """
    from kansho.io.radar_meta import _bperp_from_pairs

    pairs = gamma_pair_bperp(dirs)
    if not pairs:
        return {}
    per_epoch = _bperp_from_pairs([(a, b, v) for (a, b), v in pairs.items()])
    mis = max(abs(per_epoch[b] - per_epoch[a] - v) for (a, b), v in pairs.items())
    log.info("B⊥ of %d epochs from %d GAMMA pair baselines (largest misfit %.2f m)", len(per_epoch), len(pairs), mis)
    if epochs is not None:
        missing = [int(e) for e in epochs if int(e) not in per_epoch]
        if missing:
            log.warning("no GAMMA baseline reaches %d epoch(s), e.g. %s: no B⊥ for them", len(missing), missing[0])
    return per_epoch
