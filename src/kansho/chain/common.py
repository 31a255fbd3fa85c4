"""Helpers the steps share: the network of the stack store's pairs, stamps that let an update
reuse the last run's results, and the work arrays an update writes beside the old ones."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from kansho._threads import alone
from kansho.chain.context import Context
from kansho.chain.spec import StepResult
from kansho.chain.steps.ingest import IngestResult
from kansho.parallel import trim_heap
from kansho.store import Stack

#: prefix of the work arrays an update writes beside the last run's
NEXT = "next_"

#: dtype and fill of the work arrays of steps 1-1 and 1-2 that are not float32 / NaN
ARRAY_DTYPES: dict[str, tuple[str, float]] = {
    "qc_n_valid": ("i4", 0), "qc_coh_n": ("i4", 0), "qc_coh_sum": ("f8", 0.0), "n_valid_final": ("i4", 0),
    "loop_cnt": ("i4", 0), "loop_ss": ("f8", 0.0), "rate_num": ("f8", 0.0), "rate_den": ("f8", 0.0)}


@dataclass
class Stamped(StepResult):
    """A result that records which state of the stack store it read (see :func:`previous`)."""

    store_id: str
    n_pair: int


S = TypeVar("S", bound=Stamped)


def nsbas_compiled(stack: Stack) -> bool:
    """Whether the frame of ``stack`` is inverted by the compiled NSBAS kernel
    (:func:`kansho.inversion.use_compiled`: a large frame); if so and numba's cache has no copy of it yet (a
    small demo's first run leaves it out), says once that it is compiled now."""
    from kansho import _jitcache, _nsbas_jit
    from kansho.inversion import jit_available, use_compiled

    compiled = use_compiled(stack.shape[0] * stack.shape[1])
    if compiled and jit_available():
        _jitcache.announce_kernel(_nsbas_jit._solve_tiles, "the NSBAS inversion kernel for large frames", 6)
    return compiled


def stamp(ctx: Context) -> dict[str, Any]:
    """The fields of :class:`Stamped` (``store_id``, ``n_pair``) for the stack store as it is now."""
    ing = ctx.get(IngestResult)
    return {"store_id": ing.store_id, "n_pair": int(ing.n_pair)}


def previous(ctx: Context, step: str, kind: type[S], arrays: Sequence[str] = ()) -> S | None:
    """The last run's result of ``step`` when it can seed an update of this run, else None.

    That is when it read an earlier state of this very stack store (same ``store_id``: the store
    was only appended to since, so its first ``n_pair`` pairs are unchanged), fewer pairs than
    there are now, and the work arrays ``arrays`` it wrote are still those of that run
    (their ``n_pair`` attribute).
    """
    res = ctx.previous.get(step)
    sid = ctx.get(IngestResult).store_id
    if not isinstance(res, kind) or not sid:
        return None
    if res.store_id != sid or not 0 < int(res.n_pair) < ctx.stack.n_pair:
        return None
    for name in arrays:
        if name not in ctx.work or ctx.work[name].attrs.get("n_pair") != res.n_pair:
            return None
    return res


def new_arrays(ctx: Context, names: Sequence[str], prefix: str = "") -> None:
    """Create the 2-D work arrays ``prefix + name`` with their dtypes (:data:`ARRAY_DTYPES`)."""
    for name in names:
        ctx.new_array(prefix + name, ctx.stack.shape, *ARRAY_DTYPES.get(name, ("f4", np.nan)))


def mark_arrays(ctx: Context, names: Sequence[str], n_pair: int) -> None:
    """Record that the work arrays ``names`` are complete for the first ``n_pair`` pairs."""
    for name in names:
        ctx.work[name].attrs["n_pair"] = int(n_pair)


def swap_next(ctx: Context, names: Sequence[str]) -> None:
    """Replace each work array ``name`` by ``next_<name>`` (written by an update beside the old one)."""
    root = ctx.layout.work_store
    for name in names:
        shutil.rmtree(root / name, ignore_errors=True)
        (root / (NEXT + name)).rename(root / name)


def pair_index(st: Stack) -> npt.NDArray[np.intp]:
    """(n_pair, 2) epoch indices of every pair of the store."""
    lookup = {int(e): i for i, e in enumerate(st.epochs)}
    return np.array([[lookup[int(a)], lookup[int(b)]] for a, b in zip(st.date1, st.date2, strict=True)], np.intp)


def subnetwork(st: Stack, idx: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp]]:
    """Epochs used by the pairs ``idx`` and the pairs re-indexed to those epochs."""
    epochs = np.unique(np.concatenate([st.date1[idx], st.date2[idx]])) if idx.size else np.array([], np.int64)
    return epochs, pairs_in(st, idx, epochs)


def pairs_in(st: Stack, idx: npt.NDArray[np.intp], epochs: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
    """(len(idx), 2) indices into ``epochs`` of the pairs ``idx``."""
    pos = {int(e): i for i, e in enumerate(epochs)}
    return np.array([[pos[int(st.date1[i])], pos[int(st.date2[i])]] for i in idx], np.intp).reshape(-1, 2)


@contextlib.contextmanager
def frame_piece_alone(ctx: Context) -> Iterator[None]:
    """With dask workers, this process's frame-wide pieces between passes (the gap tie's cross-validation, the bridge
    model's choice; step 1-5's thresholds; the filter's spatial cross-validation where it runs here) run on one thread,
    not on :func:`kansho._threads.map_threads`' two: the workers hold their blocks meanwhile, and two widths at once in
    this process raised the M frame's peak with two workers by ~160 MB (1575-1619 -> 1742-1772 MB). So do they without
    workers where the memory budget holds one thread's share only, or the frame's maps outgrow a second thread's malloc
    arena (:func:`kansho.chain.budget.piece_threads`: the L frame under 2GB, whose model choice took 1.94 GB on two
    threads; frames beyond ~8.4 million pixels). The same results on any threads. What the piece freed goes back to the
    system at its end (:func:`kansho.parallel.trim_heap`): this process keeps its heap's free memory between trims
    (:func:`kansho.parallel.heap_arrays`), and the bridge model's choice left ~285 MB there through the rest of step 1-3
    while the workers ran."""
    from kansho.chain.budget import piece_threads

    if ctx.client is None and piece_threads(ctx.stack.shape, ctx.options.model) > 1:
        yield
        return
    try:
        with alone():
            yield
    finally:
        trim_heap()
