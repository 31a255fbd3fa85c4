"""HTTP layer of ``kansho view``: a :class:`~http.server.ThreadingHTTPServer` serving the static
front end (``viewer/static``), JSON and PNG endpoints over :class:`~kansho.viewer.data.RunData`,
and files of the run folder (never anything outside it).

Only requests whose ``Host`` header names the server are answered (403 otherwise), so that a web
page under another name that resolves to this machine (DNS rebinding) cannot read the run; see
:meth:`_Server.host_allowed`.

Endpoints (all ``GET``; errors are JSON ``{"error": message, "code": tag}`` with a 4xx status):

=====================  ===========================================================================
``/``                  the viewer page
``/static/<name>``     the page's scripts and styles (only files shipped in the package)
``/api/meta``          grid, dates, layers, reference area, default colour limits
``/api/map.png``       a map at screen resolution: ``layer`` (a ``results/`` name, ``cum`` or
                       ``cum_filt``), ``epoch`` (index, cumulative layers), ``masked`` (0/1),
                       ``vmin``/``vmax``, ``cmap``, ``max_px``, ``ref`` (:func:`~kansho.viewer.data.parse_ref`);
                       layer ``vel_range`` with ``d1``/``d2``: the velocity over that date range;
                       ``box`` (``r0:r1,c0:c1``): only that window (a zoomed view)
``/api/hillshade.png`` shaded relief from the run's heights, ``max_px``
``/api/colormap``      ``name`` → 256 colours ``#rrggbb`` (for the colour bar)
``/api/pixel``         ``row``/``col`` (or ``lon``/``lat``), ``ref``, ``ref_date`` (yyyymmdd: the
                       series relative to that epoch), ``d1``/``d2`` (the line fitted over that
                       range): time series (raw, filtered), the run's model with its 1-σ band,
                       coordinates, quality indices
``/api/ts.csv``        the shown series as a CSV download (also ``row2``/``col2``: a second point)
``/api/profile``       values of a layer along ``line`` ('lon,lat;lon,lat;...') with distance (km)
``/api/network``       pairs with status and reason, epochs with B⊥
``/api/qc``            dropped pairs, per-pair statistics, mask statistics, reference, timings
``/files/<path>``      a file of the run folder (plots, report, info tables)
=====================  ===========================================================================
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import math
import mimetypes
import socket
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from kansho._version import __version__
from kansho.render import colormap_lut, colourize, decimation_step, encode_png, hillshade, robust_limits
from kansho.viewer.analysis import parse_box, parse_date_param, parse_line
from kansho.viewer.data import SYMMETRIC_LAYERS, RunData, ViewerError, parse_ref, safe_path
from kansho.viewer.queries import RANGE_LAYER, layer_array, pixel_answer, profile_answer, series_csv, window_array

log = logging.getLogger(__name__)

DEFAULT_MAX_PX = 800
MAX_MAX_PX = 4096
#: largest magnitude accepted for a number in a query (colour limits fit float32 with room to spare)
MAX_ABS_FLOAT = 1e30
#: largest magnitude of ``lon``/``lat`` (also covers projected grids in metres)
MAX_ABS_LONLAT = 1e9
_STATIC = {"index.html", "app.js", "style.css"}


def _static_bytes(name: str) -> bytes:
    return (resources.files("kansho.viewer") / "static" / name).read_bytes()


class ViewerApp:
    """The request logic, independent of the HTTP plumbing (``handle(path, query) -> response``)."""

    def __init__(self, run: RunData) -> None:
        self.run = run
        self._limits: dict[tuple[Any, ...], tuple[float, float]] = {}

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _int(q: dict[str, list[str]], name: str, default: int | None = None) -> int:
        v = q.get(name, [None])[0]
        if v is None or v == "":
            if default is None:
                raise ViewerError(f"missing parameter {name!r}")
            return default
        try:
            return int(v)
        except ValueError:  # also digits beyond Python's int-from-string limit
            raise ViewerError(f"parameter {name!r} must be an integer, got {v[:40]!r}") from None

    @staticmethod
    def _float(q: dict[str, list[str]], name: str, limit: float = MAX_ABS_FLOAT) -> float | None:
        v = q.get(name, [None])[0]
        if v is None or v == "":
            return None
        try:
            x = float(v)
        except ValueError:
            raise ViewerError(f"parameter {name!r} must be a number, got {v[:40]!r}") from None
        if not math.isfinite(x):
            raise ViewerError(f"parameter {name!r} must be a finite number, got {v[:40]!r}")
        if abs(x) > limit:
            raise ViewerError(f"parameter {name!r} must be within -{limit:g}..{limit:g}, got {v[:40]!r}")
        return x

    @staticmethod
    def _flag(q: dict[str, list[str]], name: str) -> bool:
        return q.get(name, ["0"])[0] in ("1", "true", "yes", "on")

    def _pixel(self, q: dict[str, list[str]], sfx: str = "") -> tuple[int, int]:
        """The pixel ``row``/``col`` or ``lon``/``lat`` (``row2``/``col2``... for the second point)."""
        if f"lon{sfx}" in q or f"lat{sfx}" in q:
            lon, lat = self._float(q, f"lon{sfx}", MAX_ABS_LONLAT), self._float(q, f"lat{sfx}", MAX_ABS_LONLAT)
            if lon is None or lat is None:
                raise ViewerError(f"give both 'lon{sfx}' and 'lat{sfx}'")
            return self.run.rowcol(lon, lat)
        row, col = self._int(q, f"row{sfx}"), self._int(q, f"col{sfx}")
        self.run.check_pixel(row, col)
        return row, col

    @staticmethod
    def _range(q: dict[str, list[str]]) -> tuple[int, int] | None:
        """The date range ``d1``/``d2`` (yyyymmdd), both or neither."""
        d1 = parse_date_param(q.get("d1", [None])[0], "d1")
        d2 = parse_date_param(q.get("d2", [None])[0], "d2")
        if (d1 is None) != (d2 is None):
            raise ViewerError("give both 'd1' and 'd2' (yyyymmdd) for a date range, or neither")
        return None if d1 is None or d2 is None else (d1, d2)

    def _epoch(self, q: dict[str, list[str]]) -> int:
        r = self.run
        epoch = self._int(q, "epoch", r.dates.size - 1)
        if not 0 <= epoch < r.dates.size:  # checked for every layer: a bad value is never silently ignored
            raise ViewerError(f"epoch index {epoch} outside 0..{r.dates.size - 1}", 400, "bad_epoch")
        return epoch

    def _max_px(self, q: dict[str, list[str]]) -> int:
        m = self._int(q, "max_px", DEFAULT_MAX_PX)
        if not 16 <= m <= MAX_MAX_PX:
            raise ViewerError(f"max_px must be within 16..{MAX_MAX_PX}")
        return m

    def default_limits(self, layer: str) -> tuple[float, float]:
        """Robust colour limits of a layer; for cumulative maps those of the last epoch (so the
        colour scale stays fixed while the date slider moves)."""
        key = (layer,)
        if key not in self._limits:
            step = decimation_step(self.run.shape, 400)
            if layer in ("cum", "cum_filt"):
                a = self.run.cum_plane(self.run.dates.size - 1, step, layer == "cum_filt")
            else:
                a = self.run.map_array(layer, step)
            self._limits[key] = robust_limits(a, symmetric=layer in SYMMETRIC_LAYERS)
        return self._limits[key]

    # ------------------------------------------------------------------ endpoints
    def meta(self) -> dict[str, Any]:
        r = self.run
        g = r.grid
        x0, dx, _, y0, _, dy = g.transform
        lim = {}
        for name in ("vel", "vel.filt", "vstd", "cum", "cum_filt"):
            if name in r.layers or name == "cum" or (name == "cum_filt" and r.has_filt):
                with contextlib.suppress(ViewerError):
                    lim[name] = self.default_limits(name)
        return {"kansho": __version__, "root": r.root.name, "width": g.width, "height": g.height,
                "transform": list(g.transform), "crs": g.crs,
                "bounds": {"west": x0, "east": x0 + dx * g.width, "north": y0, "south": y0 + dy * g.height},
                "dates": [int(d) for d in r.dates], "t": [float(v) for v in r.t], "layers": r.layers,
                "refarea": list(r.refarea) if r.refarea else None, "has_filt": r.has_filt,
                "has_mask": "mask" in r.layers, "limits": lim,
                "files": {f.relative_to(r.run.path).as_posix(): f.is_file()
                          for f in (r.run.layout.report, r.run.layout.plot("network.png"))}}

    def map_png(self, q: dict[str, list[str]]) -> tuple[bytes, dict[str, str]]:
        r = self.run
        layer = q.get("layer", ["vel"])[0]
        box = parse_box(q.get("box", [None])[0], r.shape)
        epoch = self._epoch(q)
        ref = parse_ref(q.get("ref", [None])[0], r.shape, r.grid)
        masked, rng = self._flag(q, "masked"), self._range(q)
        if box is None:
            step = decimation_step(r.shape, self._max_px(q))
            a = layer_array(r, layer, step, epoch, ref, masked, rng)
        else:  # a zoomed view: only the box is read, at the resolution asked for
            step = decimation_step((box[1] - box[0], box[3] - box[2]), self._max_px(q))
            a = window_array(r, layer, box, epoch, ref, masked, rng, step).astype(np.float32)
        lo, hi = self.default_limits("vel" if layer == RANGE_LAYER else layer)
        vmin = self._float(q, "vmin")
        vmax = self._float(q, "vmax")
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
        if not vmax > vmin:
            raise ViewerError(f"vmax ({vmax}) must be greater than vmin ({vmin})")
        cmap = q.get("cmap", ["RdBu_r" if layer in SYMMETRIC_LAYERS else "viridis"])[0]
        if len(cmap) > 64:
            raise ViewerError(f"unknown colour map {cmap[:64]!r}...")
        try:
            rgba = colourize(a, vmin, vmax, cmap)
        except ValueError as exc:
            raise ViewerError(str(exc)) from None
        return encode_png(rgba), {"X-Kansho-Vmin": f"{vmin:g}", "X-Kansho-Vmax": f"{vmax:g}",
                                  "X-Kansho-Step": str(step)}

    def hillshade_png(self, q: dict[str, list[str]]) -> bytes:
        r = self.run
        step = decimation_step(r.shape, self._max_px(q))
        h = r.hgt(step)
        if h is None:
            raise ViewerError("this run has no heights for a hillshade", 404, "not_found")
        dx_km, dy_km = r.grid.pixel_size_km()
        return encode_png(hillshade(h, dx_km * 1000 * step, dy_km * 1000 * step))

    def pixel(self, q: dict[str, list[str]], sfx: str = "") -> dict[str, Any]:
        """A pixel's series and model (``ref``, ``ref_date`` yyyymmdd, ``d1``/``d2`` date range)."""
        r = self.run
        row, col = self._pixel(q, sfx)
        ref = parse_ref(q.get("ref", [None])[0], r.shape, r.grid)
        ref_date = parse_date_param(q.get("ref_date", [None])[0], "ref_date")
        return pixel_answer(r, row, col, ref, ref_date, self._range(q))

    def ts_csv(self, q: dict[str, list[str]]) -> tuple[bytes, dict[str, str]]:
        """The shown series as CSV: the point, the second point (``row2``/``col2`` or ``lon2``/``lat2``)."""
        points = [self.pixel(q)]
        if any(k in q for k in ("row2", "col2", "lon2", "lat2")):
            points.append(self.pixel(q, "2"))
        name = "kansho_ts_" + "_".join(f"r{p['row']}_c{p['col']}" for p in points) + ".csv"
        body = series_csv(self.run.root.name, points).encode()
        return body, {"Content-Disposition": f'attachment; filename="{name}"'}

    def profile(self, q: dict[str, list[str]]) -> dict[str, Any]:
        """Values of a layer along ``line`` ('lon,lat;lon,lat;...'); ``layer``, ``epoch``, ``ref``,
        ``masked``, ``d1``/``d2`` as for the map."""
        r = self.run
        layer = q.get("layer", ["vel"])[0]
        vertices = parse_line(q.get("line", [None])[0])
        epoch = self._epoch(q)
        ref = parse_ref(q.get("ref", [None])[0], r.shape, r.grid)
        return profile_answer(r, layer, vertices, epoch, ref, self._flag(q, "masked"), self._range(q))

    def colormap(self, q: dict[str, list[str]]) -> dict[str, Any]:
        name = q.get("name", ["RdBu_r"])[0]
        if len(name) > 64:
            raise ViewerError(f"unknown colour map {name[:64]!r}...")
        try:
            lut = colormap_lut(name)
        except ValueError as exc:
            raise ViewerError(str(exc)) from None
        return {"name": name, "colors": [f"#{r:02x}{g:02x}{b:02x}" for r, g, b, _ in lut]}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = f"kansho-view/{__version__}"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200) -> None:
        self._send(status, json.dumps(obj, allow_nan=False).encode(), "application/json")

    def do_GET(self) -> None:
        t0 = time.perf_counter()
        app = self.server.app
        host = self.headers.get("Host")
        if not self.server.host_allowed(host):
            log.warning("refused a request from %s for %s: Host header %r does not name this server "
                        "(a DNS-rebinding page, or use --allow-host)", self.address_string(), self.path[:200],
                        (host or "")[:200])
            self._json({"error": f"Host {(host or '')[:100]!r} is not this viewer's address; "
                                 "open the URL kansho view printed (or start it with --allow-host NAME)",
                        "code": "forbidden_host"}, 403)
            return
        try:
            parts = urlsplit(self.path)
            path = parts.path
            q = parse_qs(parts.query, keep_blank_values=True)
            if path in ("/", "/index.html"):
                self._send(200, _static_bytes("index.html"), "text/html; charset=utf-8")
            elif path.startswith("/static/"):
                name = path[len("/static/"):]
                if name not in _STATIC:
                    raise ViewerError(f"no static file {name!r}", 404, "not_found")
                ctype = {"js": "text/javascript", "css": "text/css", "html": "text/html"}[name.rsplit(".", 1)[1]]
                self._send(200, _static_bytes(name), f"{ctype}; charset=utf-8")
            elif path == "/api/meta":
                self._json(app.meta())
            elif path == "/api/map.png":
                body, hdr = app.map_png(q)
                self._send(200, body, "image/png", hdr)
            elif path == "/api/hillshade.png":
                self._send(200, app.hillshade_png(q), "image/png")
            elif path == "/api/colormap":
                self._json(app.colormap(q))
            elif path == "/api/pixel":
                self._json(app.pixel(q))
            elif path == "/api/ts.csv":
                body, hdr = app.ts_csv(q)
                self._send(200, body, "text/csv; charset=utf-8", hdr)
            elif path == "/api/profile":
                self._json(app.profile(q))
            elif path == "/api/network":
                self._json(app.run.network())
            elif path == "/api/qc":
                self._json(app.run.qc())
            elif path.startswith("/files/"):
                self._file(app, path[len("/files/"):])
            else:
                raise ViewerError(f"no such endpoint {path!r}", 404, "not_found")
        except ViewerError as exc:
            self._json({"error": str(exc), "code": exc.code}, exc.status)
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as exc:  # a bug must answer 500, not kill the connection silently
            log.exception("viewer request %s failed", self.path[:200])
            self._json({"error": f"internal error: {type(exc).__name__}: {exc}", "code": "internal"}, 500)
        log.debug("%s answered in %.1f ms", self.path, (time.perf_counter() - t0) * 1e3)

    def _file(self, app: ViewerApp, relative: str) -> None:
        """Send a file of the run folder (404 for a missing, unreadable or unnameable one)."""
        target = safe_path(app.run.root, relative)
        try:
            if not target.is_file():
                raise ViewerError(f"no file {relative[:200]!r} in the run folder", 404, "not_found")
            body = target.read_bytes()
        except OSError as exc:  # name too long, permission denied, vanished meanwhile
            raise ViewerError(f"cannot read {relative[:200]!r} in the run folder ({exc.strerror or exc})",
                              404, "not_found") from None
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/"):
            ctype += "; charset=utf-8"
        self._send(200, body, ctype)


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::"})


