"""Run a batch of frames as dask tasks: download (portal frames) then the whole time series.

Each frame is one task (:func:`run_frame`, a picklable top-level function) submitted through
:func:`kansho.parallel.map_tasks`; inside its task a frame runs in that worker process
(``workers=0``), so N workers process N frames at once. A frame that fails is recorded and the
others go on. Every state change is written atomically to ``ROOT/status/<frame>.json`` and a
summary to ``ROOT/status.json``. A frame is skipped on a re-run when its last run finished with the
same options (:meth:`FrameSpec.key`) and the same input files (names, sizes, modification times);
anything else (failed, interrupted, changed) is run again, and the time-series chain itself
resumes from its last finished step.

Layout under ``ROOT``::

    frames/<id>/        the frame's run (a run folder: kansho.layout)
    downloads/<id>/     portal frames: the downloaded GEOC/ (and GACOS/)
    inputs/<id>/        local frames with a date range: links to the pairs inside it
    status/<id>.json    per-frame status, timings, error, attempts
    status.json         the summary of the last batch run
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import re
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kansho._files import write_json_atomic
from kansho.batch.frames import FrameSpec
from kansho.errors import InputError
from kansho.run import Run

log = logging.getLogger(__name__)

#: states of a frame in ``ROOT/status/<id>.json``
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
#: exceptions worth another attempt (network, shared file system, a killed worker); never bad input
_NOT_TRANSIENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)
_PAIR_RE = re.compile(r"^(\d{8})_(\d{8})")


class TransientFrameError(OSError):
    """A fault worth retrying (e.g. some files of a download failed after their own retries)."""


def is_transient(exc: BaseException) -> bool:
    """True for faults that another attempt may cure: OS/network errors and timeouts, not bad input."""
    from kansho.errors import KanshoError

    if isinstance(exc, (KanshoError, _NOT_TRANSIENT)):
        return False
    return isinstance(exc, OSError | TimeoutError | ConnectionError)


@dataclass(frozen=True)
class FrameJob:
    """What one task needs: the frame, where to write, how often to retry."""

    spec: FrameSpec
    root: str
    retries: int = 2
    backoff_s: float = 5.0
    inputs: str = ""  # fingerprint of the input files when the batch was planned ("" for portal frames)
    run_id: str = ""


@dataclass
class BatchResult:
    """What :func:`run_batch` did: frame ids by outcome, and every frame's status record."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0
    #: why the batch stopped before every frame ran (no worker left), None if it did not
    error: str | None = None


# ----------------------------------------------------------------------------------- paths, status


def frame_out(root: str | Path, frame_id: str) -> Path:
    """The run folder of a frame (``ROOT/frames/<id>``)."""
    return Path(root) / "frames" / frame_id


def status_path(root: str | Path, frame_id: str) -> Path:
    return Path(root) / "status" / f"{frame_id}.json"


def read_status(root: str | Path, frame_id: str) -> dict[str, Any] | None:
    """The frame's last status record, or None if it never ran (or the file is unreadable)."""
    p = status_path(root, frame_id)
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: Any) -> None:
    """Atomic JSON write (unique temporary name, then rename): safe with several writers."""
    write_json_atomic(path, data, default=str)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


# ----------------------------------------------------------------------------------- one frame (a task)


