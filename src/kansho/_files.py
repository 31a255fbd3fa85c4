"""Atomic file writes: a temporary name beside the target, then a rename.

A reader never sees a half-written file, and an interrupted write leaves the previous version.
The temporary name carries the process id and a clock tick, so several processes (dask workers,
batch frames) may write the same target at once; the last rename wins.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["write_bytes_atomic", "write_json_atomic", "write_text_atomic"]


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (parents created) through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`write_bytes_atomic`)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any, *, default: Callable[[Any], Any] | None = str,
                      indent: int = 1) -> Path:
    """Write ``data`` as JSON to ``path`` atomically; ``default`` converts what JSON cannot hold."""
    return write_text_atomic(path, json.dumps(data, indent=indent, default=default))
