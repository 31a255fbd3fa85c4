"""The command line behaves alike in every command (issue 20): negative longitudes in the space form, ``-q``/``-v``
after the subcommand, ``-o/--out`` everywhere, one point/box syntax, each default shown once, longitudes shown
as 99.07926°W, and the two demos in their own folders. Parse-level: no chain runs."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from kansho._cli_common import iter_parsers, join_negative_values
from kansho._lonlat import LonLat, Pixel, format_lat, format_lon, format_lonlat, parse_box, parse_point
from kansho.cli import build_parser, main, parse_args
from kansho.config import RunConfig, load_config, parse_ref

MEXICO = "-99.12,19.41"  # Mexico City, lon first
MEXICO_BOX = "-99.2:-99.1/19.3:19.4"


def _parsers() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    return list(iter_parsers(build_parser()[0]))


def _optionals(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in p._actions if a.option_strings]


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


# --- 1. negative longitudes -------------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "value", "dest", "expected"), [
    ("--ref", MEXICO_BOX, "cfg__loops__ref", "-99.2/-99.1/19.3/19.4"),
    ("--ref", "-99.1/-99.2/19.4/19.3", "cfg__loops__ref", "-99.2/-99.1/19.3/19.4"),
    ("--ref", "99.2W:99.1W/19.3N:19.4N", "cfg__loops__ref", "-99.2/-99.1/19.3/19.4"),
    ("--clip-lonlat", "-70.5:-70.1/-33.6:-33.3", "cfg__ingest__clip_lonlat", "-70.5/-70.1/-33.6/-33.3"),
    ("--mask-lonlat", "-99.2/-99.1/19.3/19.4 -98.9:-98.8/19.5:19.6", "cfg__ingest__mask_lonlat",
     "-99.2/-99.1/19.3/19.4 -98.9/-98.8/19.5/19.6"),
])
def test_ts_box_options_take_negative_longitudes_after_a_space(option: str, value: str, dest: str,
                                                               expected: str) -> None:
    args = parse_args(["ts", "GEOC", "-o", "out", option, value])
    assert getattr(args, dest) == expected
    section, name = dest.split("__")[1:]
    cfg = load_config(None, {f"{section}.{name}": getattr(args, dest)})  # the run options accept it
    assert getattr(getattr(cfg, section), name) == expected


def test_point_and_pole_take_negative_values_after_a_space() -> None:
    args = parse_args(["export", "RUN", "-f", "csv", "-o", "exp", "--point", MEXICO, "--point", "-58.38,-34.6"])
    assert args.point == [(-99.12, 19.41), (-58.38, -34.6)]
    args = parse_args(["plate", "RUN", "--pole", "-55.07,-99.09,0.261"])
    assert args.pole == (-55.07, -99.09, 0.261)
    # an abbreviated option name (argparse accepts unique prefixes) and a value as exponent
    args = parse_args(["export", "RUN", "-f", "kmz", "-o", "exp", "--poi", MEXICO, "--vmin", "-1e1"])
    assert args.point == [(-99.12, 19.41)] and args.vmin == -10.0


def test_every_one_value_option_of_every_command_is_joined(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()[0]
    checked = 0
    for path, p in iter_parsers(parser):
        for action in _optionals(p):
            takes_one = action.nargs in (None, 1)
            for opt in action.option_strings:
                got = join_negative_values(parser, [*path, opt, MEXICO])
                if takes_one:
                    assert got == [*path, f"{opt}={MEXICO}"], (path, opt)
                    checked += 1
                else:  # a flag: a negative value after it is not its value
                    assert got == [*path, opt, MEXICO], (path, opt)
    assert checked > 100  # every command's options, not a few
    # a value is never taken for a subcommand, and nothing after "--" is touched
    assert join_negative_values(parser, ["ts", "-o", "gnss", "--ref", "-1:2/3:4"]) == \
        ["ts", "-o", "gnss", "--ref=-1:2/3:4"]
    assert join_negative_values(parser, ["ts", "--", "--ref", "-1:2/3:4"]) == ["ts", "--", "--ref", "-1:2/3:4"]


def test_main_runs_the_command_with_negative_coordinates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The space form gets past the parser into the command (which then finds the input missing: exit 2 with
    its own one-line error, not argparse's "expected one argument")."""
    missing = str(tmp_path / "missing")
    assert main(["ts", missing, "-o", str(tmp_path / "out"), "--ref", MEXICO_BOX]) == 2
    assert main(["export", missing, "-f", "csv", "-o", str(tmp_path / "e"), "--point", MEXICO]) == 2
    err = capsys.readouterr().err
    assert "expected one argument" not in err
    assert err.count(f"{missing}: ") == 2, err


