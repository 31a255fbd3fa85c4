"""Running the chain: which steps are up to date, which run, block planning, state and records.

A step is up to date when its skip key is unchanged: the hash of its name, every option it read
the last time it ran (with today's values; :mod:`kansho.chain.options`), the key of the step
before it (so everything upstream) and, for ingest, the input files' fingerprint. A step that
runs records its key, the options it read, its typed result and its time in ``work/state.json``
(atomically, after its arrays); a step interrupted half-way has no record and runs again,
replaying the blocks it had finished (:meth:`kansho.chain.context.Context.map_blocks`).

A record also stamps the arrays the step left (:func:`array_stamp`); a step whose key is unchanged
but whose arrays (or, for ``outputs``, product files) are gone or changed runs again, with every
step after it. The whole run holds the folder's writer lock (:mod:`kansho.chain.lock`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kansho._files import disk_full_error, is_disk_full, write_text_atomic
from kansho.chain import registry
from kansho.chain.context import Context
from kansho.chain.lock import run_lock
from kansho.chain.options import Options, result_option_names, skip_key, value_of
from kansho.chain.spec import StepResult, StepSpec
from kansho.chain.steps.ingest import inputs_of
from kansho.config import RunConfig, yaml_template
from kansho.errors import ConfigError, InputError, KanshoError
from kansho.layout import INFO_FILES, STACK_NAME, RunLayout
from kansho.parallel import cluster, default_memory_limit, parse_memory
from kansho.run import Run
from kansho.store import input_fingerprint, write_json_atomic

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
    """
    cfg = cfg or RunConfig()
    out = Path(out)
    before = _skeleton(out)
    _check_out(out)
    try:
        with run_lock(out):
            return _run_locked(input_path, out, cfg, steps, force, progress)
    except OSError as exc:
        _remove_new_empty_dirs(out, before)
        if is_disk_full(exc) and not isinstance(exc, KanshoError):
            raise disk_full_error(out, exc) from None
        raise
    except BaseException:
        _remove_new_empty_dirs(out, before)
        raise


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
    with contextlib.ExitStack() as exits:
        if cfg.scheduler:  # an unreachable scheduler is a one-line error before any work (a local cluster
            # starts when the first step after ingest needs it)
            ctx.client = exits.enter_context(cluster(cfg.workers, cfg.scheduler, memory_limit=cfg.memory_limit))
        fingerprint = _fingerprint(ctx, state)
        if cfg.gpu:
            check_gpu()
        _run_steps(ctx, state, wanted, fingerprint, force, exits)
    _write_records(ctx)
    return Run(out, timings=dict(ctx.timings))


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


def _current_key(spec: StepSpec, rec: dict[str, Any] | None, cfg: RunConfig, upstream: str, fp: str) -> str | None:
    """The step's skip key with today's values of the options it read last time; None without a usable record."""
    if not rec or not isinstance(rec.get("reads"), dict):
        return None
    try:
        reads = {name: value_of(cfg, name) for name in rec["reads"]}
    except KeyError:  # an option that no longer exists
        return None
    return skip_key(spec.name, reads, upstream, fp)


def _typed(spec: StepSpec, rec: dict[str, Any] | None) -> StepResult | None:
    if not rec:
        return None
    try:
        return registry.result_from_record(spec.name, rec)
    except (TypeError, KeyError):  # a record written by another version
        return None


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
        key = _current_key(spec, rec, cfg, upstream, fp)
        done = key is not None and rec is not None and rec.get("hash") == key
        typed = _typed(spec, rec) if done else None
        changed = _changed_outputs(ctx, spec, rec, typed) if typed is not None else None
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
        upstream = _run_step(ctx, spec, state, upstream, fp, force, exits)


def _run_step(ctx: Context, spec: StepSpec, state: dict[str, Any], upstream: str, fp: str, force: bool,
              exits: contextlib.ExitStack) -> str:
    """Run one step, record it in ``state`` (and ``work/state.json``); returns its skip key."""
    cfg = ctx.options.model
    t0 = time.perf_counter()
    prev = _typed(spec, state.pop(spec.name, None))
    if prev is not None:
        ctx.previous[spec.name] = prev
    if spec.name != "ingest":
        _check_inputs(ctx, spec)
        ctx.block = plan_block(ctx.stack.n_pair, int(ctx.stack.epochs.size), cfg)
        if ctx.client is None and (cfg.workers or cfg.scheduler):
            ctx.client = exits.enter_context(cluster(cfg.workers, cfg.scheduler, memory_limit=cfg.memory_limit))
        every = {n: value_of(cfg, n) for n in result_option_names(cfg)}
        ctx.resume_dir = _resume_dir(ctx, spec.name, skip_key(spec.name, every, upstream, fp), force)
        ctx.resuming = ctx.resume_dir.is_dir()
    ctx.options.reads = {}
    ctx.current = spec.name
    result = spec.run(ctx)  # a failed ingest removes its own stack.zarr.partial (store.create_stack)
    reads = dict(ctx.options.reads)
    if ctx.resume_dir is not None:
        shutil.rmtree(ctx.resume_dir, ignore_errors=True)
        ctx.resume_dir, ctx.resuming = None, False
    dt = time.perf_counter() - t0
    key = skip_key(spec.name, reads, upstream, fp)
    ctx.timings[spec.name] = dt
    ctx.results[spec.name] = result
    state[spec.name] = {"hash": key, "reads": reads, "result": result.to_json(), "seconds": round(dt, 3),
                        "outputs": _output_stamps(ctx, spec)}
    if spec.name == "ingest":
        state[spec.name]["fingerprint"] = fp
    write_json_atomic(ctx.layout.state, state)
    log.info("step %s done in %.1f s", spec.name, dt)
    return key


