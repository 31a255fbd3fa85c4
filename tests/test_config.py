"""Options: defaults, validation, L-band switching, YAML template round trip, CLI generation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kansho.cli import build_parser, main
from kansho.config import RunConfig, load_config, parse_ref, yaml_template
from kansho.errors import ConfigError


def test_defaults_are_licsbas_published_values() -> None:
    c = RunConfig()
    assert (c.qc.min_coverage, c.qc.min_coh) == (0.3, 0.05)
    assert c.loops.loop_rms_threshold == 1.5
    assert c.invert.gamma == 1e-4 and c.invert.min_pairs_factor == 0.5
    assert c.vstd.n_boot == 100
    assert (c.mask.coh_avg, c.mask.n_unw_factor, c.mask.vstd, c.mask.maxTlen) == (0.05, 1.5, 100.0, 1.0)
    assert (c.mask.n_gap, c.mask.stc, c.mask.n_ifg_noloop, c.mask.n_loop_err, c.mask.resid_rms) == (10, 5.0, 50, 5, 2.0)
    assert c.filter.sigma_km == 2.0 and c.filter.sigma_yr is None and c.filter.deramp == 0


def test_template_round_trips_to_defaults(tmp_path: Path) -> None:
    text = yaml_template()
    assert "# drop a pair whose valid-pixel ratio is below this" in text
    f = tmp_path / "c.yaml"
    f.write_text(text)
    assert load_config(f) == RunConfig()
    assert yaml.safe_load(text)["mask"]["stc"] == 5.0


def test_l_band_defaults_only_where_not_given(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("band: L\nmask:\n  stc: 7\n")
    c = load_config(f)
    assert c.mask.stc == 7  # user value kept
    assert c.mask.n_loop_err == 1 and c.mask.resid_rms == 10.0 and c.invert.min_pairs_factor == 0.5


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("qc:\n  min_coverage: 2\n", "qc.min_coverage"), ("qc:\n  bogus: 1\n", "qc.bogus"), ("[1, 2", "not valid YAML")],
)
def test_bad_config_one_line_error(tmp_path: Path, text: str, fragment: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as ei:
        load_config(f)
    assert fragment in str(ei.value) and "\n" not in str(ei.value)


def test_parse_ref() -> None:
    assert parse_ref("10:15/20:25") == ("pixel", (10, 15, 20, 25))
    kind, box = parse_ref("-99.2/-99.1/19.5/19.4")
    assert kind == "lonlat" and box == (-99.2, -99.1, 19.4, 19.5)
    for bad in ("15:10/20:25", "1/2/3", "abc"):
        with pytest.raises(ValueError):
            parse_ref(bad)


def test_cli_exposes_every_threshold_with_default() -> None:
    parser, dests = build_parser()
    assert "mask.stc" in dests.values() and "invert.gamma" in dests.values()
    ts = parser._subparsers._group_actions[0].choices["ts"]  # type: ignore[union-attr]
    help_text = ts.format_help()
    assert "--mask-stc" in help_text and "(default: 5.0)" in help_text and "--gamma" in help_text


def test_cli_config_prints_template(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["qc"]["min_coh"] == 0.05


def test_cli_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["-q", "ts", str(tmp_path / "missing"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("kansho: error:") and "missing" in err and len(err.splitlines()) == 1


def test_zero_gamma_is_refused_with_a_clear_message() -> None:
    """The NSBAS constraint needs a positive weight: gamma 0 is refused when the options are read,
    naming the option, not deep inside the inversion."""
    with pytest.raises(ConfigError, match=r"option invert\.gamma: .*greater than 0"):
        load_config(None, {"invert.gamma": 0.0})


def test_ts_help_lists_the_registry_steps(capsys: pytest.CaptureFixture[str]) -> None:
    from kansho.chain.registry import STEPS

    with pytest.raises(SystemExit):
        main(["ts", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "comma-separated subset of: " + ", ".join(f"{s.name} ({s.licsbas})" for s in STEPS) in text