# --- 2. -q / -v after the subcommand ---------------------------------------------------------------------


def test_every_command_accepts_quiet_and_verbose_after_its_name() -> None:
    for path, p in _parsers()[1:]:
        names = p._option_string_actions
        assert names["-q"] is names["--quiet"] and names["-q"].dest == "quiet", path
        assert names["-v"] is names["--verbose"], path


@pytest.mark.parametrize(("argv", "quiet", "verbose"), [
    (["ts", "GEOC", "-o", "out"], False, 0),
    (["-q", "ts", "GEOC", "-o", "out"], True, 0),
    (["ts", "GEOC", "-o", "out", "-q"], True, 0),
    (["ts", "-q", "GEOC", "-o", "out", "--ref", MEXICO_BOX], True, 0),
    (["-v", "gnss", "compare", "RUN", "a.tenv3", "-o", "cmp", "-v", "-v"], False, 3),
    (["gnss", "compare", "RUN", "a.tenv3", "-o", "cmp", "--quiet"], True, 0),
    (["baseline", "table", "-q"], True, 0),
    (["demo", "--real", "-q", "-v"], True, 1),
])
def test_quiet_and_verbose_before_or_after(argv: list[str], quiet: bool, verbose: int) -> None:
    args = parse_args(argv)
    assert (args.quiet, args.verbose) == (quiet, verbose)


# --- 3. one name per shared option --------------------------------------------------------------------------

SPELLINGS = {"--out": ["-o", "--out"], "--quiet": ["-q", "--quiet"], "--verbose": ["-v", "--verbose"],
             "--workers": ["--workers"], "--scheduler": ["--scheduler"], "--point": ["--point"],
             "--ref": ["--ref"], "--config": ["--config"], "--force": ["--force"]}
SYNONYMS = {"--output", "--outdir", "--out-dir", "--output-dir", "--points", "--reference", "--refarea",
            "--ref-area", "--ref-geo", "--nworkers", "--n-workers", "--num-workers", "--silent", "--verbosity",
            "--lonlat", "--lon-lat", "--coords", "--location"}


def test_output_option_is_o_out_everywhere_and_output_still_parses() -> None:
    seen = []
    for path, p in _parsers():
        for action in _optionals(p):
            if action.dest in ("out", "output") or "--out" in action.option_strings:
                assert action.option_strings == ["-o", "--out"], (path, action.option_strings)
                assert p._option_string_actions["--output"] is action, path  # the hidden alias
                seen.append(path[0] if path else "")
    assert {"ts", "decompose", "gnss", "strain", "export", "download", "mosaic"} <= set(seen)
    for argv, dest in ((["decompose", "A", "B", "--output", "en"], "output"),
                       (["strain", "en", "--output", "st"], "output"),
                       (["gnss", "compare", "RUN", "a.tenv3", "--output", "cmp"], "output"),
                       (["export", "RUN", "-f", "cog", "--out", "exp"], "output"),
                       (["ts", "GEOC", "--output", "out"], "out")):
        assert str(getattr(parse_args(argv), dest)) == argv[-1], argv


