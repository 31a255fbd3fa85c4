"""``kansho plot-ts OUT --point LON,LAT``: a point's time series as a PNG and a CSV, from the command line.

The series are read as the viewer reads them (:class:`kansho.viewer.data.RunData`: only the pixel's
column of ``cum.h5``), re-referenced to ``--ref`` when given, and drawn with the run's model over
them: the straight line of the velocity map (``vel``, ``vintercept``; step 1-3 fits it to every
pixel's series), re-referenced as the series are. Displacement in mm along the line of sight,
positive toward the satellite.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import io
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kansho._dates import decimal_year

if TYPE_CHECKING:
    from kansho.viewer.data import RunData, Series

log = logging.getLogger(__name__)


def register(sub: Any, fmt: type[argparse.HelpFormatter]) -> None:
    from kansho._lonlat import BOX_FORMS, POINT_FORMS, point_arg

    p = sub.add_parser("plot-ts", help="time series of points (lon,lat) of a run as a PNG and a CSV",
                       formatter_class=fmt,
                       description="Plot the LOS displacement time series (mm, positive toward the satellite) of one "
                       "or more points of the run folder OUT, with the run's linear model over them, and write "
                       "them to PREFIX.png and PREFIX.csv.")
    p.add_argument("out", type=Path, help="run folder (with cum.h5)")
    p.add_argument("--point", type=point_arg(), action="append", required=True, metavar="LON,LAT",
                   help=f"a point, {POINT_FORMS}: the pixel holding it (repeatable)")
    p.add_argument("--ref", default=None, metavar="BOX|LON,LAT",
                   help=f"reference: the mean of the pixels with data at every epoch in a box, {BOX_FORMS['any']}; "
                        "or the pixel holding a point LON,LAT (default: the run's own reference area)")
    p.add_argument("-o", "--out", dest="output", type=Path, default=None, metavar="PREFIX",
                   help="write PREFIX.png and PREFIX.csv (default: OUT/plots/ts_<lon>_<lat> of the first point)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    png, table = plot_points(args.out, args.point, ref=args.ref, prefix=args.output)
    sys.stdout.write(f"png: {png}\ncsv: {table}\n")
    return 0


def _tag(lon: float, lat: float) -> str:
    lon = (lon + 180.0) % 360.0 - 180.0
    return f"{abs(lon):.5f}{'W' if lon < 0 else 'E'}_{abs(lat):.5f}{'S' if lat < 0 else 'N'}"


@dataclass(frozen=True)
class PointSeries:
    """One point's series: where it is, the re-referenced series and the run's model at the epochs."""

    lon: float
    lat: float
    series: Series
    vel: float | None  # mm/yr, re-referenced
    model: np.ndarray | None  # mm at each epoch (None without a velocity at the pixel)


def parse_plot_ref(text: str | None, data: RunData) -> tuple[int, int, int, int] | None:
    """``--ref`` -> a pixel box ``(row0, row1, col0, col1)`` (end-exclusive) of ``data``'s grid, or None."""
    from kansho._lonlat import parse_box, parse_point
    from kansho.errors import ConfigError
    from kansho.viewer.data import ViewerError, parse_ref

    if text is None or not text.strip():
        return None
    t = text.strip()
    try:
        if "," in t and "/" not in t:
            r, c = data.rowcol(*parse_point(t))
            box = (r, r + 1, c, c + 1)
        else:
            kind, v = parse_box(t)
            if kind == "pixel":
                x1, x2, y1, y2 = (int(a) for a in v)
                box = (y1, y2, x1, x2)
            else:
                box = data.grid.lonlat_box(*v)
        r0, r1, c0, c1 = box
        return parse_ref(f"{r0}:{r1},{c0}:{c1}", data.shape)
    except (ValueError, ViewerError) as exc:
        raise ConfigError(f"--ref {text}: {exc}") from None


def _model(data: RunData, row: int, col: int, ref: tuple[int, int, int, int] | None,
           t: np.ndarray) -> tuple[float | None, np.ndarray | None]:
    """The run's line at the pixel (velocity map and intercept), minus the reference box's mean line."""
    from kansho.viewer.data import ViewerError

    vals = data.pixel_values(row, col)
    vel, icpt = vals.get("vel"), vals.get("vintercept")
    if vel is None or icpt is None:
        return None, None
    if ref is not None:
        try:
            vel -= data.layer_ref_value("vel", ref)
            icpt -= data.layer_ref_value("vintercept", ref)
        except ViewerError:
            return None, None
    return vel, vel * t + icpt


