"""``kansho`` command line: parse, configure logging and progress, call one public function.

Every step option of :mod:`kansho.config` is also a command-line option of ``kansho ts``
(generated from the pydantic models, so ``--help`` and the YAML template never disagree).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, NoReturn, cast, get_args

from pydantic import BaseModel

from kansho._cli_common import (
    VERBOSE_AFTER,
    HelpFormatter,
    Parser,
    add_common_options,
    harmonise_output,
    join_negative_values,
)
from kansho._lonlat import BOX_FORMS, box_arg
from kansho._process import fewer_collections
from kansho._version import __version__
from kansho.config import PRESETS, RunConfig, load_config, yaml_template
from kansho.errors import ConfigError, KanshoError

log = logging.getLogger("kansho")


def _setup_logging(verbose: int, quiet: bool) -> None:
    """Kansho's INFO lines (WARNING with ``-q``, DEBUG with ``-v``); dask's only from WARNING unless ``-v``."""
    from kansho.parallel import DASK_LOGGERS, set_dask_log_level

    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 0 else logging.INFO)
    dask_level = logging.WARNING if quiet or verbose == 0 else (logging.INFO if verbose == 1 else logging.DEBUG)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", stream=sys.stderr)
    for noisy in ("rasterio", "matplotlib", "PIL", "numcodecs", "zarr", "asyncio", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    set_dask_log_level(dask_level)
    # importing distributed later resets its logger to INFO; this filter holds whatever the logger levels
    dask_filter = _LevelFloor(("tornado", "bokeh", *DASK_LOGGERS), max(dask_level, level))
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _LevelFloor) for f in handler.filters):
            handler.addFilter(dask_filter)


class _LevelFloor(logging.Filter):
    """Drops the records of the loggers under ``prefixes`` below ``level``."""

    def __init__(self, prefixes: Sequence[str], level: int) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if record.levelno >= self.level:
            return True
        return not any(name == p or name.startswith(p + ".") for p in self.prefixes)


def _none_or(kind: Callable[[str], Any]) -> Any:
    def conv(text: str) -> Any:
        if text.lower() in _NONE_WORDS:
            return "__none__"
        return kind(text)

    conv.__name__ = getattr(kind, "__name__", "value")
    return conv


_NONE_WORDS = ("none", "off", "")

# config fields that take boxes: (kind of box, several separated by spaces, what it does); the command line
# accepts every form of kansho._lonlat.parse_box and hands the run options the canonical text
_BOX_FIELDS: dict[str, tuple[Literal["lonlat", "pixel", "any"], bool, str]] = {
    "loops.ref": ("any", False, "reference area (empty: chosen automatically, stable, coherent and gap-free)"),
    "ingest.clip_box": ("pixel", False, "clip to this box of the input grid (Step 0-5)"),
    "ingest.clip_lonlat": ("lonlat", False, "clip to this box (Step 0-5)"),
    "ingest.mask_box": ("pixel", True, "blank these boxes of the input grid (Step 0-4)"),
    "ingest.mask_lonlat": ("lonlat", True, "blank these boxes (Step 0-4)"),
}


def _option_name(section: str, field: str) -> str:
    name = field.replace("_", "-")
    return f"--mask-{name}" if section == "mask" else f"--{name}"


def _add_config_options(p: argparse.ArgumentParser) -> dict[str, str]:
    """Add one option per config field; returns dest -> dotted config key."""
    dests: dict[str, str] = {}
    defaults = RunConfig()
    for section in RunConfig.model_fields:
        value = getattr(defaults, section)
        if not isinstance(value, BaseModel):
            continue
        grp = p.add_argument_group(f"{section} options ({(type(value).__doc__ or '').strip().splitlines()[0]})")
        for name, f in type(value).model_fields.items():
            opt = _option_name(section, name)
            dest = f"cfg__{section}__{name}"
            default = getattr(value, name)
            helptext = f"{f.description} (default: {'off/auto' if default is None else default})"
            ann = f.annotation
            args = [a for a in get_args(ann) if a is not type(None)]
            base = args[0] if args else ann
            box = _BOX_FIELDS.get(f"{section}.{name}")
            if box is not None:
                box_kind, many, what = box
                grp.add_argument(opt, dest=dest, type=_none_or(box_arg(box_kind, many=many)), default=None,
                                 metavar="BOX", help=f"{what}: {'boxes separated by spaces, each ' if many else ''}"
                                 f"{BOX_FORMS[box_kind]} (default: {'off/auto' if default is None else default})")
            elif base is bool:
                grp.add_argument(opt, dest=dest, action=argparse.BooleanOptionalAction, default=None, help=helptext)
            elif base in (int, float, str):
                kind = cast(type, base)
                conv = _none_or(kind) if type(None) in get_args(ann) else kind
                grp.add_argument(opt, dest=dest, type=conv, default=None, help=helptext,
                                 metavar=kind.__name__.upper())
            else:  # Literal
                choices = [int(c) if isinstance(c, int) else c for c in get_args(ann)]
                grp.add_argument(opt, dest=dest, type=type(choices[0]), choices=choices, default=None,
                                 help=helptext)
            dests[dest] = f"{section}.{name}"
        if section == "invert":  # the option's name before invert.model existed
            grp.add_argument("--annual", dest="cfg__invert__model", action="store_const", const="annual",
                             help="same as --model annual (kept for old scripts)")
    return dests


class _TsHelpFormatter(HelpFormatter):
    """``kansho ts --help``: the ``--steps`` help lists the registry's steps, imported only when help is
    shown (importing the chain costs every other command most of a second at start-up)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.dest == "steps":
            from kansho.chain.registry import STEPS

            return "comma-separated subset of: " + ", ".join(f"{s.name} ({s.licsbas})" for s in STEPS)
        return super()._get_help_string(action)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, str]]:
    fmt = HelpFormatter
    p = Parser(prog="kansho", description="Automated InSAR time-series analysis "
                                "(LiCSAR interferograms -> LOS displacement time series and velocity).")
    p.add_argument("--version", action="version", version=f"kansho {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only, no progress bars")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("demo", help="simulate a frame with known truth, run the chain, print the accuracy",
                       formatter_class=fmt)
    d.add_argument("out", nargs="?", default=None, type=Path,
                   help="output folder (default: kansho_demo, with --real kansho_demo_real)")
    d.add_argument("--real", action="store_true", help="run on the bundled real Sentinel-1 Mexico City stack")
    d.add_argument("--seed", type=int, default=1, help="random seed of the simulation")
    d.add_argument("--size", type=int, default=200, help="frame side in pixels (simulated demo)")
    d.add_argument("--epochs", type=int, default=40, help="number of epochs (simulated demo)")
    d.add_argument("--no-gain", dest="gain", action="store_false",
                   help="do not run the frame again with --preset licsbas to print the gain over it")

    t = sub.add_parser("ts", help="the whole time-series chain (Steps 0-2, 1-1 ... 1-6) on an input folder",
                       formatter_class=_TsHelpFormatter)
    t.add_argument("input", type=Path, nargs="?", help="LiCSAR GEOC folder or folder of GeoTIFF pairs "
                   "(may be omitted when OUT already holds a run)")
    t.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    t.add_argument("--config", type=Path, default=None, help="YAML options (template: kansho config)")
    t.add_argument("--steps", default=None, help="comma-separated subset of the chain's steps")
    t.add_argument("--force", action="store_true", help="re-run steps even when up to date")
    t.add_argument("--band", choices=["C", "L"], default=None, help="radar band (L-band defaults) (default: C)")
    t.add_argument("--wavelength", default=None, metavar="M",
                   help="radar wavelength in metres (e.g. 0.2362), over the input's (default: the input's; "
                   "refused if it has none, unless a Sentinel-1 frame)")
    t.add_argument("--freq", default=None, metavar="HZ",
                   help="radar frequency in Hz (e.g. 1.2575e9; a value < 1000 is read as GHz, < 1e6 as MHz): "
                   "another way to give --wavelength")
    t.add_argument("--block-size", type=int, default=None, help="block side in pixels (default: 256)")
    t.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="set a named group of options (those not given): licsbas = LiCSBAS's choices where "
                   "Kansho's defaults differ, to compare with it (default: none)")
    _add_parallel_options(t)
    dests = _add_config_options(t)

    c = sub.add_parser("config", help="print (or write) the commented YAML options template", formatter_class=fmt)
    c.add_argument("-o", "--out", type=Path, default=None, help="write to this file instead of printing")
    for module in _command_modules():
        module.register(sub, fmt)
    add_common_options(p)
    harmonise_output(p)
    return p, dests


