"""The memory budget's plan of a run: the side of its processing blocks (:func:`plan_block`), how many it
processes at once (:func:`block_threads`), the threads of its frame-wide work and epoch passes
(:func:`frame_threads`) and what the log says of it (:func:`plan_text`), from ``--memory-limit``, ``--block-size``
and ``--workers`` (the budget itself: :func:`kansho.parallel.memory_budget`). The bytes below were measured pass
by pass (docs/benchmarks_notes.md, round 36); ``benchmarks/bench_budget.py`` measures whole runs against it.
"""

from __future__ import annotations

import logging
import math

from kansho._machine import usable_memory
from kansho.config import RunConfig
from kansho.errors import ConfigError
from kansho.parallel import memory_budget

log = logging.getLogger("kansho")

#: bytes a pixel of a block takes, per pair and per epoch, in the passes that hold a block's series (step 1-3's
#: inversion and step 1-2's unwrapping-error pass, the largest): measured with one block in flight, 19-24 bytes a
#: pair (the M frame's 222 pairs, a 300-epoch frame's 1,182) with the epochs' share in it; 25 and 20 leave ~30 %
#: to spare. A pass over the epochs alone (the filter's temporal part 36-43 bytes an epoch, step 1-4's 23-28)
#: needs at least :data:`BLOCK_BYTES_EPOCH_ONLY` an epoch (a network of about as many pairs as epochs).
BLOCK_BYTES_PAIR, BLOCK_BYTES_EPOCH, BLOCK_BYTES_EPOCH_ONLY = 25.0, 20.0, 48.0
#: what a chain process holds before its blocks (interpreter, libraries, compiled kernels, the step's maps):
#: measured at a step's start in one process, 0.20-0.37 GB on the 1000 x 1000 and the 300-epoch frames
PROCESS_RESERVE = 0.4e9
#: the same for each dask worker of a local cluster (a worker process of its own, with dask's own state)
WORKER_RESERVE = 0.5e9


def block_bytes(n_pair: int, n_epoch: int) -> float:
    """Bytes a pixel of a processing block needs (:data:`BLOCK_BYTES_PAIR` ...)."""
    return max(BLOCK_BYTES_PAIR * n_pair + BLOCK_BYTES_EPOCH * n_epoch, BLOCK_BYTES_EPOCH_ONLY * n_epoch)


def plan_block(n_pair: int, n_epoch: int, cfg: RunConfig) -> int:
    """Side of the processing blocks: ``cfg.block_size``, made smaller when a block would not fit.

    A block of ``B x B`` pixels needs :func:`block_bytes` per pixel; each worker gets ``memory_limit /
    workers`` less :data:`WORKER_RESERVE` (without workers, the run's process gets the budget less
    :data:`PROCESS_RESERVE`). The same for every step of a run and its resumption: the side depends on the
    run's shape and options only.
    """
    total = memory_budget(cfg.memory_limit)
    n_workers = max(1, cfg.workers) if not cfg.scheduler else 1
    reserve = WORKER_RESERVE if cfg.workers or cfg.scheduler else PROCESS_RESERVE
    per_worker = max(total / n_workers - reserve, 0.1e9)
    px = per_worker / block_bytes(n_pair, n_epoch)
    b = int(math.sqrt(px)) // 16 * 16
    return max(32, min(cfg.block_size, b))


def block_threads(block: int, n_pair: int, n_epoch: int, cfg: RunConfig) -> int:
    """Blocks processed at once in a run without workers (:func:`kansho.parallel.map_tasks`): one per
    core numba may use (``NUMBA_NUM_THREADS``), as many as the memory budget holds blocks of ``block``
    px by :func:`block_bytes`, after :data:`PROCESS_RESERVE`. Each block's kernels then run on one thread;
    results are the same for any number."""
    if cfg.workers or cfg.scheduler:
        return 1
    return _at_once(memory_budget(cfg.memory_limit) - PROCESS_RESERVE, block * block * block_bytes(n_pair, n_epoch))