def run_frame(job: FrameJob) -> dict[str, Any]:
    """Process one frame (download if from the portal, then the time series); return its status record.

    Never raises for a fault of the frame: the error (type, one-line message, last traceback line)
    is in the returned record, which is also written to ``ROOT/status/<id>.json``. Transient
    faults (:func:`is_transient`) are retried ``job.retries`` times with doubling delays.
    """
    spec = job.spec
    done = read_status(Path(job.root), spec.id)
    if (done and done.get("state") == DONE and done.get("run_id") == job.run_id and done.get("key") == spec.key()
            and done.get("inputs") == job.inputs):
        # finished in this batch already: dask runs a task again when the worker holding its result dies
        log.info("frame %s: already done in this batch (%s); its record is returned unchanged", spec.id, job.run_id)
        return done
    rec: dict[str, Any] = {
        "id": spec.id, "state": RUNNING, "key": spec.key(), "inputs": job.inputs, "source": spec.source,
        "run_id": job.run_id, "started": _now(), "finished": None, "seconds": None, "host": socket.gethostname(),
        "pid": os.getpid(), "attempts": 0, "attempt_errors": [], "error": None, "error_type": None,
        "out": str(frame_out(job.root, spec.id)),
    }
    write_json(status_path(job.root, spec.id), rec)
    t0 = time.perf_counter()
    for attempt in range(job.retries + 1):
        rec["attempts"] = attempt + 1
        try:
            rec.update(_process(job))
            rec["state"], rec["error"], rec["error_type"] = DONE, None, None
            break
        except Exception as exc:  # noqa: BLE001 - recorded; one frame never stops the batch
            msg = _one_line(exc)
            rec["state"], rec["error"], rec["error_type"] = FAILED, msg, type(exc).__name__
            rec["attempt_errors"].append(msg)
            rec["traceback"] = traceback.format_exc(limit=-3)
            if not is_transient(exc) or attempt == job.retries:
                break
            delay = job.backoff_s * 2**attempt
            log.warning("frame %s: %s (attempt %d of %d, retrying in %.0f s)", spec.id, msg, attempt + 1,
                        job.retries + 1, delay)
            time.sleep(delay)
    rec["finished"] = _now()
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    write_json(status_path(job.root, spec.id), rec)
    return rec


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ") or type(exc).__name__
    return text if len(text) < 1000 else text[:997] + "..."


def _process(job: FrameJob) -> dict[str, Any]:
    from kansho.config import load_config

    spec = job.spec
    root = Path(job.root)
    out = frame_out(root, spec.id)
    info: dict[str, Any] = {}
    if spec.is_portal:
        t0 = time.perf_counter()
        source = _download(spec, root / "downloads" / spec.id)
        info["download_seconds"] = round(time.perf_counter() - t0, 3)
    else:
        source = Path(spec.source)
    cfg = load_config(spec.config, spec.options)
    cfg = cfg.model_copy(update={"workers": 0, "scheduler": None})  # one frame per worker: run it here
    if spec.is_portal and cfg.ingest.gacos is None:  # not set for the frame: use the delays downloaded with it
        gacos = _downloaded_gacos(root / "downloads" / spec.id / "GACOS")
        if gacos:
            cfg = cfg.model_copy(update={"ingest": cfg.ingest.model_copy(update={"gacos": gacos})})
            info["gacos"] = gacos
    run, input_path, info["quarantined"] = _run_quarantining(spec, source, root / "inputs" / spec.id, out, cfg)
    seconds = {step: round(s, 3) for step, s in run.timings.items()}  # 0 for a step found up to date
    info.update({
        "steps_seconds": seconds,
        "steps_run": [k for k, v in seconds.items() if v > 0],
        "n_epoch": int(run.dates.size),
        "n_pair": run.n_pair,
        "n_pair_used": run.n_pair_used,
        "fingerprint": run.state.get("ingest", {}).get("fingerprint"),
        "input_path": str(input_path),
    })
    return info


def _run_quarantining(spec: FrameSpec, source: Path, links: Path, out: Path, cfg: Any) -> tuple[Any, Path,
                                                                                              list[dict[str, Any]]]:
    """Run the frame's time series; a corrupt file of one pair quarantines that pair and the frame runs
    again without it (:mod:`kansho.batch.quarantine`). Returns (run, input folder used, quarantined)."""
    from kansho.batch import quarantine
    from kansho.chain import runner

    quarantined: list[dict[str, Any]] = []
    input_path = select_dates(source, links, spec.start, spec.end)
    while True:
        try:
            return runner.run_timeseries(input_path, out, cfg, progress=False), input_path, quarantined
        except Exception as exc:
            pair = quarantine.faulty_pair(exc, [source, input_path])
            if pair is None or len(quarantined) >= quarantine.limit(source):
                raise
            assert isinstance(exc, InputError)
            quarantined.append(quarantine.entry(pair, exc))
            log.warning("frame %s: pair %s quarantined (%s); running the frame without it", spec.id, pair,
                        _one_line(exc))
            input_path = select_dates(source, links, spec.start, spec.end, exclude={q["pair"] for q in quarantined})