def _add_parallel_options(p: argparse.ArgumentParser) -> None:
    """``--workers``, ``--scheduler``, ``--memory-limit``, ``--gpu`` (RunConfig's execution options)."""
    g = p.add_argument_group("execution (results do not depend on these)")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="run the blocks on a local dask cluster of N worker processes (default: 0 = on threads of "
                        "this process, faster on one machine: docs/parallel.md)")
    g.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="use an existing dask.distributed scheduler, e.g. tcp://head-node:8786 (see docs/parallel.md)")
    g.add_argument("--memory-limit", default=None, metavar="SIZE",
                   help="memory for the whole run, e.g. 6GB; blocks shrink to fit "
                        "(default: 60%% of RAM, or of a container's or job's limit, at most 8GB or 2GB a core)")
    g.add_argument("--gpu", action="store_true", default=None,
                   help="solve the inversion on the GPU (needs CuPy; slower than the CPU kernel on a many-core "
                        "machine: docs/parallel.md)")


def _command_modules() -> list[Any]:
    """The sub-command modules under :mod:`kansho.commands` (each has ``register(sub, fmt)``).

    A module's ``register`` adds its sub-parser(s) and sets ``func`` (``args -> exit code``) as the
    parser default; :func:`main` calls it. Modules are imported in name order.
    """
    import importlib
    import pkgutil

    import kansho.commands as pkg

    mods = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            mods.append(importlib.import_module(f"kansho.commands.{info.name}"))
    return mods


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a ``kansho`` command line (``sys.argv[1:]`` when ``None``) as :func:`main` does, without
    running anything. Exits on a usage error, as argparse does."""
    return _parse(build_parser()[0], argv)


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    args = parser.parse_args(join_negative_values(parser, list(sys.argv[1:] if argv is None else argv)))
    args.verbose += vars(args).pop(VERBOSE_AFTER, 0)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    parser, dests = build_parser()
    args = _parse(parser, argv)
    if args.command is None:
        parser.print_help()
        return 0
    _setup_logging(args.verbose, args.quiet)
    try:
        _check_utf8_paths(args)
        with fewer_collections(), _quiet_disk_full_cleanup():
            return _dispatch(args, dests)
    except KanshoError as exc:
        print(f"kansho: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        from kansho._files import disk_full_error, is_disk_full

        if not is_disk_full(exc):
            raise
        where = Path(exc.filename).parent if isinstance(exc.filename, str) else Path(getattr(args, "out", None) or ".")
        print(f"kansho: error: {disk_full_error(where, exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kansho: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


@contextlib.contextmanager
def _quiet_disk_full_cleanup() -> Iterator[None]:
    """Within it, an error of a full disk raised where Python cannot pass it on (an HDF5 file that could not be
    flushed complains again as h5py frees its objects: "Exception ignored in ...", a traceback each) is logged at
    debug level, not printed: the run's one-line error has said it. Any other such error prints as ever."""
    from kansho._files import is_disk_full

    before = sys.unraisablehook

    def hook(u: Any) -> None:
        if u.exc_value is not None and is_disk_full(u.exc_value):
            log.debug("after a full disk, in %r: %s", u.object, str(u.exc_value).splitlines()[0][:200])
            return
        before(u)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = before


