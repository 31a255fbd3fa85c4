"""The list of frames of a batch (``FRAMES_FILE``): YAML or CSV.

YAML: either a list of frames, or a mapping with ``defaults`` (options for every frame), an
optional ``config`` (a ``kansho ts`` YAML config file, relative to the frames file) and ``frames``::

    config: ts.yaml            # optional, options shared by every frame
    defaults: {mask.stc: 8}    # optional, dotted option overrides for every frame
    frames:
      - id: 021D_05266_252525
        source: portal         # download from the LiCSAR portal
        start: 20170101
        end: 20201231
      - id: my_area
        source: data/my_area/GEOC   # a local folder (relative to the frames file)
        options: {loops.ref: "10:20/10:20", invert.min_pairs_factor: 0.3}

CSV: a header row with ``id,source,start,end`` (start/end may be empty) and any further columns
named by a dotted option (``mask.stc``), whose non-empty cells override that option for the frame.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kansho.errors import InputError

PORTAL = "portal"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_KNOWN = {"id", "source", "start", "end", "options", "base_url", "max_tlen_days"}


@dataclass(frozen=True)
class FrameSpec:
    """One frame of a batch.

    ``source`` is ``"portal"`` or the absolute path of a local input folder; ``options`` maps
    dotted ``kansho ts`` options (``"mask.stc"``) to values; ``start``/``end`` are yyyymmdd or None.
    """

    id: str
    source: str
    start: int | None = None
    end: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    config: str | None = None
    base_url: str | None = None
    max_tlen_days: float | None = None

    @property
    def is_portal(self) -> bool:
        return self.source == PORTAL

    def key(self) -> str:
        """A hash of everything that defines the frame's run (not of its input files' contents)."""
        cfg_text = ""
        if self.config:
            try:
                cfg_text = Path(self.config).read_text()
            except OSError:
                cfg_text = "<missing>"
        blob = json.dumps([self.id, self.source, self.start, self.end, self.options, cfg_text, self.base_url,
                           self.max_tlen_days], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "start": self.start, "end": self.end, "options": self.options,
                "config": self.config, "base_url": self.base_url, "max_tlen_days": self.max_tlen_days}


def load_frames(path: str | Path) -> list[FrameSpec]:
    """Read a frames file (``.yaml``/``.yml``/``.csv``); raise :class:`InputError` (one line) on any problem."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise InputError(p, "frames file not found")
    if p.suffix.lower() == ".csv":
        defaults: dict[str, Any] = {}
        rows, config = _read_csv(p), None
    elif p.suffix.lower() in (".yaml", ".yml"):
        rows, defaults, config = _read_yaml(p)
    else:
        raise InputError(p, "frames file must be .yaml, .yml or .csv")
    if not rows:
        raise InputError(p, "no frames listed")
    cfg_path: str | None = None
    if config is not None:
        c = (p.parent / str(config)).expanduser()
        if not c.is_file():
            raise InputError(p, f"config file {config} not found")
        cfg_path = str(c.resolve())
    out: list[FrameSpec] = []
    seen: set[str] = set()
    for n, row in enumerate(rows, start=1):
        spec = _spec(p, n, row, defaults, cfg_path)
        if spec.id in seen:
            raise InputError(p, f"frame {n}: id {spec.id} listed twice")
        seen.add(spec.id)
        out.append(spec)
    return out


def _read_yaml(p: Path) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise InputError(p, f"not valid YAML ({str(exc).splitlines()[0]})") from None
    if isinstance(data, list):
        return data, {}, None
    if not isinstance(data, dict) or "frames" not in data:
        raise InputError(p, "expected a list of frames or a mapping with a 'frames' list")
    unknown = set(data) - {"frames", "defaults", "config"}
    if unknown:
        raise InputError(p, f"unknown top-level key(s) {', '.join(sorted(unknown))} (use frames, defaults, config)")
    frames, defaults = data.get("frames") or [], data.get("defaults") or {}
    if not isinstance(frames, list):
        raise InputError(p, "'frames' must be a list")
    if not isinstance(defaults, dict):
        raise InputError(p, "'defaults' must be a mapping of dotted options")
    return frames, defaults, data.get("config")


def _read_csv(p: Path) -> list[dict[str, Any]]:
    with p.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "id" not in reader.fieldnames or "source" not in reader.fieldnames:
            raise InputError(p, "CSV header must name at least the columns id and source")
        rows: list[dict[str, Any]] = []
        for row in reader:
            if not any((v or "").strip() for v in row.values()):
                continue
            clean: dict[str, Any] = {}
            opts: dict[str, Any] = {}
            for k, v in row.items():
                if k is None:
                    raise InputError(p, f"line {reader.line_num}: more cells than header columns")
                v = (v or "").strip()
                if not v:
                    continue
                if k in _KNOWN:
                    clean[k] = v
                else:
                    opts[k] = yaml.safe_load(v)  # numbers, booleans, strings
            if opts:
                clean["options"] = opts
            rows.append(clean)
    return rows


def _date(p: Path, n: int, v: Any, what: str) -> int | None:
    if v is None or v == "":
        return None
    s = str(v).replace("-", "")
    if not re.fullmatch(r"\d{8}", s):
        raise InputError(p, f"frame {n}: {what} {v!r} is not a date (yyyymmdd or yyyy-mm-dd)")
    import datetime as _dt

    try:
        _dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))
    except ValueError:
        raise InputError(p, f"frame {n}: {what} {v!r} is not a calendar date") from None
    return int(s)


def _spec(p: Path, n: int, row: Any, defaults: dict[str, Any], cfg_path: str | None) -> FrameSpec:
    if not isinstance(row, dict):
        raise InputError(p, f"frame {n}: expected a mapping with id and source")
    unknown = set(row) - _KNOWN
    if unknown:
        raise InputError(p, f"frame {n}: unknown key(s) {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(sorted(_KNOWN))}; put options under 'options')")
    fid = str(row.get("id", "")).strip()
    if not _ID_RE.match(fid):
        raise InputError(p, f"frame {n}: id {fid!r} must be letters, digits, '_', '-', '.' (a file name)")
    source = str(row.get("source", "")).strip()
    if not source:
        raise InputError(p, f"frame {n} ({fid}): no source (portal or a local folder)")
    if source != PORTAL:
        folder = (p.parent / source).expanduser()
        if not folder.is_dir():
            raise InputError(p, f"frame {fid}: source folder {source} not found")
        source = str(folder.resolve())
    else:
        from kansho.io.download import validate_frame_id

        try:
            validate_frame_id(fid)
        except Exception as exc:  # noqa: BLE001 - DownloadError: re-worded with the file's name
            raise InputError(p, f"frame {fid}: a portal frame needs a LiCSAR frame id ({exc})") from None
    start, end = _date(p, n, row.get("start"), "start"), _date(p, n, row.get("end"), "end")
    if start and end and end < start:
        raise InputError(p, f"frame {fid}: end {end} is before start {start}")
    opts = row.get("options") or {}
    if not isinstance(opts, dict):
        raise InputError(p, f"frame {fid}: options must be a mapping of dotted option names to values")
    options = {**defaults, **opts}
    from kansho.config import load_config
    from kansho.errors import ConfigError

    try:
        load_config(cfg_path, options)  # validate now, not on a worker an hour later
    except ConfigError as exc:
        raise InputError(p, f"frame {fid}: {exc}") from None
    mt = row.get("max_tlen_days")
    return FrameSpec(id=fid, source=source, start=start, end=end, options=options, config=cfg_path,
                     base_url=row.get("base_url"), max_tlen_days=float(mt) if mt not in (None, "") else None)
