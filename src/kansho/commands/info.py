"""``kansho info OUT``: what ran in a run folder, with which options and versions, and what would run again.

Reads ``work/state.json`` (each finished step's record: when, options read, versions, array stamps),
``info/parameters.yaml`` and the input folder's files; runs nothing and writes nothing. Works on a
finished run and on a partial one (interrupted, or run with ``--steps``); a folder that is not a
Kansho run is refused with one line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def register(sub: Any, fmt: type[argparse.HelpFormatter]) -> None:
    p = sub.add_parser("info", help="what ran in a run folder (steps, options, versions, inputs) and what "
                       "would run again now and why; runs nothing", formatter_class=fmt,
                       description="Print the steps that finished in OUT (when, how long, with which kansho and "
                       "numeric-package versions), the input, the options that differ from the defaults, and "
                       "which steps would run again now and why: the input files changed, arrays or products "
                       "changed or missing, steps not finished, and which would run again if `kansho ts -o OUT` "
                       "were given no options (options not given revert to their defaults).")
    p.add_argument("out", type=Path, help="run folder (kansho ts -o OUT)")
    p.add_argument("--all-options", action="store_true",
                   help="list every option the steps read, not only those that differ from the defaults")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    sys.stdout.write(run_info(args.out, all_options=args.all_options))
    return 0


def run_info(out: str | Path, *, all_options: bool = False) -> str:
    """The text :program:`kansho info` prints for run folder ``out``; :class:`InputError` if it is not one."""
    from kansho.chain import registry
    from kansho.chain.records import plan_steps, version_changes

    run = _open(Path(out))
    state = run.state
    lines = [f"Run folder: {run.path.resolve()}"]
    done = [s.name for s in registry.STEPS if isinstance(state.get(s.name), dict)]
    total = len(registry.STEPS)
    status = "finished" if len(done) == total else f"partial: {len(done)} of {total} steps finished"
    lines.append(f"  status: {status}" + ("" if run.has_cum else " (no cum.h5 yet)"))
    lines += _input_lines(state)
    lines += _step_lines(state, run.layout.tasks)
    lines += _version_lines(state)
    lines += _option_lines(state, all_options)
    lines.append("")
    fp, why_not = _fingerprint_now(run, state)
    plans = plan_steps(run.path, state, None, fp)
    lines.append("Would run again now (same options" + (", input checked)" if fp is not None else
                                                       f"; input not checked: {why_not})") + ":")
    lines += _plan_lines(plans) or ["  nothing: every step is up to date"]
    for v in version_changes(state):
        lines.append(f"  note: version changed since the steps ran: {v}; steps do not run again for a version "
                     "change (kansho ts --force recomputes them)")
    from kansho.config import RunConfig

    bare = plan_steps(run.path, state, RunConfig(), fp)
    extra = [p for p, same in zip(bare, plans, strict=True) if p.rerun and not same.rerun]
    if extra:
        opts = sorted({c.option for p in bare for c in p.changes})
        lines.append("")
        lines.append("`kansho ts -o OUT` with no options would also run again (options not given take their "
                     "default value): " + ", ".join(p.label for p in extra))
        lines.append("  because of: " + "; ".join(c.text() for c in _unique_changes(bare) if c.option in opts))
    return "\n".join(lines) + "\n"


def _open(path: Path) -> Any:
    from kansho.errors import InputError
    from kansho.run import Run

    if not path.is_dir():
        raise InputError(path, "not a folder (expected a Kansho run folder, kansho ts -o OUT)")
    run = Run(path)
    lay = run.layout
    if not (lay.state.is_file() or lay.work_store.is_dir() or lay.stack.is_dir()):
        what = "a LiCSBAS or other cum.h5 folder without Kansho's records" if run.has_cum else "no step records"
        raise InputError(path, f"not a Kansho run folder ({what}: no {lay.state.relative_to(path)})")
    _ = run.state  # a damaged state.json: InputError naming it
    return run


def _input_lines(state: dict[str, Any]) -> list[str]:
    rec = state.get("ingest")
    if not isinstance(rec, dict):
        return ["Input: unknown (the ingest step has not finished)"]
    res = rec.get("result", {})
    where = rec.get("input") or "(not recorded by this version)"
    shape = "x".join(str(v) for v in res.get("shape", []))
    return [f"Input: {where}",
            f"  {res.get('layout', '?')} layout, {res.get('n_pair', '?')} pairs, {res.get('n_epoch', '?')} epochs, "
            f"grid {shape or '?'} px, wavelength {res.get('wavelength', '?')} m; "
            f"fingerprint {rec.get('fingerprint', '?')}"]


def _step_lines(state: dict[str, Any], tasks: Path) -> list[str]:
    from kansho.chain import registry

    lines = ["", "Steps:", f"  {'step':8s} {'LiCSBAS':7s} {'finished (UTC)':25s} {'seconds':>8s}  kansho  longest pass"]
    for s in registry.STEPS:
        rec = state.get(s.name)
        if not isinstance(rec, dict):
            kept = sum(1 for d in tasks.glob(f"{s.name}-*") if d.is_dir() for _ in d.glob("*.pkl"))
            lines.append(f"  {s.name:8s} {s.licsbas:7s} not finished" +
                         (f" (interrupted: {kept} finished block/epoch tasks kept, replayed when it resumes)"
                          if kept else ""))
            continue
        when = str(rec.get("finished", "not recorded"))
        ver = (rec.get("versions") or {}).get("kansho", "?")
        lines.append(f"  {s.name:8s} {s.licsbas:7s} {when:25s} {float(rec.get('seconds', 0.0)):8.1f}  {ver:6s}  "
                     f"{_longest_pass(rec)}".rstrip())
    return lines


def _longest_pass(rec: dict[str, Any]) -> str:
    """The step's longest pass over the frame and its wall time (its record's ``passes``), or nothing."""
    passes = rec.get("passes")
    if not isinstance(passes, dict) or not passes:
        return ""
    name, sec = max(passes.items(), key=lambda kv: float(kv[1]))
    return f"{name} ({float(sec):.1f} s)"


def _version_lines(state: dict[str, Any]) -> list[str]:
    seen: dict[str, set[str]] = {}
    for rec in state.values():
        for k, v in ((rec.get("versions") or {}) if isinstance(rec, dict) else {}).items():
            seen.setdefault(k, set()).add(str(v))
    if not seen:
        return ["Versions: not recorded (steps run by an older kansho)"]
    return ["Versions: " + ", ".join(f"{k} {'/'.join(sorted(v))}" for k, v in seen.items())]


def _recorded_options(state: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Every option a step read: its values (as JSON text) and the steps that read each value."""
    from kansho.chain import registry

    out: dict[str, dict[str, list[str]]] = {}
    for s in registry.STEPS:
        rec = state.get(s.name)
        if isinstance(rec, dict) and isinstance(rec.get("reads"), dict):
            for k, v in rec["reads"].items():
                out.setdefault(k, {}).setdefault(json.dumps(v), []).append(s.name)
    return out