def _downloaded_gacos(folder: Path) -> str | None:
    """``folder`` if it holds GACOS delay files (downloaded with the frame), else None."""
    from kansho.io.gacos import find_delay_files

    if not folder.is_dir():
        return None
    try:
        found = find_delay_files(folder)
    except InputError as exc:
        log.warning("downloaded GACOS delays not used: %s", exc)
        return None
    log.info("GACOS: %d epoch(s) of delays downloaded with the frame in %s", len(found), folder)
    return str(folder) if found else None


def _download(spec: FrameSpec, dest: Path) -> Path:
    from kansho.io.download import DEFAULT_BASE_URL, download_frame

    summary = download_frame(spec.id, dest, start=spec.start, end=spec.end, base_url=spec.base_url or DEFAULT_BASE_URL,
                             max_tlen_days=spec.max_tlen_days, workers=4, progress=False)
    if not summary.ok:
        raise TransientFrameError(f"download of {spec.id}: {len(summary.failed)} file(s) failed")
    return dest / "GEOC"


def select_dates(source: Path, dest: Path, start: int | None, end: int | None,
                 exclude: set[str] | frozenset[str] = frozenset()) -> Path:
    """The input folder restricted to pairs whose two dates lie in ``[start, end]``, less the pairs
    ``exclude`` (``yyyymmdd_yyyymmdd``).

    Without a range or exclusions, ``source`` itself. Otherwise ``dest`` is (re)made with symbolic
    links to the entries of ``source`` (or of its ``GEOC/``) that are not date pairs (geometry,
    metadata) and to the pairs kept; works for the LiCSAR layout (pair folders) and flat GeoTIFF pairs.
    """
    if start is None and end is None and not exclude:
        return source
    src = source / "GEOC" if (source / "GEOC").is_dir() else source
    lo, hi = start or 0, end or 99999999
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.iterdir():
        if old.is_symlink():
            old.unlink()
    for entry in sorted(src.iterdir()):
        m = _PAIR_RE.match(entry.name)
        if m and (not (lo <= int(m.group(1)) and int(m.group(2)) <= hi) or m.group(0) in exclude):
            continue
        (dest / entry.name).symlink_to(entry.resolve())
    return dest


# ----------------------------------------------------------------------------------- the batch


def plan(specs: list[FrameSpec], root: str | Path, *, update: bool = False) -> tuple[list[FrameSpec], dict[str, str]]:
    """Split frames into those to run and those up to date; return (to_run, {id: inputs fingerprint}).

    A frame is up to date when its last status is ``done`` with the same :meth:`FrameSpec.key`, the
    same input fingerprint (local frames) and its velocity map exists. Portal frames are checked
    against the portal again only with ``update``.
    """
    todo: list[FrameSpec] = []
    prints: dict[str, str] = {}
    for spec in specs:
        fp = "" if spec.is_portal else _local_fingerprint(spec)
        prints[spec.id] = fp
        rec = read_status(root, spec.id)
        up_to_date = (
            rec is not None and rec.get("state") == DONE and rec.get("key") == spec.key()
            and rec.get("inputs") == fp and not fp.startswith("!")
            and Run(frame_out(root, spec.id)).has_map("vel")
            and not (spec.is_portal and update)
        )
        if not up_to_date:
            todo.append(spec)
    return todo, prints


def _local_fingerprint(spec: FrameSpec) -> str:
    """Names, sizes and times of the frame's input files ("!" + the error if they cannot be listed)."""
    from kansho.io.inputs import discover_inputs
    from kansho.store import input_fingerprint

    try:
        return input_fingerprint(discover_inputs(spec.source))
    except Exception as exc:  # noqa: BLE001 - the task will report the fault properly
        return f"!{type(exc).__name__}"