def _host_name(header: str) -> str | None:
    """The host name of a ``Host`` header, lower case, without port, brackets or final dot;
    ``None`` if it is malformed (bad port, stray characters)."""
    h = header.strip().lower()
    port = ""
    if h.startswith("["):
        end = h.find("]")
        if end < 0:
            return None
        name, rest = h[1:end], h[end + 1:]
        if rest:
            if not rest.startswith(":"):
                return None
            port = rest[1:]
    else:
        if h.count(":") > 1:  # an IPv6 address must be in brackets
            return None
        name, _, port = h.partition(":")
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        return None
    name = name.rstrip(".")
    if not name or not all(c.isascii() and (c.isalnum() or c in "-._:%") for c in name):
        return None
    return name


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


class _Server(ThreadingHTTPServer):
    """The viewer's server: a deep listen queue (many concurrent clients) and a ``Host`` check
    against DNS rebinding (a web page whose name resolves to 127.0.0.1 must not read the run)."""

    daemon_threads = True
    request_queue_size = 128
    app: ViewerApp
    allowed_hosts: frozenset[str] = frozenset()

    def host_port(self) -> tuple[str, int]:
        """The address and port the server listens on."""
        h, p = self.server_address[:2]
        return (h.decode() if isinstance(h, bytes) else str(h)), int(p)

    def host_allowed(self, header: str | None) -> bool:
        """Whether a request's ``Host`` header names this server.

        Accepted: the loopback names (``localhost``, ``127.0.0.1``, ``[::1]``), the address given
        to bind, and ``allowed_hosts``; when bound to all interfaces (``0.0.0.0``/``::``) also any
        IP address and this machine's host name. The port is not compared: an SSH tunnel may
        forward another local port, and a rebinding page is told apart by its name, not its port.
        """
        if header is None:
            return False
        name = _host_name(header)
        if name is None:
            return False
        bound = self.host_port()[0].lower()
        if name in _LOOPBACK_NAMES or name == bound or name in self.allowed_hosts:
            return True
        if bound in _WILDCARDS:
            return _is_ip(name) or name in _machine_names()
        return False