def _option_lines(state: dict[str, Any], all_options: bool) -> list[str]:
    """The options the steps read: those that differ from the defaults (all with ``all_options``); an
    option read with different values by different steps (a partial re-run) lists each value's steps."""
    from kansho.chain.options import GIVEN, value_of
    from kansho.config import RunConfig

    reads = {k: v for k, v in _recorded_options(state).items() if not k.endswith(GIVEN)}
    default = RunConfig()
    rows = []
    for k in sorted(reads):
        try:
            dflt = json.dumps(value_of(default, k))
        except KeyError:
            dflt = "(no longer an option)"
        values = reads[k]
        if not all_options and list(values) == [dflt]:
            continue
        if len(values) == 1:
            shown = next(iter(values)) + (" (default)" if dflt in values else "")
        else:
            shown = " / ".join(f"{v} (read by {', '.join(st)})" for v, st in values.items())
        rows.append(f"  {k}: {shown}" + ("" if list(values) == [dflt] else f"   [default: {dflt}]"))
    head = "Options the steps read" + ("" if all_options else " that differ from the defaults") + \
        f" ({len(reads)} read in all; info/parameters.yaml has every option):"
    return ["", head] + (rows or ["  none: every option read has its default value"])


def _fingerprint_now(run: Any, state: dict[str, Any]) -> tuple[str | None, str]:
    """The input's fingerprint today (None and why when it cannot be taken)."""
    from kansho.chain.context import Context
    from kansho.chain.options import GIVEN, Options
    from kansho.chain.records import fingerprint_of
    from kansho.config import load_config
    from kansho.errors import KanshoError

    rec = state.get("ingest")
    if not isinstance(rec, dict) or not rec.get("input"):
        return None, "the run did not record its input folder"
    where = str(rec["input"])
    if not Path(where).is_dir():
        return None, f"{where} is not there any more"
    reads = {k: v for k, v in (rec.get("reads") or {}).items() if not k.endswith(GIVEN)}
    params = run.layout.info_file("parameters")
    quiet = logging.getLogger("kansho.io")  # reading the input's listing again logs what it found
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        cfg = load_config(params if params.is_file() else None, reads)
        ctx = Context(out=run.path, options=Options(cfg), input_path=Path(where), progress=False)
        return fingerprint_of(ctx, state), ""
    except (KanshoError, OSError) as exc:
        return None, str(exc)
    finally:
        quiet.setLevel(level)


def _plan_lines(plans: list[Any]) -> list[str]:
    """One line per reason, naming the steps it concerns; the steps that run only because an earlier one
    does come last."""
    groups: dict[str, list[str]] = {}
    for p in plans:
        if p.rerun:
            groups.setdefault("; ".join(p.reasons), []).append(p.label)
    follow = [k for k in groups if k.startswith("step ") and k.endswith(" before it runs again")]
    lines = [f"  {', '.join(groups[k])}: {k}" for k in groups if k not in follow]
    for k in follow:
        lines.append(f"  {', '.join(groups[k])}: because step {k[5:].split()[0]} before them runs again")
    return lines


def _unique_changes(plans: list[Any]) -> list[Any]:
    seen: dict[str, Any] = {}
    for p in plans:
        for c in p.changes:
            seen.setdefault(c.option, c)
    return list(seen.values())
