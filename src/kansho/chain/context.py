"""What a running step sees: the run folder, its stores, the options it reads, the results of
the steps before it, and block/epoch mapping with block-level resume."""

from __future__ import annotations

import hashlib
import logging
import pickle
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import zarr

from kansho._files import write_bytes_atomic
from kansho._threads import map_threads
from kansho.chain.options import Options
from kansho.chain.spec import StepResult, StepSpec
from kansho.chain.tasks import Task
from kansho.chunkio import ChunkArray, direct
from kansho.config import RunConfig
from kansho.layout import RunLayout
from kansho.parallel import map_tasks, run_all
from kansho.store import Stack, blocks, open_stack, work_codec

log = logging.getLogger(__name__)

R = TypeVar("R", bound=StepResult)


#: epochs per chunk of a work cube written block by block only, every epoch at once (``cum``, ``cum_std``,
#: ``gap``): ~8x fewer chunk files to write and read again than one epoch deep, while an epoch's map still
#: reads only 8 epochs' chunks (measured on the M frame: step 1-3 25 s -> 20 s; 20 deep gains nothing more
#: there and slows the filter's per-epoch reads of ``cum`` by 3 s)
CUBE_DEPTH = 8


@dataclass
class Context:
    """Everything a step needs: where things are, the options, and the results before it."""

    out: Path
    options: Options
    input_path: Path | None
    progress: bool = True
    #: typed results of the steps done so far (run now or up to date), by step name
    results: dict[str, StepResult] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    client: Any = None
    #: closes the local cluster of ``client`` (None: no client, or a ``--scheduler``'s, which the run keeps)
    close_cluster: Callable[[], None] | None = None
    block: int = 256
    #: blocks (or epochs) processed at once in this process when there is no client
    #: (:func:`kansho.chain.budget.block_threads`)
    threads: int = 1
    #: what the log last said of the budget's plan (:func:`kansho.chain.budget.plan_text`)
    plan_said: str | None = None
    #: whether this run weighed its frame against the memory (:func:`kansho.chain.budget.check_frame_memory`)
    frame_checked: bool = False
    #: folder of the current step's finished-task records (block-level resume); None outside a step
    resume_dir: Path | None = None
    resuming: bool = False
    #: each step's typed result from the run before (kept while the step runs again: an update reuses parts of it)
    previous: dict[str, StepResult] = field(default_factory=dict)
    #: the chain being run (the registry's steps) and the name of the step running now
    chain: tuple[StepSpec, ...] = ()
    current: str = ""
    #: what the steps' :attr:`~kansho.chain.spec.StepSpec.prepare` returned, by step name (taken by the step)
    prepared: dict[str, Any] = field(default_factory=dict)
    #: wall seconds of the current step's passes (:meth:`map_blocks`, :meth:`map_epochs`) by their name, a pass
    #: run twice summed; kept in the step's record (``work/state.json``: ``passes``)
    passes: dict[str, float] = field(default_factory=dict)
    _stack: Stack | None = None
    _work: zarr.Group | None = None
    _inputs: Any = None

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.out)

    @property
    def cfg(self) -> RunConfig:
        """The run's options; what a step reads here decides when it must run again."""
        return self.options.tracked()

    @property
    def stack(self) -> Stack:
        if self._stack is None:
            self._stack = open_stack(self.out)
        return self._stack

    @property
    def work(self) -> zarr.Group:
        if self._work is None:
            self._work = zarr.open_group(str(self.layout.work_store), mode="a", zarr_format=3)
        return self._work

    def get(self, kind: type[R]) -> R:
        """The result of the step that returns ``kind`` (it ran before this one)."""
        for res in self.results.values():
            if isinstance(res, kind):
                return res
        raise LookupError(f"no {kind.__name__} yet: its step has not run")

    def new_array(self, name: str, shape: tuple[int, ...], dtype: str = "f4", fill: float = np.nan,
                  chunks: tuple[int, ...] | None = None, depth: int = 1) -> zarr.Array:
        """Create (or replace) a work array: 2-D (y, x) or 3-D (time, y, x) chunked ``depth`` epochs deep
        (1: an epoch at a time may be written; deeper only for a cube written block by block, all its epochs
        at once: fewer, larger chunks), or with the ``chunks`` given.

        Chunks match the processing blocks, so tasks running in parallel never write one chunk.
        """
        if self.resuming and name in self.work:  # an interrupted step resumes: keep what its tasks wrote
            arr = self.work[name]
            if isinstance(arr, zarr.Array) and tuple(arr.shape) == tuple(shape) and arr.dtype == np.dtype(dtype):
                return arr
        b = self.block
        dims = ["time", "y", "x"][-len(shape):]
        if chunks is None:
            chunks = ((max(1, min(depth, shape[0])), *(min(b, n) for n in shape[1:])) if len(shape) == 3
                      else tuple(min(b, n) for n in shape))
        return self.work.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=fill,
                                      dimension_names=dims, overwrite=True, compressors=work_codec())

    def array(self, name: str) -> zarr.Array | ChunkArray:
        """The work array ``name`` (read and written in the calling thread: :func:`kansho.chunkio.direct`)."""
        a = self.work[name]
        if not isinstance(a, zarr.Array):
            raise KeyError(f"{name} is not a work array")
        return direct(a)

    def read2d(self, name: str) -> np.ndarray:
        return np.asarray(self.array(name)[:])

    def read2d_many(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        """:meth:`read2d` of each of ``names``, on the cores (their decoding releases the GIL)."""
        return dict(zip(names, map_threads(self.read2d, list(names)), strict=True))

    def blocks(self) -> list[tuple[slice, slice]]:
        return list(blocks(self.stack.shape, self.block))

    def map_blocks(self, kernel: Callable[[Task], Any], desc: str, **params: Any) -> list[Any]:
        """Run ``kernel`` on every spatial block (here or on the cluster); results in block order."""
        tasks = [Task(str(self.out), rows=r, cols=c, params=params) for r, c in self.blocks()]
        return self._run_tasks(kernel, tasks, desc)

    def map_epochs(self, kernel: Callable[[Task], Any], desc: str, epochs: Sequence[int], **params: Any) -> list[Any]:
        """Run ``kernel`` on every epoch index in ``epochs``; results in that order."""
        tasks = [Task(str(self.out), epoch=int(e), params=params) for e in epochs]
        return self._run_tasks(kernel, tasks, desc, self._epoch_threads())

    def _epoch_threads(self) -> int:
        """Epoch tasks at once here: :attr:`threads`, but no more than the budget holds whole frames for (each task
        holds its epoch's images: ~133 bytes a pixel in the filter's spatial pass on the L frame;
        :func:`kansho.chain.budget.frame_threads`). A large frame with few pairs has small blocks for its size."""
        if self.client is not None or self.threads <= 1:
            return self.threads
        from kansho.chain.budget import frame_threads

        return min(self.threads, frame_threads(self.stack.shape, self.options.model))

    def _run_tasks(self, kernel: Callable[[Task], Any], tasks: list[Task], desc: str, threads: int | None = None
                   ) -> list[Any]:
        """Run the tasks not finished before; record each finished one (block-level resume).

        A finished task leaves ``resume_dir/<pass>-<params hash>-<block or epoch>.pkl`` holding its
        (small) result, written after its chunks. A step interrupted half-way and started again
        with the same options replays those results and runs only the other tasks. The pass's wall
        time is added to :attr:`passes` under ``desc``.
        """
        t0 = time.perf_counter()
        try:
            return self._run_resumable(kernel, tasks, desc, self.threads if threads is None else threads)
        finally:
            self.passes[desc] = self.passes.get(desc, 0.0) + time.perf_counter() - t0

    def _run_resumable(self, kernel: Callable[[Task], Any], tasks: list[Task], desc: str, threads: int) -> list[Any]:
        """:meth:`_run_tasks` on ``threads`` threads here (or the cluster), the finished tasks replayed."""
        if self.resume_dir is None:
            return run_all(kernel, tasks, client=self.client, desc=desc, progress=self.progress, threads=threads)
        self.resume_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(pickle.dumps(tasks[0].params if tasks else {})).hexdigest()[:12]
        name = "".join(ch if ch.isalnum() else "_" for ch in desc)  # the pass, e.g. "1-3 invert"
        paths = [self.resume_dir / (f"{name}-{digest}-" + (f"e{t.epoch}" if t.epoch >= 0 else
                                                          f"{t.rows.start}_{t.cols.start}") + ".pkl") for t in tasks]
        out: list[Any] = [None] * len(tasks)
        todo = []
        for i, pth in enumerate(paths):
            if pth.is_file():
                out[i] = pickle.loads(pth.read_bytes())
            else:
                todo.append(i)
        if len(todo) < len(tasks):
            log.info("%s: %d of %d tasks already done before the interruption", desc, len(tasks) - len(todo),
                     len(tasks))
        for j, res, err in map_tasks(kernel, [tasks[i] for i in todo], client=self.client, desc=desc,
                                     progress=self.progress, threads=threads):
            if err is not None:
                raise err
            i = todo[j]
            out[i] = res
            write_bytes_atomic(paths[i], pickle.dumps(res))
        return out

    def bar(self, total: int, desc: str) -> Any:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, disable=not self.progress, leave=False)
