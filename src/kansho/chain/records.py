"""What a run folder recorded about its steps, and what would run again: the runner's decisions, explained.

``work/state.json`` holds one record per finished step: its skip key, the options it read with
their values, its typed result, the stamps of the arrays it left, when it finished and with which
versions (kansho and the numeric packages). :func:`plan_steps` walks the chain as the runner does
and says, per step, whether it would run again and why: no record (never finished: an interrupted
or partial run), options changed (old -> new value), the input files changed, its arrays or
products changed, or an earlier step runs again. A version change is reported but does not make a
step run again (the runner's skip keys hold no version; ``--force`` recomputes).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from kansho._version import __version__
from kansho.chain import registry
from kansho.chain.context import Context
from kansho.chain.options import GIVEN, skip_key, value_of
from kansho.chain.spec import StepResult, StepSpec
from kansho.config import RunConfig
from kansho.errors import InputError
from kansho.layout import STACK_NAME, RunLayout

#: arrays of the stack store stamped in the ingest step's record (the work store's for the other steps)
STACK_ARRAYS = ("unw", "coh")
#: products of the outputs step that are drawings (plots, the report): not checked on a re-run
FIGURE_SUFFIXES = (".png", ".html")
#: the packages whose versions each step record keeps (those that compute the results)
NUMERIC_PACKAGES = ("numpy", "scipy", "numba", "h5py", "zarr", "rasterio", "dask")


# ------------------------------------------------------------------------------------------ stamps
def output_dirs(out: Path, spec: StepSpec) -> dict[str, Path]:
    """The folders of the arrays a step leaves behind (zarr v3: one folder per array), by name."""
    lay = RunLayout(out)
    if spec.name == "ingest":
        return {f"{STACK_NAME}/{n}": lay.stack / n for n in STACK_ARRAYS}
    return {n: lay.work_store / n for n in spec.outputs}


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


def output_stamps(out: Path, spec: StepSpec) -> dict[str, Any]:
    return {n: st for n, d in output_dirs(out, spec).items() if (st := array_stamp(d)) is not None}


def changed_outputs(out: Path, spec: StepSpec, rec: dict[str, Any] | None, typed: StepResult) -> str | None:
    """Why the step's recorded outputs are no longer what it left (a few words), or None when they are.

    A record without stamps (written by an older version) is trusted. The outputs step also checks
    that every numerical product it listed (GeoTIFFs, cubes) is still there; figures and the report
    are drawings of those and are not checked.
    """
    recorded = (rec or {}).get("outputs")
    if isinstance(recorded, dict):
        dirs = output_dirs(out, spec)
        for name, stamp in recorded.items():
            now = array_stamp(dirs[name]) if name in dirs else None
            if now is None:
                return f"its array {name} is missing"
            if now != stamp:
                return f"its array {name} was modified"
    for rel in getattr(typed, "written", None) or []:
        if not str(rel).endswith(FIGURE_SUFFIXES) and not (out / rel).exists():
            return f"its product {rel} is missing"
    return None


# ------------------------------------------------------------------------------------------ keys
def current_key(spec: StepSpec, rec: dict[str, Any] | None, cfg: RunConfig, upstream: str, fp: str) -> str | None:
    """The step's skip key with today's values of the options it read last time; None without a usable record."""
    if not rec or not isinstance(rec.get("reads"), dict):
        return None
    try:
        reads = {name: value_of(cfg, name) for name in rec["reads"]}
    except KeyError:  # an option that no longer exists
        return None
    return skip_key(spec.name, reads, upstream, fp)


def typed_result(spec: StepSpec, rec: dict[str, Any] | None) -> StepResult | None:
    if not rec:
        return None
    try:
        return registry.result_from_record(spec.name, rec)
    except (TypeError, KeyError):  # a record written by another version
        return None


def fingerprint_of(ctx: Context, state: dict[str, Any]) -> str:
    """The input files' fingerprint (with GACOS and polygon files), or the last run's without an input."""
    from kansho.chain.steps.ingest import inputs_of
    from kansho.store import input_fingerprint

    if ctx.input_path is None:
        rec = state.get("ingest")
        if rec is None:
            raise InputError(ctx.out, "no previous run here: give the input folder")
        return str(rec.get("fingerprint", ""))
    fp = input_fingerprint(inputs_of(ctx))
    from kansho.io.prepare import files_fingerprint, prep_files

    extra = files_fingerprint(prep_files(ctx.options.model.ingest, ctx.input_path))  # delay layers, polygons
    return fp + extra if extra else fp


# ------------------------------------------------------------------------------------------ versions
def versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of kansho, Python and :data:`NUMERIC_PACKAGES` (those installed), for a step's record; and of
    the ``extra`` distributions installed. Looked up once per process (:func:`_versions`): a package upgraded
    on disk while it runs is still the version this process imported."""
    return dict(_versions(tuple(extra)))


