"""A LiCSBAS time-series folder ``TS_GEOCml*`` read as it stands (nothing is written into it).

LiCSBAS (Morishita et al. 2020) leaves, after its steps 11-16::

    TS_GEOCml10/cum.h5, cum_filt.h5        the cubes (optional here: a folder may hold only results/)
    TS_GEOCml10/results/vel, vstd, coh_avg, n_unw, mask, hgt, vel.filt, vel.mskd, ...
                                           headerless float32 little-endian rasters, NaN = no data
    TS_GEOCml10/info/EQA.dem_par           GAMMA grid: width, nlines, corner_lat/lon (pixel centre),
                                           post_lat/lon
    TS_GEOCml10/info/slc.mli.par           range_samples, azimuth_lines, radar_frequency
    TS_GEOCml10/info/13used_image.txt      the epochs of the series, one yyyymmdd a line
    TS_GEOCml10/info/12ref.txt, 13ref.txt  reference areas "x1:x2/y1:y2" of results/vel and of cum.h5
    TS_GEOCml10/info/13parameters.txt      wavelength, n_im, n_ifg, ref_area, ...
    GEOCml10/E.geo N.geo U.geo             (beside the TS folder) the LOS unit vector

:class:`LicsbasTs` reads these; :class:`kansho.run.Run` uses it when :func:`is_licsbas_ts` says a
folder is one, so the viewer, the exports and the geodesy tools open it like a Kansho run.
Rasterio readers get each flat map through a GDAL VRT (raw band, EPSG:4326, NaN nodata) written in
a cache folder outside the LiCSBAS folder (:meth:`LicsbasTs.vrt`).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import tempfile
from functools import cached_property
from pathlib import Path

import numpy as np

from kansho._types import Float32Array
from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.licsbas_geoc import read_gamma_par

log = logging.getLogger(__name__)

__all__ = ["INFO_NAMES", "LicsbasTs", "dem_par_grid", "is_licsbas_ts"]

#: Kansho's info/ keys (kansho.layout.INFO_FILES) → the LiCSBAS file holding the same kind of table
INFO_NAMES = {"ifg_stats": "11ifg_stats.txt", "bad_ifg_qc": "11bad_ifg.txt", "bad_ifg_loops": "12bad_ifg.txt",
              "no_loop_ifg": "12no_loop_ifg.txt", "ref": "12ref.txt", "network_gaps": "12network_gap_info.txt",
              "mask_stats": "15parameters.txt", "filter": "16parameters.txt", "parameters": "13parameters.txt"}
#: suffixes of files in results/ that are not flat rasters
_NOT_RASTER = (".png", ".kmz", ".kml", ".tif", ".txt", ".h5", ".nc", ".vrt", ".hdr", ".xml", ".aux")
_WKT84 = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],PRIMEM["Greenwich",0],'
          'UNIT["degree",0.0174532925199433],AUTHORITY["EPSG","4326"]]')


def is_licsbas_ts(folder: str | Path) -> bool:
    """True if ``folder`` is a LiCSBAS time-series folder: a flat ``results/vel`` (not Kansho's
    ``vel.tif``) with a grid (``cum.h5`` or ``EQA.dem_par`` in ``info/`` or the GEOC folder beside it)."""
    p = Path(folder)
    try:
        if not (p / "results" / "vel").is_file() or (p / "results" / "vel.tif").is_file():
            return False
        return (p / "cum.h5").is_file() or _dem_par(p) is not None
    except OSError:
        return False


def _geoc_dir(root: Path) -> Path | None:
    """The ``GEOCml*`` folder a ``TS_GEOCml*`` folder was made from (beside it), if there."""
    if root.name.startswith("TS_"):
        g = root.parent / root.name[3:]
        if g.is_dir():
            return g
    return None


def _dem_par(root: Path) -> Path | None:
    for cand in (root / "info" / "EQA.dem_par", root / "EQA.dem_par"):
        if cand.is_file():
            return cand
    g = _geoc_dir(root)
    return g / "EQA.dem_par" if g is not None and (g / "EQA.dem_par").is_file() else None


def dem_par_grid(path: Path) -> Grid:
    """The grid of a GAMMA ``EQA.dem_par`` (``corner_*`` is the centre of the top-left pixel)."""
    v = read_gamma_par(path)
    try:
        width, length = int(v["width"].split()[0]), int(v["nlines"].split()[0])
        lat0, lon0 = float(v["corner_lat"].split()[0]), float(v["corner_lon"].split()[0])
        dlat, dlon = float(v["post_lat"].split()[0]), float(v["post_lon"].split()[0])
    except (KeyError, ValueError, IndexError) as exc:
        raise InputError(path, f"malformed parameter file: width/nlines/corner_*/post_* ({exc})") from None
    if width < 1 or length < 1 or dlat == 0 or dlon == 0:
        raise InputError(path, f"malformed parameter file: width {width}, nlines {length}, posts {dlat}, {dlon}")
    dlat = -abs(dlat)
    return Grid(width, length, (lon0 - dlon / 2.0, dlon, 0.0, lat0 - dlat / 2.0, 0.0, dlat), "EPSG:4326")


class LicsbasTs:
    """Read access to the LiCSBAS time-series folder ``root`` (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.results = self.root / "results"
        self.info = self.root / "info"

    @cached_property
    def grid(self) -> Grid:
        """From ``EQA.dem_par`` (info/, or the GEOC folder beside), else from ``cum.h5``'s corners."""
        par = _dem_par(self.root)
        if par is not None:
            return dem_par_grid(par)
        from kansho.io.licsbas_h5 import CumReader

        with CumReader(self.root / "cum.h5") as r:
            if r.grid is None:
                raise InputError(self.root, "no EQA.dem_par and no georeference in cum.h5: the grid is unknown")
            return r.grid

    # ------------------------------------------------------------------ maps
    def layers(self) -> list[str]:
        """Flat float32 rasters of ``results/`` (their byte size is width x length x 4)."""
        if not self.results.is_dir():
            return []
        size = 4 * self.grid.width * self.grid.height
        out = []
        for p in self.results.iterdir():
            if p.is_file() and not p.name.startswith(".") and not p.name.endswith(_NOT_RASTER) \
                    and p.stat().st_size == size:
                out.append(p.name)
        return sorted(out)

    def map_file(self, name: str) -> Path:
        return self.results / name

    def read_map(self, name: str) -> Float32Array:
        """``results/<name>`` as (rows, cols) float32; InputError if missing or of the wrong size."""
        path = self.map_file(name)
        if not path.is_file():
            raise InputError(path, f"no '{name}' map in this LiCSBAS folder")
        g = self.grid
        a = np.fromfile(path, dtype="<f4")
        if a.size != g.width * g.height:
            raise InputError(path, f"wrong byte size: {4 * a.size} bytes, expected {4 * g.width * g.height} "
                                   f"(float32, {g.width} x {g.height} px from EQA.dem_par)")
        return a.reshape(g.height, g.width).astype(np.float32)

    def vrt(self, name: str) -> Path:
        """A GDAL VRT of ``results/<name>`` (raw float32 LE band, georeferenced, NaN nodata), cached
        in the temporary folder: rasterio and GDAL open it like a GeoTIFF."""
        src = self.map_file(name).resolve()
        st = src.stat()
        key = hashlib.sha1(f"{src}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:20]
        target = Path(tempfile.gettempdir()) / "kansho-licsbas-vrt" / key / f"{name}.vrt"
        if target.is_file():
            return target
        g = self.grid
        x0, dx, _, y0, _, dy = g.transform
        xml = (f'<VRTDataset rasterXSize="{g.width}" rasterYSize="{g.height}">\n'
               f"  <SRS>{_WKT84}</SRS>\n"
               f"  <GeoTransform>{x0!r}, {dx!r}, 0.0, {y0!r}, 0.0, {dy!r}</GeoTransform>\n"
               '  <VRTRasterBand dataType="Float32" band="1" subClass="VRTRawRasterBand">\n'
               f"    <Description>{name}</Description>\n"
               "    <NoDataValue>nan</NoDataValue>\n"
               f'    <SourceFilename relativetoVRT="0">{_xml_escape(str(src))}</SourceFilename>\n'
               f"    <ImageOffset>0</ImageOffset><PixelOffset>4</PixelOffset>"
               f"<LineOffset>{4 * g.width}</LineOffset><ByteOrder>LSB</ByteOrder>\n"
               "  </VRTRasterBand>\n</VRTDataset>\n")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(xml)
        os.replace(tmp, target)
        return target

    # ------------------------------------------------------------------ series
    @cached_property
    def dates(self) -> np.ndarray:
        """Epochs (int64 yyyymmdd): ``cum.h5``'s ``imdates``, else ``info/13used_image.txt``."""
        if (self.root / "cum.h5").is_file():
            from kansho.io.licsbas_h5 import CumReader

            with CumReader(self.root / "cum.h5") as r:
                return np.asarray(r.imdates, np.int64)
        path = self.info / "13used_image.txt"
        if not path.is_file():
            raise InputError(self.root, "no cum.h5 and no info/13used_image.txt: the epochs are unknown")
        dates = [int(t) for t in re.findall(r"^\s*(\d{8})\b", path.read_text(errors="replace"), re.M)]
        if not dates or any(b <= a for a, b in itertools.pairwise(dates)):
            raise InputError(path, "expected increasing yyyymmdd dates, one a line")
        return np.asarray(dates, np.int64)

    @cached_property
    def refarea(self) -> tuple[int, int, int, int] | None:
        """``(row0, row1, col0, col1)`` of the reference: ``cum.h5``'s (that of the series), else
        ``info/12ref.txt`` (that of ``results/vel``), else ``info/13ref.txt``.

        LiCSBAS's step 13 writes ``results/vel`` referenced to ``12ref.txt`` and then moves the
        series in ``cum.h5`` (and its own ``vel``) to the pixel of ``13ref.txt``; step 16 writes
        ``vel.filt`` referenced to ``16ref.txt``.
        """
        from kansho.io.licsbas_h5 import CumReader, parse_refarea

        if (self.root / "cum.h5").is_file():
            with CumReader(self.root / "cum.h5") as r:
                return r.refarea_box
        for name in ("12ref.txt", "13ref.txt"):
            p = self.info / name
            if p.is_file():
                try:
                    return parse_refarea(p.read_text().strip().splitlines()[0])
                except (ValueError, IndexError):
                    raise InputError(p, "expected the reference area as 'x1:x2/y1:y2'") from None
        return None

    @cached_property
    def wavelength(self) -> float | None:
        """Radar wavelength (m): ``info/13parameters.txt``, else ``radar_frequency`` of ``slc.mli.par``."""
        p = self.info / "13parameters.txt"
        if p.is_file():
            m = re.search(r"^\s*wavelength:\s*([0-9.eE+-]+)", p.read_text(errors="replace"), re.M)
            if m:
                return float(m.group(1))
        geoc = _geoc_dir(self.root)
        for par in (self.info / "slc.mli.par", *([geoc / "slc.mli.par"] if geoc else [])):
            if par.is_file():
                f = read_gamma_par(par).get("radar_frequency", "").split()
                if f:
                    try:
                        return 299792458.0 / float(f[0])
                    except (ValueError, ZeroDivisionError):
                        return None
        return None

    def los(self) -> tuple[Float32Array, Float32Array, Float32Array]:
        """LOS unit vector (east, north, up) from ``E.geo``/``N.geo``/``U.geo`` of the GEOC folder beside."""
        geoc = _geoc_dir(self.root)
        files = [(geoc or self.root) / f"{c}.geo" for c in "ENU"]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise InputError(missing[0], "missing: the LOS direction of a LiCSBAS folder comes from E.geo, N.geo "
                                         "and U.geo of its GEOCml folder")
        g = self.grid
        out = []
        for f in files:
            a = np.fromfile(f, dtype="<f4")
            if a.size != g.width * g.height:
                raise InputError(f, f"wrong byte size: {4 * a.size} bytes for {g.width} x {g.height} float32")
            out.append(a.reshape(g.height, g.width).astype(np.float32))
        return out[0], out[1], out[2]

    def info_file(self, key: str) -> Path:
        """The LiCSBAS ``info/`` file for Kansho's table ``key`` (``info/<key>`` if no match)."""
        return self.info / INFO_NAMES.get(key, key)

    def bad_pairs(self) -> dict[str, tuple[str, str]]:
        """Pairs LiCSBAS dropped: ``pair -> (step, reason)`` from ``11bad_ifg.txt`` (step 1-1, coverage
        or coherence) and ``12bad_ifg.txt`` (step 1-2, loop closure)."""
        out: dict[str, tuple[str, str]] = {}
        for name, step, reason in (("11bad_ifg.txt", "1-1", "low coverage or coherence (LiCSBAS step 11)"),
                                   ("12bad_ifg.txt", "1-2", "loop closure (LiCSBAS step 12)")):
            p = self.info / name
            if p.is_file():
                for pair in re.findall(r"^\s*(\d{8}_\d{8})\b", p.read_text(errors="replace"), re.M):
                    out.setdefault(pair, (step, reason))
        return out

    def info_text(self, key: str) -> str | None:
        """Kansho's ``info/`` table ``key`` made from LiCSBAS's files (None when they are missing):
        ``ifg_stats`` (11ifg_stats.txt with Kansho's ``used`` and ``note`` columns), ``dropped``
        (``pair,step,reason`` CSV of the bad-ifg lists); any other key is the matching file as it is."""
        if key == "dropped":
            bad = self.bad_pairs()
            if not bad:
                return None
            return "pair,step,reason\n" + "".join(f"{p},{s},{r}\n" for p, (s, r) in sorted(bad.items()))
        p = self.info_file(key)
        if not p.is_file():
            return None
        text = p.read_text(errors="replace")
        if key != "ifg_stats":
            return text
        bad = self.bad_pairs()
        lines = ["# pair              bperp_m  dt_day  coverage  mean_coh  used  note"]
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 5 and re.fullmatch(r"\d{8}_\d{8}", parts[0]):
                step, reason = bad.get(parts[0], ("", ""))
                lines.append(f"{parts[0]}  {parts[1]:>8}  {parts[2]:>6}  {parts[3]:>8}  {parts[4]:>8}  "
                             f"{'no' if step else 'yes':>4}  {reason}")
        return "\n".join(lines) + "\n"


def _xml_escape(text: str) -> str:
    from xml.sax.saxutils import escape

    return escape(text)
