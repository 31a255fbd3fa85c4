"""``--preset``: a named group of option values applied to every option of the group not given."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from kansho.cli import build_parser
from kansho.config import PRESETS, RunConfig, apply_preset, load_config, yaml_template
from kansho.errors import ConfigError


def _options() -> set[str]:
    names = set()
    for name, f in RunConfig.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names |= {f"{name}.{sub}" for sub in ann.model_fields}
        else:
            names.add(name)
    return names


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_key_of_a_preset_is_an_option_and_validates(preset: str) -> None:
    opts = _options()
    unknown = set(PRESETS[preset]) - opts
    assert not unknown, f"preset {preset} names options that do not exist: {sorted(unknown)}"
    cfg = load_config(None, {"preset": preset})  # every value passes the option's own validation
    for key, value in PRESETS[preset].items():
        section, name = key.split(".") if "." in key else ("", key)
        assert getattr(getattr(cfg, section) if section else cfg, name) == value


def test_licsbas_preset_differs_from_the_default_and_keeps_explicit_options() -> None:
    default = load_config(None)
    cfg = load_config(None, {"preset": "licsbas"})
    assert default.loops.noloop_max_frac == 0.1 and cfg.loops.noloop_max_frac is None
    mine = load_config(None, {"preset": "licsbas", "loops.noloop_max_frac": 0.3})
    assert mine.loops.noloop_max_frac == 0.3  # given explicitly: the preset leaves it
    assert load_config(None, {"preset": "licsbas", "band": "L"}).mask.n_gap == 1  # L-band defaults still apply
    # LiCSBAS skips pixels with fewer valid pairs than epochs (half as many at L band); Kansho solves them
    assert default.invert.min_pairs_factor == 0.5 and cfg.invert.min_pairs_factor == 1.0
    assert load_config(None, {"preset": "licsbas", "band": "L"}).invert.min_pairs_factor == 0.5
    assert load_config(None, {"preset": "licsbas", "band": "L", "invert.min_pairs_factor": 2.0}
                       ).invert.min_pairs_factor == 2.0


def test_preset_from_yaml_and_recorded_in_the_template(tmp_path: Path) -> None:
    f = tmp_path / "opts.yaml"
    f.write_text("preset: licsbas\nmask:\n  stc: 4.0\n")
    cfg = load_config(f)
    assert cfg.preset == "licsbas" and cfg.loops.noloop_max_frac is None and cfg.mask.stc == 4.0
    recorded = yaml.safe_load(yaml_template(cfg))
    assert recorded["preset"] == "licsbas" and recorded["loops"]["noloop_max_frac"] is None
    again = tmp_path / "again.yaml"
    again.write_text(yaml_template(cfg))
    assert load_config(again) == cfg  # info/parameters.yaml read back gives the same run


def test_unknown_preset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="preset"):
        load_config(None, {"preset": "mintpy"})


def test_a_preset_naming_a_missing_option_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PRESETS, "licsbas", {"loops.no_such_option": 1})
    with pytest.raises(ConfigError, match=r"no option loops\.no_such_option"):
        apply_preset(RunConfig(preset="licsbas"))


def test_cli_flag() -> None:
    parser, _ = build_parser()
    assert parser.parse_args(["ts", "in", "-o", "out", "--preset", "licsbas"]).preset == "licsbas"
    with pytest.raises(SystemExit):
        parser.parse_args(["ts", "in", "-o", "out", "--preset", "nope"])