def read_points(data: RunData, points: list[tuple[float, float]], ref: tuple[int, int, int, int] | None,
                ) -> list[PointSeries]:
    """Each point's series (re-referenced to ``ref``, else the run's reference) and model.
    :class:`InputError` naming the run folder for a point off the grid or without data."""
    from kansho._lonlat import format_lonlat
    from kansho.errors import InputError
    from kansho.viewer.data import ViewerError

    out = []
    for lon, lat in points:
        where = f"point {format_lonlat(lon, lat)} (--point={lon},{lat})"
        try:
            row, col = data.rowcol(lon, lat)
            s = data.series(row, col, ref)
        except ViewerError as exc:
            if exc.code == "outside_grid":
                g = data.grid
                lo, la = g.lon(), g.lat()
                raise InputError(data.root, f"{where} is outside the run's frame (lon {lo.min():.5f}..{lo.max():.5f}, "
                                            f"lat {la.min():.5f}..{la.max():.5f})") from None
            raise InputError(data.root, f"{where}: {exc}") from None
        vel, model = _model(data, row, col, ref, s.t)
        out.append(PointSeries(lon, lat, s, vel, model))
    return out


def _f(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.4f}"


def csv_text(pts: list[PointSeries]) -> str:
    """One row per point and epoch: point, lon, lat, row, col, date, decimal_year, cum_mm, cum_filt_mm, model_mm."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["point", "lon", "lat", "row", "col", "date", "decimal_year", "cum_mm", "cum_filt_mm", "model_mm"])
    for k, p in enumerate(pts, start=1):
        s = p.series
        dy = decimal_year(s.dates)
        filt = s.cum_filt if s.cum_filt is not None else np.full(s.cum.shape, np.nan)
        model = p.model if p.model is not None else np.full(s.cum.shape, np.nan)
        for i, d in enumerate(s.dates):
            w.writerow([k, f"{p.lon:.7f}", f"{p.lat:.7f}", s.row, s.col, int(d), f"{dy[i]:.5f}", _f(s.cum[i]),
                        _f(filt[i]), _f(model[i])])
    return buf.getvalue()


def draw(pts: list[PointSeries], ref_text: str, path: Path) -> None:
    """One panel per point: the series (and the filtered one), the run's line; dates on the x axis."""
    import matplotlib

    from kansho._lonlat import format_lonlat

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(pts), 1, figsize=(9, 3.2 * len(pts) + 0.6), sharex=True, squeeze=False)
    for ax, p in zip(axes[:, 0], pts, strict=True):
        s = p.series
        when = [_dt.datetime.strptime(str(int(d)), "%Y%m%d") for d in s.dates]
        ax.plot(when, s.cum, "o", ms=4, color="#1f77b4", label="cum")
        if s.cum_filt is not None:
            ax.plot(when, s.cum_filt, "-", lw=1.2, color="#ff7f0e", label="cum_filt")
        if p.model is not None:
            ax.plot(when, p.model, "--", lw=1.2, color="k", label=f"run's model: {p.vel:+.1f} mm/yr")
        ax.set_ylabel("LOS displacement (mm)\ntoward the satellite")
        ax.set_title(f"{format_lonlat(p.lon, p.lat)}  (row {s.row}, col {s.col})", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    ax = axes[-1, 0]
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    fig.suptitle(f"reference: {ref_text}", fontsize=9)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)


def plot_points(out: str | Path, points: list[tuple[float, float]], *, ref: str | None = None,
                prefix: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``PREFIX.png`` and ``PREFIX.csv`` of ``points`` (lon, lat) of run folder ``out``; returns their paths."""
    from kansho._files import write_text_atomic
    from kansho.errors import ConfigError
    from kansho.viewer.data import RunData

    if not points:
        raise ConfigError("plot-ts needs at least one --point LON,LAT")
    data = RunData(out)
    try:
        box = parse_plot_ref(ref, data)
        pts = read_points(data, points, box)
    finally:
        data.close()
    if prefix is None:
        prefix = data.root / "plots" / f"ts_{_tag(*points[0])}"
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    png, table = prefix.with_name(prefix.name + ".png"), prefix.with_name(prefix.name + ".csv")
    write_text_atomic(table, csv_text(pts))
    ref_text = "the run's own reference area" if box is None else \
        f"{ref} (rows {box[0]}:{box[1]}, cols {box[2]}:{box[3]})"
    draw(pts, ref_text, png)
    return png, table