def run_batch(specs: list[FrameSpec], root: str | Path, *, client: Any = None, retries: int = 2,
              backoff_s: float = 5.0, update: bool = False, force: bool = False, progress: bool = True,
              stream: TextIO | None = None, watch: Any = None, poll_s: float = 2.0) -> BatchResult:
    """Run every frame not up to date as one dask task on ``client`` (None: here, one after another).

    Writes ``ROOT/status/<id>.json`` for every frame run and ``ROOT/status.json`` after every
    change; shows a table of the frames on ``stream`` (default stderr) when ``progress``. Returns
    a :class:`BatchResult`; a failed frame is listed in ``failed`` with its error in its record.

    With a ``client``, ``watch`` (a :class:`kansho.batch.slurm.WorkerWatch`; default one with its
    default timeout) is checked every ``poll_s`` seconds: it replaces lost batch jobs, and when no
    worker has been connected for its timeout the batch stops: every frame not finished is
    recorded as failed with that reason, and ``BatchResult.error`` holds it.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    run_id = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    todo, prints = plan(specs, root, update=update) if not force else (list(specs), {})
    if force:
        prints = {s.id: ("" if s.is_portal else _local_fingerprint(s)) for s in specs}
    res = BatchResult()
    run_ids = {s.id for s in todo}
    for s in specs:
        rec = read_status(root, s.id)
        if s.id not in run_ids:
            res.skipped.append(s.id)
            res.records[s.id] = {**(rec or {}), "skipped": True}
    for s in todo:
        rec = {"id": s.id, "state": QUEUED, "key": s.key(), "inputs": prints.get(s.id, ""), "run_id": run_id,
               "queued": _now(), "source": s.source}
        write_json(status_path(root, s.id), rec)
        res.records[s.id] = rec
    table = _Table(specs, res.records, stream or sys.stderr, enabled=progress)
    _write_summary(root, specs, res.records, run_id)
    table.show()
    log.info("batch %s: %d frame(s) to run, %d up to date", run_id, len(todo), len(res.skipped))
    jobs = [FrameJob(spec=s, root=str(root), retries=retries, backoff_s=backoff_s, inputs=prints.get(s.id, ""),
                     run_id=run_id) for s in todo]

    def finished(i: int, out: dict[str, Any] | None, err: BaseException | None) -> None:
        spec = todo[i]
        if err is not None:  # the worker died (too often) or the task could not run at all
            out = {**res.records[spec.id], "state": FAILED, "error": _one_line(err), "error_type": type(err).__name__,
                   "finished": _now()}
        assert out is not None
        write_json(status_path(root, spec.id), out)
        res.records[spec.id] = out
        (res.done if out["state"] == DONE else res.failed).append(spec.id)
        _write_summary(root, specs, res.records, run_id, extra=_watch_summary(watch))
        table.show()

    if client is None:
        from kansho.parallel import map_tasks

        for i, out, err in map_tasks(run_frame, jobs, desc="frames", progress=False):
            finished(i, out, err)
    else:
        if watch is None:
            from kansho.batch.slurm import WorkerWatch

            watch = WorkerWatch(client)
        res.error = _run_on_client(client, jobs, finished, watch, poll_s)
        if res.error:
            _abandon(root, todo, res, run_id)
    res.seconds = time.perf_counter() - t0
    _write_summary(root, specs, res.records, run_id, seconds=res.seconds, extra=_watch_summary(watch))
    table.show()
    table.close()
    return res


def _run_on_client(client: Any, jobs: list[FrameJob], finished: Any, watch: Any, poll_s: float) -> str | None:
    """Submit the frames to ``client``; call ``finished(i, out, err)`` as each ends. Between waits of
    ``poll_s`` seconds, ``watch.check()`` replaces lost jobs; its message (no worker left for too
    long) cancels the frames still pending and is returned."""
    from distributed import wait

    futures = client.map(run_frame, jobs, pure=False, retries=1)
    index = {f.key: i for i, f in enumerate(futures)}
    pending = set(futures)
    del futures  # a finished frame's future is released below: dask would run it again if its worker died
    try:
        while pending:
            with contextlib.suppress(TimeoutError):
                wait(list(pending), timeout=poll_s, return_when="FIRST_COMPLETED")
            for fut in [f for f in pending if f.done()]:
                if fut.status == "error":
                    finished(index[fut.key], None, fut.exception())
                elif fut.status == "cancelled":
                    finished(index[fut.key], None, RuntimeError("the task was cancelled on the dask scheduler"))
                else:
                    try:  # bounded: a result held by a worker that has just died is computed again, and
                        out = fut.result(timeout=poll_s)  # only watch.check() below can replace that worker
                    except TimeoutError:
                        log.info("frame %s: its result was lost with its worker; waiting for it again",
                                 jobs[index[fut.key]].spec.id)
                        continue
                    finished(index[fut.key], out, None)
                pending.discard(fut)
                fut.release()
            message = watch.check() if pending else None
            if message:
                log.error("%s", message)
                return str(message)
        return None
    finally:
        if pending:
            client.cancel(list(pending))


def _abandon(root: Path, todo: list[FrameSpec], res: BatchResult, run_id: str) -> None:
    """Record every frame of ``todo`` not finished as failed with ``res.error`` (its status file is true again)."""
    finished = set(res.done) | set(res.failed)
    for spec in todo:
        if spec.id in finished:
            continue
        last = read_status(root, spec.id) or res.records.get(spec.id, {})
        was = last.get("state", QUEUED) if last.get("run_id") == run_id else QUEUED
        rec = {**res.records.get(spec.id, {}), **last, "state": FAILED, "error": f"not finished ({was} when the batch "
               f"stopped): {res.error}", "error_type": "NoWorkerLeft", "finished": _now()}
        write_json(status_path(root, spec.id), rec)
        res.records[spec.id] = rec
        res.failed.append(spec.id)


def _watch_summary(watch: Any) -> dict[str, Any]:
    if watch is None or getattr(watch, "cluster", None) is None:
        return {}
    return {"jobs": watch.jobs, "jobs_replaced": watch.replaced, "jobs_lost": list(watch.lost)}


def _write_summary(root: Path, specs: list[FrameSpec], records: dict[str, dict[str, Any]], run_id: str,
                   seconds: float | None = None, extra: dict[str, Any] | None = None) -> None:
    frames = {}
    counts: dict[str, int] = {}
    for s in specs:
        r = records.get(s.id, {})
        state = r.get("state", "?")
        counts[state] = counts.get(state, 0) + 1
        frames[s.id] = {"state": state, "skipped": bool(r.get("skipped")), "seconds": r.get("seconds"),
                        "attempts": r.get("attempts"), "error": r.get("error"), "finished": r.get("finished"),
                        "run_id": r.get("run_id"), "n_epoch": r.get("n_epoch"), "n_pair": r.get("n_pair"),
                        "out": f"frames/{s.id}"}
    write_json(root / "status.json", {"run_id": run_id, "updated": _now(), "seconds": seconds, "counts": counts,
                                      **(extra or {}), "frames": frames})


class _Table:
    """The frames' states on stderr: redrawn in place on a terminal, one line per change otherwise."""

    def __init__(self, specs: list[FrameSpec], records: dict[str, dict[str, Any]], stream: TextIO,
                 enabled: bool = True) -> None:
        self.specs, self.records, self.stream, self.enabled = specs, records, stream, enabled
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.drawn = 0
        self.last: dict[str, str] = {}

    def rows(self) -> list[str]:
        w = max(8, *(len(s.id) for s in self.specs))
        out = [f"{'frame':<{w}}  {'state':<8} {'time':>8} {'epochs':>6} {'pairs':>6}  error"]
        for s in self.specs:
            r = self.records.get(s.id, {})
            state = "up2date" if r.get("skipped") else str(r.get("state", "?"))
            sec = r.get("seconds")
            out.append(f"{s.id:<{w}}  {state:<8} {'' if sec is None else f'{sec:.1f}s':>8} "
                       f"{r.get('n_epoch') or '':>6} {r.get('n_pair') or '':>6}  {(r.get('error') or '')[:80]}")
        return out

    def show(self) -> None:
        if not self.enabled:
            return
        rows = self.rows()
        if self.tty:
            if self.drawn:
                self.stream.write(f"\x1b[{self.drawn}F\x1b[J")
            self.stream.write("\n".join(rows) + "\n")
            self.drawn = len(rows)
        else:
            for s, line in zip(self.specs, rows[1:], strict=True):
                if self.last.get(s.id) != line:
                    self.stream.write(line.rstrip() + "\n")
                    self.last[s.id] = line
        self.stream.flush()

    def close(self) -> None:
        pass