def test_shared_options_have_one_spelling(capsys: pytest.CaptureFixture[str]) -> None:
    for path, p in _parsers():
        for action in _optionals(p):
            longs = [s for s in action.option_strings if s.startswith("--")]
            assert not SYNONYMS & set(action.option_strings), (path, action.option_strings)
            for name in longs:
                if name in SPELLINGS and name != "--help":
                    assert action.option_strings == SPELLINGS[name], (path, action.option_strings)
        with pytest.raises(SystemExit):
            p.parse_args(["--help"])
        shown = capsys.readouterr().out
        assert "--output" not in shown, path


# --- 4. point and box syntax ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "point"), [
    ("-99.12,19.41", LonLat(-99.12, 19.41)),
    ("99.12W,19.41N", LonLat(-99.12, 19.41)),
    ("99.12°W, 19.41°N", LonLat(-99.12, 19.41)),
    ("19.41N,99.12W", LonLat(-99.12, 19.41)),  # letters on both: either order
    ("139.69,35.69", LonLat(139.69, 35.69)),
    ("px:12,40", Pixel(12, 40)),
])
def test_point_forms(text: str, point: LonLat | Pixel) -> None:
    assert parse_point(text, pixels=True) == point


@pytest.mark.parametrize(("text", "kind", "box"), [
    (MEXICO_BOX, "any", ("lonlat", (-99.2, -99.1, 19.3, 19.4))),
    ("-99.1/-99.2/19.4/19.3", "any", ("lonlat", (-99.2, -99.1, 19.3, 19.4))),
    ("10:15/20:25", "any", ("pixel", (10, 15, 20, 25))),  # whole numbers: pixels, as LiCSBAS --ref_area
    ("px:10:15/20:25", "any", ("pixel", (10, 15, 20, 25))),
    ("139:140/35:36", "lonlat", ("lonlat", (139.0, 140.0, 35.0, 36.0))),  # a degrees-only option
    ("139.0:140/35:36", "any", ("lonlat", (139.0, 140.0, 35.0, 36.0))),
])
def test_box_forms_agree_with_the_run_options(text: str, kind: str, box: tuple[str, tuple[float, ...]]) -> None:
    from kansho._lonlat import canonical_box

    got = parse_box(text, kind)  # type: ignore[arg-type]
    assert got == box
    assert parse_ref(canonical_box(*got)) == box  # what kansho ts hands the run options means the same


@pytest.mark.parametrize(("argv", "option", "says"), [
    (["ts", "GEOC", "-o", "o", "--ref", "19.3:19.4/-99.2:-99.1"], "--ref", "longitude comes first"),
    (["ts", "GEOC", "-o", "o", "--ref", "10:5/20:25"], "--ref", "empty box"),
    (["ts", "GEOC", "-o", "o", "--clip-box", MEXICO_BOX], "--clip-box", "x1:x2/y1:y2 in pixels"),
    (["ts", "GEOC", "-o", "o", "--clip-lonlat", "px:1:2/3:4"], "--clip-lonlat", "LON1/LON2/LAT1/LAT2"),
    (["ts", "GEOC", "-o", "o", "--ref", "-99.2,19.3"], "--ref", "LON1:LON2/LAT1:LAT2"),
])
def test_bad_coordinates_name_the_option_and_the_form(argv: list[str], option: str, says: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(argv, capsys).strip().splitlines()[-1]
    assert f"argument {option}: " in err and says in err, err


def test_point_errors_name_the_form() -> None:
    with pytest.raises(ValueError, match="longitude comes first"):
        parse_point("19.41,-99.12")
    with pytest.raises(ValueError, match=r"LON,LAT in degrees"):
        parse_point("-99.12")
    with pytest.raises(ValueError, match="pixel is not accepted"):
        parse_point("px:1,2")
    with pytest.raises(ValueError, match="sign or a hemisphere letter"):
        parse_point("-99.12W,19.41N")


# --- 5. each default once -----------------------------------------------------------------------------------


def test_help_shows_each_default_once_and_never_none() -> None:
    for path, p in _parsers():
        fmt = p._get_formatter()
        for action in p._actions:
            if action.help in (None, argparse.SUPPRESS):
                continue
            text = fmt._expand_help(action)
            assert text.count("(default") <= 1, (path, action.option_strings, text)
            assert "(default: None)" not in text, (path, action.option_strings)
            if action.nargs == 0 and not action.dest.startswith("cfg__"):  # a plain flag: off unless given
                assert "(default: False)" not in text, (path, action.option_strings)


def test_ts_help_shows_the_config_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["ts", "--help"])
    assert exc.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in shown
    cfg = RunConfig()
    assert shown.count("(default: 0.0001)") == 1 and cfg.invert.gamma == 1e-4
    for section, name in (("invert", "gamma"), ("loops", "ref_size"), ("mask", "coh_avg"), ("filter", "sigma_km")):
        value = getattr(getattr(cfg, section), name)
        opt = f"--mask-{name.replace('_', '-')}" if section == "mask" else f"--{name.replace('_', '-')}"
        m = re.search(rf"(?<!\[){re.escape(opt)} [A-Z]+ ((?:(?!\(default).)*)\(default: ([^)]*)\)", shown)
        assert m is not None and m.group(2) == str(value), (opt, m and m.group(0))


