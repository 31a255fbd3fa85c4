"""Running the chain: which steps are up to date, which run, block planning, state and records.

A step is up to date when its skip key is unchanged: the hash of its name, every option it read
the last time it ran (with today's values; :mod:`kansho.chain.options`), the key of the step
before it (so everything upstream) and, for ingest, the input files' fingerprint. A step that
runs records its key, the options it read, its typed result and its time in ``work/state.json``
(atomically, after its arrays); a step interrupted half-way has no record and runs again,
replaying the blocks it had finished (:meth:`kansho.chain.context.Context.map_blocks`).

A record also stamps the arrays the step left (:func:`kansho.chain.records.array_stamp`); a step whose key is unchanged
but whose arrays (or, for ``outputs``, product files) are gone or changed runs again, with every
step after it. The whole run holds the folder's writer lock (:mod:`kansho.chain.lock`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kansho import _jitcache as jitcache
from kansho._files import disk_full_error, is_disk_full, numpy_json, write_json_atomic, write_text_atomic
from kansho._process import fewer_collections
from kansho.chain import registry
from kansho.chain.budget import block_threads, plan_block, plan_text, warn_frame_memory
from kansho.chain.context import Context
from kansho.chain.lock import run_lock
from kansho.chain.options import Options, result_option_names, skip_key, value_of
from kansho.chain.records import (
    change_report,
    changed_outputs,
    current_key,
    fingerprint_of,
    output_stamps,
    plan_steps,
    stamp_record,
    typed_result,
)
from kansho.chain.runlog import LOG_NAME, run_log
from kansho.chain.spec import PREPARE_AHEAD, StepSpec
from kansho.config import RunConfig, yaml_template
from kansho.errors import ConfigError, InputError, KanshoError
from kansho.layout import INFO_FILES, RunLayout
from kansho.parallel import (
    cluster,
    heap_arrays,
    one_blas_thread,
    release_memory,
    small_pages,
)
from kansho.run import Run

log = logging.getLogger(__name__)


def run_timeseries(
    input_path: str | Path | None,
    out: str | Path,
    cfg: RunConfig | None = None,
    *,
    steps: Sequence[str] | None = None,
    force: bool = False,
    progress: bool = True,
) -> Run:
    """Run the whole chain (or ``steps``) from ``input_path`` into ``out``; resume where possible.

    ``input_path`` may be None when ``out`` already holds a run. A step is skipped when its skip
    key is unchanged (module docstring) and ``force`` is false. Returns the run folder opened
    with :func:`kansho.run.open_run`, with this invocation's step timings (0 for a skipped step).
    Raises :class:`InputError` at once when ``out`` is not a writable folder or another run holds it.
    The garbage collector runs less often meanwhile (:func:`kansho._process.fewer_collections`, as for every
    ``kansho`` command), also when the chain is called from Python.
    """
    cfg = cfg or RunConfig()
    out = Path(out)
    before = _skeleton(out)
    _check_out(out)
    try:
        with (run_lock(out), run_log(out, cfg, input_path, steps, force), one_blas_thread(), small_pages(),
              heap_arrays(), fewer_collections()):
            jitcache.prepare()
            return _run_locked(input_path, out, cfg, steps, force, progress)
    except BaseException as exc:
        _remove_lone_log(out)
        _remove_new_empty_dirs(out, before)
        # also HDF5's, raised as a RuntimeError (an interruption stays one, whatever it interrupted)
        if isinstance(exc, Exception) and not isinstance(exc, KanshoError) and is_disk_full(exc):
            raise disk_full_error(out, exc if isinstance(exc, OSError) else None) from None
        raise


def _remove_lone_log(out: Path) -> None:
    """After a failed run: its log when it is the only file in the folder (a failed first run leaves nothing)."""
    if not out.is_dir():
        return
    logs = {p for p in out.glob(LOG_NAME + "*") if p.is_file()}
    if any(p.is_file() and p not in logs for p in out.rglob("*")):
        return
    for p in logs:
        with contextlib.suppress(OSError):
            p.unlink()


def _skeleton(out: Path) -> set[Path] | Path:
    """The run folder's own folders that exist now; when ``out`` does not exist, the outermost of it and
    its parents that does not (what ``_check_out`` will create)."""
    if not out.is_dir():
        top = out
        while not top.parent.exists() and top.parent != top:
            top = top.parent
        return top
    lay = RunLayout(out)
    return {d for d in (lay.work, lay.tasks, lay.info, lay.results, lay.plots) if d.is_dir()}


def _remove_new_empty_dirs(out: Path, before: set[Path] | Path) -> None:
    """After a failed run: remove the empty folders it created (all of them when ``out`` was new)."""
    if isinstance(before, Path):
        dirs = sorted((Path(d) for d, _, _ in os.walk(before)), key=lambda p: len(p.parts), reverse=True)
    else:
        lay = RunLayout(out)
        dirs = [d for d in (lay.tasks, lay.work, lay.info, lay.results, lay.plots) if d not in before]
    for d in dirs:
        with contextlib.suppress(OSError):  # not empty, or already gone
            d.rmdir()


def _check_out(out: Path) -> None:
    """A one-line error, before any work, when ``out`` cannot be a run folder this process may write."""
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file, not a folder: give -o a folder for the run (new or existing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "work").mkdir(exist_ok=True)
    except FileExistsError:
        raise InputError(out, "a file is in the way of this folder: give -o a folder path") from None
    except NotADirectoryError:
        raise InputError(out, "a parent of this path is a file, not a folder: give -o a folder path") from None
    except OSError as exc:
        raise InputError(out, f"cannot create the run folder ({exc.strerror}): choose another -o") from None
    for d in (out, out / "work"):
        if not os.access(d, os.W_OK | os.X_OK):
            raise InputError(d, "cannot be written (permission denied): choose another -o or fix its permissions")


def _run_locked(input_path: str | Path | None, out: Path, cfg: RunConfig, steps: Sequence[str] | None, force: bool,
                progress: bool) -> Run:
    ctx = Context(out=out, options=Options(cfg), input_path=None if input_path is None else Path(input_path),
                  progress=progress, block=cfg.block_size, chain=registry.STEPS)
    state = _read_state(ctx)
    names = [s.name for s in registry.STEPS]
    wanted = names if not steps else list(steps)
    for s in wanted:
        if s not in names:
            raise ConfigError(f"unknown step {s!r}; steps are {', '.join(names)}")
    if registry.spec(next(n for n in names if n in wanted)).kernels:
        # numba's one-time setup while the run reads its state and stamps; else as the first step with kernels begins
        jitcache.set_up_numba()
    with contextlib.ExitStack() as exits:
        if cfg.scheduler:  # an unreachable scheduler is a one-line error before any work (a local cluster
            # starts when the first step after ingest needs it)
            ctx.client = exits.enter_context(cluster(cfg.workers, cfg.scheduler, memory_limit=cfg.memory_limit))
        fingerprint = fingerprint_of(ctx, state)
        if cfg.gpu:
            check_gpu()
        if state:
            _report_changes(out, state, cfg, fingerprint, wanted, force)
        _run_steps(ctx, state, wanted, fingerprint, force, exits)
    _write_records(ctx)
    return Run(out, timings=dict(ctx.timings))


def _report_changes(out: Path, state: dict[str, Any], cfg: RunConfig, fingerprint: str, wanted: list[str],
                    force: bool) -> None:
    """Before any step runs: the options and inputs that changed since the last run here, and the steps
    that run again because of them (:func:`kansho.chain.records.change_report`), as one warning."""
    try:
        plans = plan_steps(out, state, cfg, fingerprint, force=force, check_outputs=False)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # records of another version: the run goes on
        log.warning("%s: cannot compare this run with the last one recorded (%s)", out, exc)
        return
    report = change_report(out, plans, wanted)
    if report:
        log.warning("%s", report)


def _read_state(ctx: Context) -> dict[str, Any]:
    p = ctx.layout.state
    if not p.exists():
        return {}
    try:
        state = json.loads(p.read_text())
    except ValueError:
        log.warning("%s is damaged: every step runs again", p)
        return {}
    return state if isinstance(state, dict) else {}


def _run_steps(ctx: Context, state: dict[str, Any], wanted: list[str], fingerprint: str, force: bool,
               exits: contextlib.ExitStack) -> None:
    cfg = ctx.options.model
    names = [s.name for s in registry.STEPS]
    last_wanted = max(names.index(s) for s in wanted)
    upstream = ""
    stale = False  # a step ran again because its recorded outputs changed: the steps after it run too
    for i, spec in enumerate(registry.STEPS):
        fp = fingerprint if spec.name == "ingest" else ""
        rec = state.get(spec.name)
        key = current_key(spec, rec, cfg, upstream, fp)
        done = key is not None and rec is not None and rec.get("hash") == key
        typed = typed_result(spec, rec) if done else None
        changed = changed_outputs(ctx.out, spec, rec, typed) if typed is not None else None
        if spec.name not in wanted:
            if i > last_wanted:
                break
            if typed is None or key is None or changed:
                why = f"its outputs changed since it ran ({changed})" if changed else \
                    "has not run with these inputs and options"
                raise ConfigError(f"step {spec.name} ({spec.licsbas}): {why}; include it in --steps")
            ctx.results[spec.name], upstream = typed, key
            continue
        if changed:
            log.warning("step %s (%s): %s changed since it ran: it runs again, and every step after it",
                        spec.name, spec.licsbas, changed)
            stale = True
        if typed is not None and key is not None and not force and not stale:
            log.info("[%d/%d] step %s (%s): up to date, skipped", i + 1, len(registry.STEPS), spec.name, spec.licsbas)
            ctx.timings[spec.name] = 0.0
            ctx.results[spec.name], upstream = typed, key
            continue
        log.info("[%d/%d] step %s (%s): %s ...", i + 1, len(registry.STEPS), spec.name, spec.licsbas, spec.title)
        _prepare_ahead(ctx, i, wanted, exits)
        upstream = _run_step(ctx, spec, state, upstream, fp, force, exits)


def _prepare_ahead(ctx: Context, i: int, wanted: list[str], exits: contextlib.ExitStack) -> None:
    """As step ``i`` of the chain starts: the :attr:`StepSpec.prepare` of the wanted steps up to
    :data:`PREPARE_AHEAD` places after it that have none yet (a failure only leaves the step to start its own)."""
    for later in registry.STEPS[i:i + PREPARE_AHEAD + 1]:
        if later.prepare is None or later.name not in wanted or later.name in ctx.prepared:
            continue
        try:
            ctx.prepared[later.name] = later.prepare(ctx, exits)
        except Exception as exc:  # noqa: BLE001 - a head start only
            log.debug("step %s: could not prepare ahead: %s", later.name, exc)
            ctx.prepared[later.name] = None


def _run_step(ctx: Context, spec: StepSpec, state: dict[str, Any], upstream: str, fp: str, force: bool,
              exits: contextlib.ExitStack) -> str:
    """Run one step, record it in ``state`` (and ``work/state.json``); returns its skip key."""
    cfg = ctx.options.model
    t0 = time.perf_counter()
    if spec.kernels:
        jitcache.set_up_numba()  # where the run's first step called none (once a process)
    prev_rec = state.pop(spec.name, None)
    prev = typed_result(spec, prev_rec)
    if prev is not None:
        ctx.previous[spec.name] = prev
    if spec.name != "ingest":
        _check_inputs(ctx, spec)
        if not ctx.frame_checked:  # a run resumed after its ingest: weighed here, once
            ctx.frame_checked = True
            warn_frame_memory(ctx.stack.shape, cfg, ctx.out)
        ctx.block = plan_block(ctx.stack.n_pair, int(ctx.stack.epochs.size), cfg)
        _set_client(ctx, spec, cfg, exits)
        ctx.threads = 1 if ctx.client is not None else block_threads(ctx.block, ctx.stack.n_pair,
                                                                      int(ctx.stack.epochs.size), cfg)
        said = plan_text(ctx.block, None if ctx.client is not None else ctx.threads, cfg)
        if said is not None and said != ctx.plan_said:  # once a run, and again where a step's plan differs
            log.info("%s", said)
        ctx.plan_said = said
        every = {n: value_of(cfg, n) for n in result_option_names(cfg)}
        ctx.resume_dir = _resume_dir(ctx, spec.name, skip_key(spec.name, every, upstream, fp), force)
        ctx.resuming = ctx.resume_dir.is_dir()
    ctx.options.reads = {}
    ctx.current = spec.name
    ctx.passes = {}
    jitcache.wait_for_warm(spec.name)  # its kernels may be compiling in the background (first run)
    result = spec.run(ctx)  # a failed ingest removes its own stack.zarr.partial (store.create_stack)
    release_memory(ctx.client)  # what the step freed, back to the system before the next one
    reads = dict(ctx.options.reads)
    if ctx.resume_dir is not None:
        shutil.rmtree(ctx.resume_dir, ignore_errors=True)
        ctx.resume_dir, ctx.resuming = None, False
    dt = time.perf_counter() - t0
    key = skip_key(spec.name, reads, upstream, fp)
    ctx.timings[spec.name] = dt
    ctx.results[spec.name] = result
    state[spec.name] = {"hash": key, "reads": reads, "result": result.to_json(), "seconds": round(dt, 3),
                        "passes": {k: round(v, 3) for k, v in ctx.passes.items()},
                        "outputs": output_stamps(ctx.out, spec)}
    if spec.name == "ingest":
        state[spec.name]["fingerprint"] = fp
        state[spec.name]["input"] = str(ctx.input_path.resolve()) if ctx.input_path is not None else \
            (prev_rec or {}).get("input")
    stamp_record(state[spec.name])
    write_json_atomic(ctx.layout.state, state, default=numpy_json)
    log.info("step %s done in %.1f s", spec.name, dt)
    if ctx.passes:
        log.debug("step %s: its passes %s", spec.name, ", ".join(f"{k} {v:.2f} s" for k, v in ctx.passes.items()))
    return key


def _set_client(ctx: Context, spec: StepSpec, cfg: RunConfig, exits: contextlib.ExitStack) -> None:
    """The dask client of the step: a ``--scheduler``'s (connected as the run began) for every step; a local
    cluster of ``--workers`` started for the first step after ingest and closed before a step that gains
    nothing from it (:attr:`StepSpec.local_workers`: the outputs, written from this process as without
    workers), whose memory the workers would otherwise hold through it (the M frame with two workers: ~0.5
    and ~0.7 GB while the products were written). A later step that wants workers starts a new one."""
    if not spec.local_workers and ctx.close_cluster is not None:
        ctx.close_cluster()
        ctx.client, ctx.close_cluster = None, None
    if spec.local_workers and ctx.client is None and (cfg.workers or cfg.scheduler):
        local = contextlib.ExitStack()
        exits.callback(local.close)
        ctx.client = local.enter_context(cluster(cfg.workers, cfg.scheduler, memory_limit=cfg.memory_limit))
        ctx.close_cluster = local.close if ctx.client is not None and not cfg.scheduler else None


def _check_inputs(ctx: Context, spec: StepSpec) -> None:
    """A clear error, before the step starts, when a work array it reads is missing."""
    for name in spec.inputs:
        if name not in ctx.work:
            raise InputError(ctx.layout.work_store, f"step {spec.name} needs the work array '{name}', which is "
                                                    f"missing: run the steps before it (or --force)")


def _write_records(ctx: Context) -> None:
    """``info/parameters.yaml`` (the options of this run) and ``info/timings.txt``."""
    info = ctx.layout.info
    info.mkdir(parents=True, exist_ok=True)
    write_text_atomic(info / INFO_FILES["parameters"], yaml_template(ctx.options.model))
    tl = ["# step      seconds"] + [f"{k:10s}  {v:8.2f}" for k, v in ctx.timings.items()]
    write_text_atomic(info / INFO_FILES["timings"], "\n".join(tl) + "\n")


def _resume_dir(ctx: Context, step: str, h: str, force: bool) -> Path:
    """``OUT/work/tasks/<step>-<hash>-b<block>``; records of other hashes (or all, with force) are removed."""
    root = ctx.layout.tasks
    d = root / f"{step}-{h}-b{ctx.block}"
    if root.is_dir():
        for old in root.glob(f"{step}-*"):
            if old != d or force:
                shutil.rmtree(old, ignore_errors=True)
    return d


def check_gpu() -> None:
    """Raise :class:`ConfigError` unless CuPy is importable and sees a GPU."""
    try:
        import cupy

        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - ImportError, or CUDA errors of a machine without a GPU
        raise ConfigError(f"--gpu needs CuPy and a CUDA GPU (pip install cupy-cuda12x): {exc}") from None
    if n < 1:
        raise ConfigError("--gpu: CuPy sees no GPU")
