"""After a download: the manifest of where each file came from, and the check of every raster against the frame's grid.

**Manifest** (``OUT/download_manifest.json``): for each file placed, the URL it came from (the
direct one, or the link followed on the portal's entry page), its size and status. The next run
asks those URLs first (:class:`kansho.io.http.Fetcher` ``known``), so it resolves nothing again.

**Grid check**: every interferogram, coherence and per-epoch layer must have the frame's grid
(width, height, CRS, transform within a thousandth of a pixel). The frame's grid is that of its
geometry (``<FRAME>.geo.E/N/U/hgt.tif``; of those, the one most interferograms agree with), or,
without geometry, the grid most interferograms share. The portal holds, now and then, pairs of
another size inside one frame: such a pair is **quarantined**, moved whole from ``GEOC/<pair>/``
to ``OUT/quarantine/GEOC/<pair>/`` (a layer file to ``OUT/quarantine/<folder>/<file>``), listed
with its reason in ``OUT/quarantine.txt`` and the log, and never stops the download; a later run
leaves what is quarantined alone (remove the folder to fetch it again).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kansho._files import write_text_atomic

log = logging.getLogger(__name__)

__all__ = [
    "MANIFEST",
    "QUARANTINE_DIR",
    "QUARANTINE_LIST",
    "GridKey",
    "check_grids",
    "quarantined_dests",
    "read_manifest",
    "write_manifest",
]

MANIFEST = "download_manifest.json"
QUARANTINE_DIR = "quarantine"
QUARANTINE_LIST = "quarantine.txt"
_MANIFEST_VERSION = 1


# --------------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------------
def read_manifest(out: Path) -> dict[str, dict[str, object]]:
    """The files recorded by the last run (destination → record); empty when none or unreadable (warned)."""
    path = out / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError("'files' is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: unreadable (%s): every file is looked up again", path, exc)
        return {}
    return {str(k): v for k, v in files.items() if isinstance(v, dict)}


def known_urls(records: Mapping[str, Mapping[str, object]]) -> dict[str, str]:
    """Destination → the http(s) URL a file came from, from a manifest's records."""
    out = {}
    for dest, rec in records.items():
        url = rec.get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            out[dest] = url
    return out


def write_manifest(out: Path, frame_id: str, base_url: str, records: Mapping[str, Mapping[str, object]],
                   files: Iterable[tuple[str, str, int | None, str]]) -> Path:
    """Write the manifest atomically: the earlier ``records`` updated with this run's ``files``
    (destination, URL, size, status); files absent or failed this run keep no URL."""
    merged = {k: dict(v) for k, v in records.items()}
    for dest, url, size, status in files:
        if status in ("fetched", "skipped"):
            merged[dest] = {"url": url, "size": size, "status": status}
        else:
            merged.pop(dest, None)
    doc = {"version": _MANIFEST_VERSION, "frame": frame_id, "base_url": base_url,
           "files": dict(sorted(merged.items()))}
    return write_text_atomic(out / MANIFEST, json.dumps(doc, indent=1) + "\n")


# --------------------------------------------------------------------------------------------
# Grid check and quarantine
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GridKey:
    """A raster's grid: size, CRS and transform (a, b, c, d, e, f)."""

    width: int
    height: int
    crs: str
    transform: tuple[float, ...]

    def matches(self, other: GridKey) -> bool:
        """Same size and CRS, transform within a thousandth of a pixel."""
        if (self.width, self.height, self.crs) != (other.width, other.height, other.crs):
            return False
        tol = 1e-3 * min(abs(self.transform[0]) or 1.0, abs(self.transform[4]) or 1.0)
        return all(abs(x - y) <= tol for x, y in zip(self.transform, other.transform, strict=True))

    def __str__(self) -> str:
        a, _b, c, _d, e, f = self.transform
        return f"{self.width}x{self.height} px, origin ({c:.6f}, {f:.6f}), pixel ({a:.6g}, {e:.6g})"


