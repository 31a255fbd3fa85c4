"""One writer per run folder: ``OUT/work/.lock``, held by :func:`kansho.chain.runner.run_timeseries`.

Two runs writing one folder corrupt each other's work arrays (and could leave a result whose steps
are all marked done). The lock is an exclusive ``flock`` on ``OUT/work/.lock``, which holds the
holder's pid, host and start time: a second run refuses at once with a one-line error naming the
holder. The kernel drops a ``flock`` when its process dies (even by ``kill -9``), so a lock left by
a killed run is taken over without any action; where ``flock`` is not available (another OS, a
file system without locks) the lock is the file itself, created exclusively, and a file whose pid
no longer lives on this host is recovered. Readers (:func:`kansho.run.open_run`, the viewer,
exports) take no lock.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kansho.errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"


def lock_path(out: Path) -> Path:
    """``OUT/work/.lock``."""
    return Path(out) / "work" / LOCK_NAME


def _holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _busy(out: Path, path: Path, holder: dict[str, Any]) -> InputError:
    pid = holder.get("pid", "?")
    started = holder.get("started", "?")
    host = holder.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return InputError(out, f"another kansho run (pid {pid}{where}, started {started}) is writing here; "
                           f"wait for it or remove {path} if that process is gone")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _stale(holder: dict[str, Any]) -> bool:
    """True when the holder ran on this host and its process is gone."""
    pid = holder.get("pid")
    return holder.get("host") == socket.gethostname() and isinstance(pid, int) and not _alive(pid)


def _stamp() -> bytes:
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime())
    return json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": now}).encode()


def _acquire_flock(out: Path, path: Path) -> int | None:
    """The descriptor holding the lock; None when this file system has no ``flock``."""
    assert fcntl is not None
    for _ in range(20):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _busy(out, path, _holder(path)) from None
            with contextlib.suppress(OSError):  # ENOLCK, EINVAL...: no flock here; the file lock follows
                if path.stat().st_size == 0:  # the empty file just opened, not a holder's
                    path.unlink()
            return None
        try:  # the file may have been removed (by its holder's release) between open and flock: retry
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, _stamp())
            return fd
        os.close(fd)
    raise _busy(out, path, _holder(path))


def _acquire_file(out: Path, path: Path) -> int:
    """The lock as an exclusively created file (no ``flock``); a stale holder's file is recovered."""
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _holder(path)
            if not _stale(holder):
                raise _busy(out, path, holder) from None
            log.warning("%s: recovering the lock of pid %s, which is gone", path, holder.get("pid"))
            path.unlink(missing_ok=True)
            continue
        os.write(fd, _stamp())
        return fd
    raise _busy(out, path, _holder(path))


@contextlib.contextmanager
def run_lock(out: str | Path) -> Iterator[Path]:
    """Hold the writer's lock of run folder ``out`` (``OUT/work/`` is created) for the ``with`` block.

    Raises :class:`kansho.errors.InputError` at once when another live run holds it.
    """
    out = Path(out)
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire_flock(out, path) if fcntl is not None else None
    if fd is None:
        fd = _acquire_file(out, path)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # while still held: the next run creates a fresh file
        os.close(fd)