def _at_once(room: float, each: float) -> int:
    """Pieces of ``each`` bytes that ``room`` bytes hold, at least one and at most one a thread numba may use
    (``NUMBA_NUM_THREADS``)."""
    import numba

    return int(max(1, min(numba.get_num_threads(), room // each)))


def plan_text(block: int, threads: int | None, cfg: RunConfig) -> str | None:
    """What the run's log says of a plan where the budget shrank it (None where it did not): ``block`` px blocks,
    ``threads`` at once (None: dask workers, one each)."""
    import numba

    cores = numba.get_num_threads()
    if block >= cfg.block_size and (threads is None or threads >= cores):
        return None
    at_once = "" if threads is None or threads >= cores else f", {threads} at once (not {cores})"
    smaller = f" (not {cfg.block_size})" if block < cfg.block_size else ""
    return (f"the {memory_budget(cfg.memory_limit) / 1e9:.1f} GB memory budget holds blocks of {block} px"
            f"{smaller}{at_once}")


#: bytes a frame pixel takes in each thread of step 1-3's frame-wide pieces between its passes (the bridge model's
#: choice, a candidate a thread, and the gap tie's cross-validation, a width a thread): on the 2500 x 2500 px L
#: frame they took 1.30 and 1.37 GB above their start on two threads (~105 bytes a pixel and thread)
FRAME_BYTES_THREAD = 112.0
#: bytes a frame pixel of the maps the chain's process holds when they start (the L frame: 0.53-0.64 GB of RSS,
#: :data:`PROCESS_RESERVE` included)
FRAME_BYTES_HELD = 40.0


def frame_threads(shape: tuple[int, int], cfg: RunConfig) -> int:
    """Threads for a frame-wide piece of work in the chain's process (:data:`FRAME_BYTES_THREAD` a pixel each):
    numba's, as many as the budget holds beside :data:`PROCESS_RESERVE` and the frame's maps (at least one). The
    L frame under 2GB: one (its model choice peaked at 1.94 GB on two); by default: two."""
    px = float(shape[0]) * float(shape[1])
    return _at_once(memory_budget(cfg.memory_limit) - PROCESS_RESERVE - FRAME_BYTES_HELD * px, FRAME_BYTES_THREAD * px)


#: the largest heap of a glibc malloc arena other than the main one (64 MiB on 64-bit systems, twice the largest
#: mmap threshold): a frame map in float64 beyond it cannot come from a second thread's arena
ARENA_HEAP_BYTES = 64 * 2**20


def piece_threads(shape: tuple[int, int], cfg: RunConfig) -> int:
    """Threads for the frame-wide pieces between passes (step 1-3's bridge model choice and gap tie, the filter's
    spatial cross-validation: :func:`kansho.chain.common.frame_piece_alone`): :func:`frame_threads`, but one where
    a frame map in float64 outgrows a second thread's malloc arena (:data:`ARENA_HEAP_BYTES`: frames beyond ~8.4
    million pixels). That thread's arrays then come from the main arena's heap beside the first thread's, which
    grows and is faulted in afresh instead of reused: the bridge model's choice on a 3500 x 3500 px frame took
    3.9-4.4 s on two threads (1.35 million page faults) against 3.1-3.7 s on one (0.37 million), on 5000 x 5000
    px 15 s against 8 s; a 25-million-pixel run's step 1-3 model choice 18.0 -> 9.3 s, gap tie 41.2 -> 23.5 s,
    the filter's cross-validation 89.4 -> 37.9 s. The L frame's 6.25 million pixels keep two (its model choice
    1.7 s against 2.1 s on one). The passes over epochs keep :func:`frame_threads` (the same run's filter pass
    19.3 s on two, 23.2 s on one)."""
    if 8.0 * float(shape[0]) * float(shape[1]) > ARENA_HEAP_BYTES:
        return 1
    return frame_threads(shape, cfg)


#: bytes a frame pixel takes, beyond :data:`PROCESS_RESERVE`, at a run's largest frame-wide moment whatever its
#: budget (the frame-wide pieces on one thread, every block pass within the budget), all its processes together:
#: the 2500 x 2500 px, 150-epoch frame under ``--memory-limit 1GB`` peaked at 1.50 GB (the filter's spatial
#: cross-validation; the outputs 1.45 GB), ~176 bytes a pixel above the reserve; the 5000 x 5000 px, 24-epoch one
#: under 4.8GB at 4.64 GB, ~170 (docs/benchmarks_budget.md). No budget takes a run below it: the maps of step 1-3's
#: model choice and gap tie, of the mask, of the filter's cross-validation and of the outputs are whole frames.
FRAME_BYTES_LEAST = 180.0


def frame_need(shape: tuple[int, int]) -> float:
    """Bytes a run of a frame of ``shape`` (ny, nx) takes at least, whatever its budget (:data:`FRAME_BYTES_LEAST`)."""
    return PROCESS_RESERVE + FRAME_BYTES_LEAST * float(shape[0]) * float(shape[1])


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def _fix(shape: tuple[int, int], room: float) -> str:
    """How to bring a frame of ``shape`` within ``room`` bytes: the smallest multilook that does, or a clip."""
    for n in range(2, 17):
        if frame_need((-(-shape[0] // n), -(-shape[1] // n))) <= room:
            return f"multilook it (--nlook {n}: 1/{n * n} of the pixels) or clip it (--clip-box, --clip-lonlat)"
    return "clip it to a smaller area (--clip-box, --clip-lonlat)"


def check_frame_memory(shape: tuple[int, int], cfg: RunConfig, where: object) -> str | None:
    """Refuse a frame of ``shape`` (ny, nx; said as columns x rows, as the ingest's log says it) whose frame-wide
    work (:func:`frame_need`) needs more memory than this process may use (the RAM, or a container's or job's
    limit: :func:`kansho._machine.usable_memory`), with a :class:`~kansho.errors.ConfigError` naming ``where`` (the
    input or run folder) and how to fix it; return the warning of one that needs more than the run's budget
    (``--memory-limit``), which the run then exceeds, or None where the budget holds it."""
    need = frame_need(shape)
    ram = usable_memory()
    what = (f"a {shape[1]} x {shape[0]} px frame needs about {_gb(need)} of memory at its frame-wide steps (step 1-3's "
            "model choice and gap tie, the mask, the filter, the outputs)")
    if ram is not None and need > ram:
        raise ConfigError(f"{where}: {what}, more than the {_gb(ram)} this machine lets it use (its RAM, or its "
                          f"container's or job's limit): {_fix(shape, 0.8 * ram)}")
    budget = memory_budget(cfg.memory_limit)
    if need <= budget or budget <= PROCESS_RESERVE:  # (a budget below a process's own: the blocks' plan says so)
        return None
    return (f"{what}, beyond the {_gb(budget)} memory budget: the run goes on past it; to stay within it, give "
            f"--memory-limit {math.ceil(need / 1e9)}GB or {_fix(shape, budget)}")


def warn_frame_memory(shape: tuple[int, int], cfg: RunConfig, where: object) -> None:
    """:func:`check_frame_memory`: its warning logged, its refusal raised."""
    said = check_frame_memory(shape, cfg, where)
    if said is not None:
        log.warning("%s", said)
