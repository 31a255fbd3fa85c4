"""``kansho view OUT``: the local web viewer of a finished run."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def register(sub: Any, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("view", help="interactive web viewer of a finished run (maps, time series, network, QC)",
                       formatter_class=fmt,
                       description="Serve a local web page on the run folder OUT: velocity and cumulative maps, "
                                   "click a pixel for its time series, change the reference, network and QC tables. "
                                   "Binds 127.0.0.1 unless --host says otherwise; stop with Ctrl+C.")
    p.add_argument("out", type=Path, help="run folder (with cum.h5 and results/) or a LiCSBAS TS_GEOCml* folder")
    p.add_argument("--port", type=int, default=8765, help="TCP port (0 = any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind; 0.0.0.0 shares the viewer with your network (deliberately)")
    p.add_argument("--allow-host", action="append", default=None, metavar="NAME",
                   help="also answer requests that name the server NAME (a DNS name under which other machines "
                        "reach it); other names are refused against DNS rebinding (repeatable)")
    p.add_argument("--no-browser", action="store_true", help="do not open a web browser")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import webbrowser

    from kansho.errors import ConfigError
    from kansho.viewer import make_server

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be within 0..65535, got {args.port}")
    try:
        srv = make_server(args.out, args.host, args.port, args.allow_host or ())
    except OSError as exc:
        raise ConfigError(f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc})") from None
    host, port = srv.host_port()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/"
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the viewer is reachable from other machines at port %d (--host %s)", port, host)
    log.info("viewing %s at %s (Ctrl+C to stop)", args.out, url)
    sys.stdout.write(f"Kansho viewer: {url}\n")
    sys.stdout.flush()
    if not args.no_browser:
        webbrowser.open(url)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
        srv.app.run.close()
    return 0