# --- 6. longitudes shown with their hemisphere ------------------------------------------------------------------


def test_lonlat_formatting() -> None:
    assert format_lon(-99.07926) == "99.07926°W"
    assert format_lon(139.69, 2) == "139.69°E"
    assert format_lat(19.41, 2) == "19.41°N" and format_lat(-33.45, 2) == "33.45°S"
    assert format_lon(200.0, 1) == "160.0°W"  # wrapped to -180..180
    assert format_lon(-0.000001) == "0.00000°E"  # no "0.00000°W" for what rounds to zero
    assert format_lonlat(-99.07926, 19.41, 2) == "99.08°W, 19.41°N"
    assert str(LonLat(-99.07926, 19.41)) == "99.07926°W, 19.41000°N"


def test_no_signed_longitude_with_an_east_suffix_in_python_sources() -> None:
    """'°E' / '°N' written after a number in a format string shows -99.07926°E; kansho._lonlat formats them."""
    src = Path(__file__).resolve().parents[1] / "src" / "kansho"
    files = [*src.rglob("*.py"), *src.rglob("*.js")]
    bad = [f"{f.relative_to(src)}:{i}" for f in files if f.name != "_lonlat.py"
           for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
           if re.search(r"\}\s*°\s*[EN]\b", line)]
    assert not bad, bad


# --- 7. the demos' folders ------------------------------------------------------------------------------------


def test_the_two_demos_have_their_own_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kansho.demo import DEMO_DIR, REAL_DEMO_DIR, demo_folder

    assert parse_args(["demo"]).out is None and parse_args(["demo", "--real"]).out is None
    assert demo_folder(None, real=False) == Path(DEMO_DIR) == Path("kansho_demo")
    assert demo_folder(None, real=True) == Path(REAL_DEMO_DIR) == Path("kansho_demo_real")
    (tmp_path / "sim_demo" / "sim").mkdir(parents=True)
    (tmp_path / "real_demo" / "results").mkdir(parents=True)
    assert demo_folder(tmp_path / "sim_demo", real=False) == tmp_path / "sim_demo"  # re-running is fine
    # one demo into the other's folder: refused before anything is written
    assert main(["demo", "--real", str(tmp_path / "sim_demo")]) == 2
    assert main(["demo", str(tmp_path / "real_demo")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "simulated demo's" in err[0] and "kansho_demo_real/" in err[0], err
    assert "kansho_demo/" in err[1], err
    assert sorted(p.name for p in (tmp_path / "sim_demo").iterdir()) == ["sim"]


def test_points_are_plain_tuples() -> None:
    """``LonLat``/``Pixel`` unpack as ``(lon, lat)`` / ``(row, col)``: a drop-in for the tuples commands used."""
    lon, lat = parse_point(MEXICO)
    assert (lon, lat) == (-99.12, 19.41)
    row, col = parse_point("px:3,4", pixels=True)
    assert (row, col) == (3, 4)
