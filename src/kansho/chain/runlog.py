"""``OUT/kansho.log``: every log record of a run (INFO and above), appended per invocation.

Each invocation of the chain on a folder appends a header (date, command line, kansho version,
input, the options that differ from the defaults) and then every record its thread logs, at INFO
and above, whatever the console shows (``-q`` keeps the console to warnings; the file still gets
the INFO lines). The file is capped: past :data:`MAX_BYTES` it is renamed ``kansho.log.1`` (the
one before that ``kansho.log.2``) and a new one starts.

Only the records of the thread that runs the chain go to its folder's log, so frames run side by
side in one process (a batch on a threaded dask worker) each keep their own; the records of
block tasks run in other processes (``--workers``) stay on their workers. The handler is removed
when the run ends, whatever its outcome.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import shlex
import sys
import threading
from collections.abc import Iterator, Sequence
from logging.handlers import RotatingFileHandler
from pathlib import Path

from kansho._version import __version__
from kansho.chain.options import EXECUTION_OPTIONS, result_option_names, value_of
from kansho.config import RunConfig

#: the log file's name in the run folder
LOG_NAME = "kansho.log"
#: size past which the log is rotated, and how many old logs are kept
MAX_BYTES = 5_000_000
BACKUPS = 2
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

_lock = threading.Lock()
_active = 0  # runs logging now in this process
_saved_level: int | None = None  # the "kansho" logger's level before the first of them
_console_filter: _BelowLevel | None = None


class _BelowLevel(logging.Filter):
    """Drops kansho's records below ``level`` on the console handlers (what they showed before the
    kansho logger was opened to INFO for the log file)."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or not (record.name == "kansho" or record.name.startswith("kansho."))


class _ThisThread(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.thread = threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread == self.thread


def log_path(out: str | Path) -> Path:
    return Path(out) / LOG_NAME


def differing_options(cfg: RunConfig) -> dict[str, object]:
    """Dotted name -> value of every option of ``cfg`` that differs from :class:`RunConfig`'s default."""
    default = RunConfig()
    names = result_option_names(cfg) + sorted(EXECUTION_OPTIONS)
    return {n: v for n in names if (v := value_of(cfg, n)) != value_of(default, n)}


def header(cfg: RunConfig, input_path: str | Path | None, steps: Sequence[str] | None, force: bool) -> str:
    """The block that opens an invocation's part of the log."""
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    lines = ["=" * 100, f"kansho {__version__}  {now}",
             "command line: " + " ".join(shlex.quote(a) for a in sys.argv),
             f"input: {Path(input_path).resolve() if input_path is not None else '(none: the run recorded here)'}"]
    if steps:
        lines.append(f"steps: {','.join(steps)}")
    if force:
        lines.append("force: every step runs again")
    diff = differing_options(cfg)
    lines.append("options that differ from the defaults:" + ("" if diff else " none"))
    lines += [f"  {k}: {v}" for k, v in diff.items()]
    return "\n".join(lines)


def _open_console_level() -> None:
    """Let kansho's INFO records reach the file handlers without changing what the console shows."""
    global _active, _saved_level, _console_filter
    with _lock:
        _active += 1
        if _active > 1:
            return
        kansho = logging.getLogger("kansho")
        eff = kansho.getEffectiveLevel()
        if eff <= logging.INFO:
            return
        _saved_level = kansho.level
        _console_filter = _BelowLevel(eff)
        for h in logging.getLogger().handlers + kansho.handlers:
            h.addFilter(_console_filter)
        kansho.setLevel(logging.INFO)


def _close_console_level() -> None:
    global _active, _saved_level, _console_filter
    with _lock:
        _active -= 1
        if _active > 0 or _console_filter is None:
            return
        kansho = logging.getLogger("kansho")
        kansho.setLevel(_saved_level or logging.NOTSET)
        for h in logging.getLogger().handlers + kansho.handlers:
            h.removeFilter(_console_filter)
        _saved_level = _console_filter = None


@contextlib.contextmanager
def run_log(out: Path, cfg: RunConfig, input_path: str | Path | None, steps: Sequence[str] | None,
            force: bool) -> Iterator[Path]:
    """Append this invocation's records to ``out/kansho.log`` while the block runs (see the module docstring).

    A failure is written to the file (only) before the handler is removed; the error still reaches
    the caller. A log that cannot be opened is skipped with a warning: it never stops a run.
    """
    path = log_path(out)
    try:
        handler = RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError as exc:
        logging.getLogger(__name__).warning("%s: cannot write the run's log (%s)", path, exc.strerror or exc)
        yield path
        return
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    handler.addFilter(_ThisThread())
    if handler.stream is not None:
        handler.stream.write(header(cfg, input_path, steps, force) + "\n")
    root = logging.getLogger()
    # with no handler anywhere, logging prints warnings through its last resort: keep that while ours is on
    extra = [h for h in (logging.lastResort,) if h is not None and not logging.getLogger("kansho").hasHandlers()]
    _open_console_level()
    for h in (*extra, handler):
        root.addHandler(h)
    try:
        yield path
    except BaseException as exc:
        handler.handle(logging.makeLogRecord({"name": "kansho", "levelno": logging.ERROR, "levelname": "ERROR",
                                              "msg": "run stopped: %s: %s", "thread": threading.get_ident(),
                                              "args": (type(exc).__name__, str(exc).replace("\n", " "))}))
        raise
    else:
        handler.handle(logging.makeLogRecord({"name": "kansho", "levelno": logging.INFO, "levelname": "INFO",
                                              "msg": "run finished", "thread": threading.get_ident()}))
    finally:
        for h in (*extra, handler):
            root.removeHandler(h)
        _close_console_level()
        handler.close()