@functools.cache
def _versions(extra: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """:func:`versions`, read from the installed distributions' metadata (each lookup parses a METADATA file:
    56 lookups, 49 ms, in a run of eight steps before)."""
    import platform

    out = {"kansho": __version__, "python": platform.python_version()}
    for name in (*NUMERIC_PACKAGES, *extra):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return tuple(out.items())


def stamp_record(rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` with when it finished (UTC, ISO 8601) and :func:`versions`."""
    rec["finished"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    rec["versions"] = versions()
    return rec


# ------------------------------------------------------------------------------------------ plan
@dataclass(frozen=True)
class Change:
    """An option whose value differs from the one a step read when it last ran."""

    option: str
    old: Any
    new: Any
    #: whether ``new`` is the option's default value
    new_is_default: bool = False
    old_is_default: bool = False

    def text(self) -> str:
        if self.option.endswith(GIVEN):
            return f"options given in {self.option[: -len(GIVEN)]}: {_show(self.old)} -> {_show(self.new)}"
        old = _show(self.old) + (" (default)" if self.old_is_default else "")
        new = _show(self.new) + (" (default)" if self.new_is_default else "")
        return f"{self.option}: {old} -> {new}"


@dataclass
class StepPlan:
    """What would happen to one step: ``rerun`` and the reasons (empty when it is up to date)."""

    name: str
    licsbas: str
    rerun: bool = False
    reasons: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name} ({self.licsbas})"


def _show(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, str):
        return repr(v)
    return json.dumps(v) if isinstance(v, list | dict) else str(v)


def option_changes(rec: dict[str, Any], cfg: RunConfig) -> list[Change]:
    """The options the record says its step read whose value in ``cfg`` differs (an option that no longer
    exists shows with new value ``"<gone>"``)."""
    reads = rec.get("reads")
    if not isinstance(reads, dict):
        return []
    defaults = RunConfig()
    out = []
    for name, old in reads.items():
        try:
            new = value_of(cfg, name)
        except KeyError:
            out.append(Change(name, old, "<gone>"))
            continue
        if new != old:
            dflt = value_of(defaults, name) if not name.endswith(GIVEN) else []
            out.append(Change(name, old, new, new == dflt, old == dflt))
    return out


def plan_steps(out: Path, state: dict[str, Any], cfg: RunConfig | None, fingerprint: str | None,
               *, force: bool = False, check_outputs: bool = True) -> list[StepPlan]:
    """Walk the chain as the runner would with options ``cfg`` and input fingerprint ``fingerprint``.

    ``cfg`` None: each step with the options it read last time (what would run again with the same
    options). ``fingerprint`` None: the input is not checked. ``check_outputs`` False: the stamps of the
    arrays are not compared (the runner compares them itself as it goes). Once a step runs again, every step after
    it does too (its upstream key changes). Reads files only (the stamps of the work arrays).
    """
    plans: list[StepPlan] = []
    upstream = ""
    cause: str | None = None  # the first step that runs again
    for spec in registry.STEPS:
        rec = state.get(spec.name)
        p = StepPlan(spec.name, spec.licsbas)
        plans.append(p)
        if not isinstance(rec, dict) or not isinstance(rec.get("reads"), dict):
            p.reasons.append("it has not finished in this folder (never run, or interrupted)")
        else:
            upstream = _plan_one(out, spec, rec, cfg, fingerprint, upstream, p, chained=cause is None,
                                 check_outputs=check_outputs)
        if force:
            p.reasons.append("--force")
        if cause is not None and not p.reasons:
            p.reasons.append(f"step {cause} before it runs again")
        p.rerun = bool(p.reasons)
        if p.rerun and cause is None:
            cause = spec.name
    return plans


def _plan_one(out: Path, spec: StepSpec, rec: dict[str, Any], cfg: RunConfig | None, fingerprint: str | None,
              upstream: str, p: StepPlan, *, chained: bool, check_outputs: bool) -> str:
    """Fill ``p`` for a step with a record; returns the key the next step's record should chain on.
    ``chained``: every step before it is up to date, so its record must chain on theirs."""
    fp_old = str(rec.get("fingerprint", "")) if spec.name == "ingest" else ""
    fp = fp_old
    if spec.name == "ingest" and fingerprint is not None and fingerprint != fp_old:
        p.reasons.append("the input files changed (names, sizes or times) since it ran")
        fp = fingerprint
    if cfg is not None:
        p.changes = option_changes(rec, cfg)
        if p.changes:
            p.reasons.append("options changed: " + "; ".join(c.text() for c in p.changes))
    reads = dict(rec["reads"])
    if cfg is not None:
        reads.update({c.option: c.new for c in p.changes})
    key = skip_key(spec.name, reads, upstream, fp)
    if chained and not p.reasons and rec.get("hash") != skip_key(spec.name, dict(rec["reads"]), upstream, fp_old):
        p.reasons.append("an earlier step ran again after it (with other options or inputs)")
    typed = typed_result(spec, rec)
    if typed is None:
        p.reasons.append("its record was written by an incompatible version")
    elif check_outputs:
        changed = changed_outputs(out, spec, rec, typed)
        if changed:
            p.reasons.append(changed)
    return key


def version_changes(state: dict[str, Any]) -> list[str]:
    """``"<package> A -> B (steps ...)"`` for every recorded version that differs from this process's."""
    now = versions()
    seen: dict[tuple[str, str], list[str]] = {}
    for name, rec in state.items():
        for pkg, v in (rec.get("versions") or {}).items() if isinstance(rec, dict) else []:
            if pkg in now and str(v) != now[pkg]:
                seen.setdefault((pkg, str(v)), []).append(name)
    return [f"{pkg} {old} -> {now[pkg]} (steps {', '.join(steps)})" for (pkg, old), steps in seen.items()]


def cli_flag(option: str) -> str:
    """The ``kansho ts`` option of a dotted name (``loops.ref`` -> ``--ref``, ``mask.vstd`` -> ``--mask-vstd``)."""
    section, _, name = option.rpartition(".")
    flag = name.replace("_", "-")
    return f"--mask-{flag}" if section == "mask" else f"--{flag}"


def change_report(out: Path, plans: list[StepPlan], wanted: list[str]) -> str | None:
    """The warning a re-run prints before it starts: which options changed since the last run of ``out``
    (old -> new, defaults named), whether the input changed, and which steps run again because of it;
    None when nothing changed (a first run, an interrupted one resumed, or one up to date)."""
    changes: dict[str, Change] = {}
    for p in plans:
        for c in p.changes:
            changes.setdefault(c.option, c)
    input_changed = any(r.startswith("the input files changed") for p in plans for r in p.reasons)
    if not changes and not input_changed:
        return None
    rerun = [p.label for p in plans if p.rerun and p.name in wanted]
    lines = [f"{out}: this run differs from the last run of this folder; its products will be replaced:"]
    if input_changed:
        lines.append("  the input files changed (names, sizes or modification times)")
    for c in changes.values():
        lines.append(f"  option {c.text()}")
    reverted = [c for c in changes.values() if c.new_is_default and not c.option.endswith(GIVEN)]
    if reverted:
        lines.append("  options not given now take their default value (they are not kept from the last run); "
                     "to keep the old values give " +
                     " ".join(f"{cli_flag(c.option)} {_show(c.old)}" for c in reverted))
    lines.append("  steps that run again: " + (", ".join(rerun) if rerun else "none of those asked (--steps)"))
    return "\n".join(lines)