#: arrays of the stack store stamped in the ingest step's record (the work store's for the other steps)
STACK_ARRAYS = ("unw", "coh")
#: products of the outputs step that are drawings (plots, the report): not checked on a re-run
FIGURE_SUFFIXES = (".png", ".html")


def _output_dirs(ctx: Context, spec: StepSpec) -> dict[str, Path]:
    """The folders of the arrays a step leaves behind (zarr v3: one folder per array), by name."""
    if spec.name == "ingest":
        return {f"{STACK_NAME}/{n}": ctx.layout.stack / n for n in STACK_ARRAYS}
    return {n: ctx.layout.work_store / n for n in spec.outputs}


def array_stamp(root: Path) -> dict[str, Any] | None:
    """Shape, dtype and a cheap content stamp of the zarr v3 array in folder ``root``; None if there is none.

    The stamp hashes the array's metadata, the name and size of every chunk file and the bytes of
    three of them (first, middle, last): an array removed, re-created or rewritten changes it,
    without reading a large cube whole. File times are left out, so a copied run folder keeps it.
    """
    try:
        meta = (root / "zarr.json").read_bytes()
        m = json.loads(meta)
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or m.get("node_type") != "array":
        return None
    files: list[tuple[str, int]] = []
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            if n != "zarr.json" and not n.startswith("."):
                f = Path(d, n)
                files.append((f.relative_to(root).as_posix(), f.stat().st_size))
    h = hashlib.sha1(meta)
    h.update(repr(files).encode())
    for k in sorted({0, len(files) // 2, len(files) - 1}) if files else []:
        h.update((root / files[k][0]).read_bytes())
    return {"shape": m.get("shape"), "dtype": str(m.get("data_type")), "stamp": h.hexdigest()[:20]}


def _output_stamps(ctx: Context, spec: StepSpec) -> dict[str, Any]:
    return {n: st for n, d in _output_dirs(ctx, spec).items() if (st := array_stamp(d)) is not None}


def _changed_outputs(ctx: Context, spec: StepSpec, rec: dict[str, Any] | None, typed: StepResult) -> str | None:
    """Why the step's recorded outputs are no longer what it left (a few words), or None when they are.

    A record without stamps (written by an older version) is trusted. The outputs step also checks
    that every numerical product it listed (GeoTIFFs, cubes) is still there; figures and the report
    are drawings of those and are not checked.
    """
    recorded = (rec or {}).get("outputs")
    if isinstance(recorded, dict):
        dirs = _output_dirs(ctx, spec)
        for name, stamp in recorded.items():
            now = array_stamp(dirs[name]) if name in dirs else None
            if now is None:
                return f"its array {name} is missing"
            if now != stamp:
                return f"its array {name} was modified"
    for rel in getattr(typed, "written", None) or []:
        if not str(rel).endswith(FIGURE_SUFFIXES) and not (ctx.out / rel).exists():
            return f"its product {rel} is missing"
    return None


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


def plan_block(n_pair: int, n_epoch: int, cfg: RunConfig) -> int:
    """Side of the processing blocks: ``cfg.block_size``, made smaller when a block would not fit.

    A block of ``B x B`` pixels needs about ``64 n_pair + 16 n_epoch`` bytes per pixel in the
    inversion (the largest step: phase, coherence and float64 copies of every pair); each worker
    gets ``memory_limit / workers`` minus 0.5 GB for the interpreter and libraries.
    """
    total = parse_memory(cfg.memory_limit) or default_memory_limit()
    n_workers = max(1, cfg.workers) if not cfg.scheduler else 1
    per_worker = max(total / n_workers - 0.5e9, 0.1e9)
    px = per_worker / (64.0 * n_pair + 16.0 * n_epoch)
    b = int(math.sqrt(px)) // 16 * 16
    block = max(32, min(cfg.block_size, b))
    if block < cfg.block_size:
        log.info("blocks of %d px (not %d) to stay within %.1f GB per worker", block, cfg.block_size, per_worker / 1e9)
    return block


def check_gpu() -> None:
    """Raise :class:`ConfigError` unless CuPy is importable and sees a GPU."""
    try:
        import cupy

        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - ImportError, or CUDA errors of a machine without a GPU
        raise ConfigError(f"--gpu needs CuPy and a CUDA GPU (pip install cupy-cuda12x): {exc}") from None
    if n < 1:
        raise ConfigError("--gpu: CuPy sees no GPU")


def _fingerprint(ctx: Context, state: dict[str, Any]) -> str:
    """The input files' fingerprint (with GACOS and polygon files), or the last run's without an input."""
    if ctx.input_path is None:
        rec = state.get("ingest")
        if rec is None:
            raise InputError(ctx.out, "no previous run here: give the input folder")
        return str(rec.get("fingerprint", ""))
    fp = input_fingerprint(inputs_of(ctx))
    from kansho.io.prepare import files_fingerprint, prep_files

    extra = files_fingerprint(prep_files(ctx.options.model.ingest, ctx.input_path))  # delay layers, polygons
    return fp + extra if extra else fp
