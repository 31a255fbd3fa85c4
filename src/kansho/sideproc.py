"""A child Python that takes a share of a list of small jobs (the figures of a run) beside this process.

:class:`SideProcess` starts ``python -m kansho._sidejob`` ahead of its work, so that its start and imports
overlap this process's own; :func:`side_map` shares a list with it (or with a dask cluster's workers).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)


#: seconds the side process of :func:`side_map` may run past this process's share before it is stopped
#: (its share is then done here)
SIDE_TIMEOUT_S = 600.0


def _wait_or_kill(proc: Any, timeout: float) -> int:
    """The exit status of ``proc`` (a ``subprocess.Popen``), killed after ``timeout`` s (then -9)."""
    import subprocess

    try:
        return int(proc.wait(timeout))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return -9


class SideProcess:
    """One child Python (``python -m kansho._sidejob``) started before its work is known, so that its
    start and the imports of ``modules`` (about half a second for matplotlib) overlap this process's
    own work; :meth:`submit` then hands it a list of items to map ``func`` over, which it takes from the
    first on while this process may :meth:`claim` them from the last back, and :meth:`result` collects
    what it did.

    Use as a context manager (or call :meth:`close`): a child never given work exits when its stdin
    closes, one still running is killed. Where the child cannot start, ``started`` is False and
    :meth:`result` returns None (the caller does the work itself)."""

    def __init__(self, modules: Sequence[str] = ()) -> None:
        import subprocess
        import sys
        import tempfile
        from pathlib import Path

        self._tmp = Path(tempfile.mkdtemp(prefix="kansho-side-"))
        self._claims = self._tmp / "claims"
        self._proc: Any = None
        self._sent = False
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))  # this process's modules
        try:
            self._proc = subprocess.Popen([sys.executable, "-m", "kansho._sidejob", *modules], env=env,
                                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
        except OSError as exc:
            log.debug("side process not started (%s)", exc)

    @property
    def started(self) -> bool:
        return self._proc is not None

    def submit(self, func: Callable[[Any], Any], items: Sequence[Any]) -> bool:
        """Hand the child ``func`` over ``items`` (once); False when it cannot take them (not started,
        already given work, or they do not pickle)."""
        import pickle

        if self._proc is None or self._sent:
            return False
        job = self._tmp / "job.pkl"
        try:
            job.write_bytes(pickle.dumps((func, list(items))))
            self._claims.mkdir(exist_ok=True)
            self._proc.stdin.write(f"{job}\t{self._tmp / 'result.pkl'}\t{self._claims}\n".encode())
            self._proc.stdin.close()
        except (OSError, ValueError, pickle.PicklingError, TypeError, AttributeError) as exc:
            log.debug("side process not given its work (%s)", exc)
            return False
        self._sent = True
        return True

    def claim(self, i: int) -> bool:
        """Take item ``i`` of the submitted list for this process: False when the child took it first (or
        nothing was submitted)."""
        from kansho._sidejob import claim

        return self._sent and claim(self._claims, i)

    def result(self, timeout: float) -> dict[int, Any] | None:
        """The submitted work's results, ``{index: value}`` of the items the child took, waiting at most
        ``timeout`` s (then the child is killed); None when the child failed, was killed or was given
        nothing."""
        import pickle

        if self._proc is None or not self._sent:
            return None
        rc = _wait_or_kill(self._proc, timeout)
        try:
            if rc != 0:
                raise RuntimeError(f"exit status {rc}")
            return dict(pickle.loads((self._tmp / "result.pkl").read_bytes()))
        except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:
            log.debug("side process failed (%s)", exc)
            return None

    def close(self) -> None:
        """Stop the child (an idle one exits as its stdin closes) and remove its files."""
        import shutil

        if self._proc is not None:
            if not self._sent:
                with contextlib.suppress(OSError, ValueError):
                    self._proc.stdin.close()
            _wait_or_kill(self._proc, 5.0 if not self._sent else 0.0)
            self._proc = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> SideProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def side_map(func: Callable[[Any], Any], here: Sequence[Any], away: Sequence[Any], *, client: Any = None,
             side: SideProcess | None = None) -> list[Any]:
    """``func`` over ``here`` in this process while another process takes ``away``: the dask cluster's
    workers with a ``client``, else one child Python (``side``, started earlier by the caller, or a new
    :class:`SideProcess`: it imports what ``func`` needs and never the caller's script); results in the
    order of ``here`` then ``away``. ``func`` and the items must pickle. With a child, this process then
    takes ``away``'s items from the last back while the child has not reached them (whichever finishes
    first helps the other: neither waits on a fixed share). Where the other process cannot start or
    fails, its items are done here after (an error of ``func`` itself is raised from here then)."""
    if not away:
        return [func(x) for x in here]
    if client is not None:
        from kansho._sidejob import map_list

        fut = client.submit(map_list, func, list(away), pure=False)
        done_here = [func(x) for x in here]
        try:
            return done_here + list(fut.result())
        except Exception as exc:  # noqa: BLE001 - a failed worker: its share is done here
            log.debug("side tasks failed (%s): their share done here", exc)
            return done_here + [func(x) for x in away]
    with contextlib.ExitStack() as stack:
        if side is None:
            side = stack.enter_context(SideProcess())
        if not side.submit(func, away):
            return [func(x) for x in [*here, *away]]
        taken: dict[int, Any] = {}
        try:
            done_here = [func(x) for x in here]
            for i in reversed(range(len(away))):  # then the child's items from the last, until the two meet
                if not side.claim(i):
                    break
                taken[i] = func(away[i])
        except BaseException:  # this share failed (or was interrupted): the child's work is not wanted
            side.close()
            raise
        # a child given nothing it took is stopped on closing, not waited for
        done_away = side.result(SIDE_TIMEOUT_S) if len(taken) < len(away) else None
    done_away = done_away or {}
    return done_here + [taken[i] if i in taken else done_away[i] if i in done_away else func(x)
                        for i, x in enumerate(away)]