def grid_of(path: Path) -> GridKey | None:
    """The grid of a GeoTIFF (None: it cannot be opened)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                crs = ds.crs.to_string() if ds.crs else ""
                return GridKey(ds.width, ds.height, crs, tuple(float(v) for v in ds.transform)[:6])
    except (RasterioError, OSError):
        return None


def quarantined_dests(out: Path, dests: Iterable[str]) -> set[str]:
    """The destinations quarantined by an earlier run (the file is under ``OUT/quarantine/``)."""
    q = out / QUARANTINE_DIR
    return {d for d in dests if (q / d).is_file()} if q.is_dir() else set()


def _frame_grid(out: Path, fid: str, pair_grids: dict[str, GridKey]) -> tuple[GridKey | None, str]:
    """The frame's reference grid and where it comes from."""
    votes = Counter(pair_grids.values())
    best: tuple[int, GridKey, str] | None = None
    for key in ("E", "N", "U", "hgt"):
        path = out / "GEOC" / f"{fid}.geo.{key}.tif"
        g = grid_of(path) if path.is_file() else None
        if g is None:
            continue
        agree = sum(n for pg, n in votes.items() if g.matches(pg))
        if best is None or agree > best[0]:
            best = (agree, g, path.name)
    if best is not None and (best[0] > 0 or not votes):
        return best[1], best[2]
    if votes:
        g, _n = votes.most_common(1)[0]
        if best is not None:
            log.warning("%s: no interferogram has the geometry's grid (%s); the grid most of them share is used",
                        fid, best[1])
        return g, "the interferograms' most common grid"
    return None, ""


def check_grids(out: Path, fid: str, pairs: Iterable[str], layer_files: Iterable[str]) -> list[tuple[str, str]]:
    """Quarantine the pairs and layer files (paths under ``out``) whose grid is not the frame's.

    Returns ``(path under out, reason)`` of each item quarantined this run, also appended to
    ``OUT/quarantine.txt`` and logged. Geometry files that disagree with the frame's grid are
    only warned about.
    """
    geoc = out / "GEOC"
    pair_files = {p: [geoc / p / f"{p}.geo.{k}.tif" for k in ("unw", "cc")] for p in pairs}
    pair_files = {p: fs for p, fs in pair_files.items() if all(f.is_file() for f in fs)}
    unw_grids = {p: g for p, fs in pair_files.items() if (g := grid_of(fs[0])) is not None}
    ref, origin = _frame_grid(out, fid, unw_grids)
    if ref is None:
        return []
    for key in ("E", "N", "U", "hgt"):
        path = geoc / f"{fid}.geo.{key}.tif"
        g = grid_of(path) if path.is_file() else None
        if g is not None and not g.matches(ref):
            log.warning("%s: grid %s differs from the frame's (%s, from %s)", path, g, ref, origin)
    moved: list[tuple[str, str]] = []
    for p, files in sorted(pair_files.items()):
        bad = [(f, g) for f in files if (g := grid_of(f)) is None or not g.matches(ref)]
        if bad:
            f, g = bad[0]
            reason = f"{f.name}: grid {g or 'unreadable'} is not the frame's ({ref}, from {origin})"
            moved.append(_quarantine(out, f"GEOC/{p}", reason))
    for rel in sorted(layer_files):
        path = out / rel
        g = grid_of(path) if path.is_file() else None
        if path.is_file() and (g is None or not g.matches(ref)):
            reason = f"grid {g or 'unreadable'} is not the frame's ({ref}, from {origin})"
            moved.append(_quarantine(out, rel, reason))
    if moved:
        _append_list(out, moved)
    return moved


def _quarantine(out: Path, rel: str, reason: str) -> tuple[str, str]:
    src, dst = out / rel, out / QUARANTINE_DIR / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_dir():
        shutil.rmtree(dst)
    elif dst.exists():
        dst.unlink()
    src.replace(dst)
    log.warning("quarantined %s -> %s: %s", rel, dst.relative_to(out), reason)
    return rel, reason


def _append_list(out: Path, moved: list[tuple[str, str]]) -> None:
    path = out / QUARANTINE_LIST
    old = ""
    with contextlib.suppress(OSError):
        old = path.read_text()
    header = "" if old else ("# items moved to quarantine/ by 'kansho download': not the frame's grid "
                             "(remove quarantine/<item> to fetch it again)\n")
    write_text_atomic(path, old + header + "".join(f"{rel}\t{reason}\n" for rel, reason in moved))