def _machine_names() -> frozenset[str]:
    names = {socket.gethostname().lower()}
    with contextlib.suppress(OSError):
        names.add(socket.getfqdn().lower())
    return frozenset(n.rstrip(".") for n in names if n)


def make_server(out: str | Path, host: str = "127.0.0.1", port: int = 0,
                allow_hosts: Iterable[str] = ()) -> _Server:
    """A ready (not yet serving) viewer server for the run folder ``out``; ``port=0`` picks a free one.

    Requests must name the server in their ``Host`` header (:meth:`_Server.host_allowed`);
    ``allow_hosts`` adds names (e.g. a DNS name under which other machines reach it).

    Call ``serve_forever()`` on it (or :func:`serve_in_thread`), and ``shutdown()`` /
    ``server_close()`` to stop.
    """
    run = RunData(out)
    srv = _Server((host, port), _Handler)
    srv.app = ViewerApp(run)
    names = (host, *allow_hosts)  # the name given to bind, not only the address it resolved to
    srv.allowed_hosts = frozenset(h.strip().lower().strip("[]").rstrip(".") for h in names if h.strip())
    return srv


def serve_in_thread(out: str | Path, host: str = "127.0.0.1", port: int = 0) -> tuple[_Server, str]:
    """Start a viewer in a daemon thread; returns the server and its base URL (tests, notebooks)."""
    srv = make_server(out, host, port)
    threading.Thread(target=srv.serve_forever, name="kansho-view", daemon=True).start()
    h, p = srv.host_port()
    return srv, f"http://{h}:{p}"


__all__ = ["DEFAULT_MAX_PX", "ViewerApp", "make_server", "serve_in_thread"]
