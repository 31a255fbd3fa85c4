"""``kansho view``: a local web viewer of a finished run (velocity maps, per-pixel time series,
cumulative maps by date, re-referencing, network and QC tables).

Standard-library HTTP server (:mod:`http.server`), static HTML/JS front end shipped in
``viewer/static`` (no network access needed), plots drawn with SVG and canvas.
"""

from __future__ import annotations

from kansho.viewer.data import RunData, ViewerError, safe_path
from kansho.viewer.server import ViewerApp, make_server, serve_in_thread

__all__ = ["RunData", "ViewerApp", "ViewerError", "make_server", "safe_path", "serve_in_thread"]
