"""A child Python that takes a share of a list of small jobs (the figures of a run) beside this process.

:class:`SideProcess` starts ``python -m kansho._sidejob`` ahead of its work, so that its start and imports
overlap this process's own; :func:`side_map` shares a list with it (or with a dask cluster's workers).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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


@dataclass
class Batch:
    """The items handed to a :class:`SideProcess` (:meth:`SideProcess.submit`): ``func`` over ``items``, in
    the folder ``folder`` (``job.pkl``, the shared ``claims/``, the child's ``result.pkl``); ``taken`` holds
    the results of the items this process took back (:meth:`SideProcess.take_back`)."""

    func: Callable[[Any], Any]
    items: list[Any]
    folder: Path
    taken: dict[int, Any] = field(default_factory=dict)


class SideProcess:
    """One child Python (``python -m kansho._sidejob``) started before its work is known, so that its
    start and the imports of ``modules`` (about half a second for matplotlib) overlap this process's
    own work; :meth:`submit` then hands it a list of items to map a function over, which it takes from the
    first on, :meth:`take_back` lets this process take those the child has not reached (from the last
    back), and :meth:`collect` gathers the results.

    Use as a context manager (or call :meth:`close`): a child never given work exits when its stdin
    closes, one still running is killed. Where the child cannot start, ``started`` is False and
    :meth:`submit` returns False (the caller does the work itself)."""

    def __init__(self, modules: Sequence[str] = ()) -> None:
        import subprocess
        import sys
        import tempfile

        self._tmp = Path(tempfile.mkdtemp(prefix="kansho-side-"))
        self._batch: Batch | None = None
        self._proc: Any = None
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
        """Hand the child ``func`` over ``items`` (once); False when it cannot take them (not started, given
        its work already, or they do not pickle)."""
        import pickle

        if self._proc is None or self._batch is not None:
            return False
        batch = Batch(func, list(items), self._tmp / "batch")
        try:
            (batch.folder / "claims").mkdir(parents=True)
            # streamed, protocol 5: arrays go to the file from their own memory, not through a bytes copy of the
            # whole job (the L frame's figures: 0.8 GB); an item a pickle, which the child loads as it reaches it
            # (it held every item at once). The child reads it only once told, below.
            with open(batch.folder / "job.pkl", "wb") as f:
                pickle.dump((func, len(batch.items)), f, protocol=5)
                for item in batch.items:
                    pickle.dump(item, f, protocol=5)
            self._proc.stdin.write(f"{batch.folder / 'job.pkl'}\t{batch.folder / 'result.pkl'}\t"
                                   f"{batch.folder / 'claims'}\n".encode())
            self._proc.stdin.close()
        except (OSError, ValueError, pickle.PicklingError, TypeError, AttributeError) as exc:
            log.debug("side process not given its work (%s)", exc)
            return False
        self._batch = batch
        return True

    def take_back(self) -> None:
        """Do here the items the child has not reached, from the last back until one the child claimed first."""
        from kansho._sidejob import claim

        batch = self._batch
        if batch is None:
            return
        for i in reversed(range(len(batch.items))):
            if not claim(batch.folder / "claims", i):
                break
            batch.taken[i] = batch.func(batch.items[i])

    def collect(self, timeout: float) -> list[Any]:
        """The results of the submitted items, in their order: the child's (waiting at most ``timeout`` s for
        it, then it is killed), those taken back, and any the child failed or never reached done here."""
        batch = self._batch
        if batch is None:
            return []
        done = self._child_results(batch, timeout) if len(batch.taken) < len(batch.items) else {}
        return [batch.taken[i] if i in batch.taken else done[i] if i in done else batch.func(x)
                for i, x in enumerate(batch.items)]

    def _child_results(self, batch: Batch, timeout: float) -> dict[int, Any]:
        """``{index: value}`` of the items of ``batch`` the child did ({} when it failed or was killed)."""
        import pickle

        rc = _wait_or_kill(self._proc, timeout)
        try:
            if rc != 0:
                raise RuntimeError(f"exit status {rc}")
            return dict(pickle.loads((batch.folder / "result.pkl").read_bytes()))
        except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as exc:
            log.debug("side process failed (%s)", exc)
            return {}

    def close(self) -> None:
        """Stop the child (an idle one exits as its stdin closes, one given work is killed) and remove its
        files."""
        import shutil

        if self._proc is not None:
            if self._batch is None:
                with contextlib.suppress(OSError, ValueError):
                    self._proc.stdin.close()
            _wait_or_kill(self._proc, 0.0 if self._batch is not None else 5.0)
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
        try:
            done_here = [func(x) for x in here]
            side.take_back()  # then the child's items from the last back, until the two meet
        except BaseException:  # this share failed (or was interrupted): the child's work is not wanted
            side.close()
            raise
        return done_here + side.collect(SIDE_TIMEOUT_S)