def run(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``kansho`` command (and ``python -m kansho.cli``): :func:`main`, then the exit.

    Once :func:`main` has returned (every product written and closed) and no thread but this one is left
    running, the process ends at once after the exit handlers and a flush of the log and the standard
    streams, without the interpreter's teardown of its modules: ~0.4-0.9 s after a chain (most of it
    freeing numba's compiled code), the last thing a first ``kansho demo`` waited for. An exception
    raised by :func:`main` ends the ordinary way (its traceback, status 1)."""
    code = main(argv)
    import atexit
    import threading

    if any(t.is_alive() and not t.daemon and t is not threading.main_thread() for t in threading.enumerate()):
        raise SystemExit(code)  # the ordinary exit waits for it
    try:
        atexit._run_exitfuncs()
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - e.g. a closed pipe: the ordinary exit reports it
        raise SystemExit(code) from None
    os._exit(code)


def _check_utf8_paths(args: argparse.Namespace) -> None:
    """A one-line error for a path argument whose name is not valid UTF-8 (on POSIX its undecodable bytes
    come as surrogate escapes): GDAL cannot write such a path and the run's records could not hold it."""
    for dest, value in vars(args).items():
        for v in value if isinstance(value, list | tuple) else [value]:
            if not isinstance(v, Path):
                continue
            try:
                str(v).encode("utf-8")
            except UnicodeEncodeError:
                shown = str(v).encode("utf-8", "backslashreplace").decode()
                opt = "-o/--out" if dest in ("out", "output") else dest.replace("_", "-")
                raise ConfigError(f"{opt} {shown}: the path is not valid UTF-8 (GDAL and the run's records need "
                                  f"UTF-8 names): rename it or choose another") from None


def _dispatch(args: argparse.Namespace, dests: dict[str, str]) -> int:
    func = getattr(args, "func", None)
    if func is not None:
        return int(func(args))
    if args.command == "config":
        text = yaml_template()
        if args.out:
            args.out.write_text(text)
            log.info("wrote %s", args.out)
        else:
            sys.stdout.write(text)
        return 0
    if args.command == "demo":
        from kansho.demo import run_demo

        run_demo(args.out, real=args.real, seed=args.seed, size=args.size, n_epoch=args.epochs,
                 progress=not args.quiet, gain=args.gain)
        return 0
    if args.command == "ts":
        from kansho.chain.runner import run_timeseries

        overrides: dict[str, Any] = {"band": args.band, "wavelength": _wavelength_arg(args.wavelength, args.freq),
                                     "preset": args.preset, "block_size": args.block_size, "workers": args.workers,
                                     "scheduler": args.scheduler, "memory_limit": args.memory_limit, "gpu": args.gpu}
        for dest, key in dests.items():
            v = getattr(args, dest)
            if v is not None:
                overrides[key] = None if v == "__none__" else v
        none_keys = [k for k, v in overrides.items() if v is None and k in dests.values()]
        cfg = load_config(args.config, {k: v for k, v in overrides.items() if v is not None})
        for key in none_keys:  # explicit "off" for an optional threshold
            section, name = key.split(".")
            setattr(getattr(cfg, section), name, None)
        steps = [s.strip() for s in args.steps.split(",")] if args.steps else None
        run = run_timeseries(args.input, args.out, cfg, steps=steps, force=args.force, progress=not args.quiet)
        log.info("done: results in %s (report: %s)", run.layout.results, run.layout.report)
        return 0
    raise AssertionError(args.command)


def _wavelength_arg(wavelength: str | None, freq: str | None) -> float | None:
    """The wavelength (m) of ``--wavelength`` or ``--freq`` (Hz, or GHz below 1000); both must agree.
    Its range is checked by :class:`RunConfig` (a value in centimetres is refused there)."""
    wl = None if wavelength is None else _number_arg("--wavelength", wavelength, "0.2362 (m)")
    if freq is None:
        return wl
    from kansho.io.radar_meta import wavelength_from_frequency

    f = _number_arg("--freq", freq, "1.2575e9 (Hz)")
    try:
        wl_f = wavelength_from_frequency(f)
    except ValueError as exc:
        raise ConfigError(f"--freq {freq}: {exc} (e.g. --freq 1.2575e9 or 1.2575 for GHz)") from None
    if wl is not None and abs(wl - wl_f) > 0.005 * wl_f:
        raise ConfigError(f"--wavelength {wavelength} m and --freq {freq} ({wl_f:.6g} m) disagree: give one of them")
    return wl_f


def _number_arg(option: str, text: str, example: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a number (e.g. {option} {example})") from None


if __name__ == "__main__":
    run()
