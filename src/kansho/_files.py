"""Atomic file writes: a temporary name beside the target, then a rename.

A reader never sees a half-written file, and an interrupted write leaves the previous version.
The temporary name carries the process id and a clock tick, so several processes (dask workers,
batch frames) may write the same target at once; the last rename wins.

A full disk (or quota) is a :class:`DiskFullError`: one line naming the folder, the size that was
being written and the space left (:func:`disk_full_error`), and the temporary file is removed.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kansho.errors import KanshoError

__all__ = ["DISK_FULL_ERRNOS", "DiskFullError", "disk_full_error", "is_disk_full", "nearly_full", "write_bytes_atomic",
           "write_json_atomic", "write_text_atomic"]

#: errno values of a full disk or an exhausted quota
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class DiskFullError(KanshoError, OSError):
    """No space left where a file was being written (one line: folder, size needed, space left)."""


#: what a full disk or quota says in an error's text where it carries no errno (GDAL's errors; HDF5's, which h5py
#: raises as a RuntimeError: "... errno = 28, error message = 'No space left on device' ...")
DISK_FULL_TEXTS = ("No space left on device", "Disk quota exceeded")
#: a write failed with less than this free beside it is taken for a full disk where its error does not say why
#: (GDAL's "Write failed": libtiff's ENOSPC goes to its own message, not to the exception)
NEARLY_FULL_BYTES = 1 << 20


def is_disk_full(exc: BaseException) -> bool:
    """True for the error of a full disk or quota: an OSError of that errno, or an error (or one it was raised
    from, three deep) whose text says so (GDAL's errors and HDF5's carry only the message)."""
    for _ in range(4):
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(exc, Exception) and any(t in str(exc) for t in DISK_FULL_TEXTS):
            return True
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            return False
        exc = nxt
    return False


def nearly_full(folder: str | Path) -> bool:
    """Whether the file system of ``folder`` has less than :data:`NEARLY_FULL_BYTES` free (False where that
    cannot be told)."""
    try:
        return shutil.disk_usage(folder).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def disk_full_error(folder: str | Path, exc: OSError | None = None, needed: int | None = None) -> DiskFullError:
    """The one-line :class:`DiskFullError` of a write into ``folder`` (or under it) that ran out of space."""
    folder = Path(folder)
    where = Path(exc.filename) if exc is not None and isinstance(exc.filename, str) else None
    parts = [f"{folder}: no space left on the device"]
    if where is not None and where != folder:
        parts.append(f" while writing {where.name}")
    if needed is not None:
        parts.append(f" ({_size(needed)} needed")
    try:
        free = shutil.disk_usage(folder if folder.exists() else folder.parent).free
        parts.append(f"{'; ' if needed is not None else ' ('}{_size(free)} free)")
    except OSError:
        parts.append(")" if needed is not None else "")
    parts.append(": free some space (or give another folder) and run the same command again")
    err = DiskFullError("".join(parts))
    err.errno = errno.ENOSPC
    return err


def _size(n: int) -> str:
    for unit, k in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= k:
            return f"{n / k:.1f} {unit}"
    return f"{n} bytes"


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (parents created) through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if is_disk_full(exc) and not isinstance(exc, DiskFullError):
            raise disk_full_error(path.parent, exc, needed=len(data)) from None
        raise
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


def numpy_json(o: Any) -> Any:
    """A ``default`` for :func:`write_json_atomic` that writes numpy scalars and arrays and paths."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))
