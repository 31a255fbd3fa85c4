"""Polygons for masking and clipping: GeoJSON files (FeatureCollection, Feature or geometry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kansho.errors import InputError

__all__ = ["read_polygons"]


def read_polygons(path: str | Path) -> list[dict[str, Any]]:
    """The Polygon/MultiPolygon geometries of a GeoJSON file, in lon/lat (EPSG:4326).

    Raises :class:`InputError` (one line, naming the file) if it is missing, not JSON, or holds no
    polygon.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(path, "polygon file not found")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"not a GeoJSON file ({str(exc).splitlines()[0][:80]})") from None
    geoms: list[dict[str, Any]] = []

    def take(obj: Any) -> None:
        if not isinstance(obj, dict):
            return
        t = obj.get("type")
        if t == "FeatureCollection":
            for f in obj.get("features") or []:
                take(f)
        elif t == "Feature":
            take(obj.get("geometry"))
        elif t == "GeometryCollection":
            for g in obj.get("geometries") or []:
                take(g)
        elif t in ("Polygon", "MultiPolygon"):
            if not isinstance(obj.get("coordinates"), list) or not obj["coordinates"]:
                raise InputError(path, f"malformed GeoJSON: a {t} without coordinates")
            geoms.append(obj)

    take(doc)
    if not geoms:
        raise InputError(path, "no Polygon or MultiPolygon in the GeoJSON file")
    return geoms
