"""The documentation site: the generated CLI reference is current, the output contract names every
file a run writes, every page is in the navigation and every link between pages resolves, and
(where MkDocs is installed) ``mkdocs build --strict`` passes."""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests._shared import FinishedRun

from kansho import _clidoc
from kansho.cli import build_parser
from kansho.io.licsbas_h5 import CORE_KEYS
from kansho.layout import (
    CUM_FILT_NAME,
    CUM_NAME,
    INFO_FILES,
    MASKED_MAPS,
    REPORT_NAME,
    RESULT_MAPS,
    STACK_NAME,
    WORK_STORE_NAME,
)

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def _toy_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="toy", description="A toy <tool> for *tests*.")
    p.add_argument("-q", "--quiet", action="store_true", help="less output")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run it", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    run.add_argument("src", help="input folder")
    run.add_argument("--size", type=int, default=7, help="block side in pixels")
    run.add_argument("--mode", choices=["a", "b"], default="a", help="which mode: a|b")
    run.add_argument("--thr", type=float, default=None, help="a threshold (default: 0.3)")
    run.add_argument("--no-gain", dest="gain", action="store_false", help="skip the gain")
    run.add_argument("--frac", default=None, help="60%% of RAM")
    grp = sub.add_parser("grp", help="a group")
    gsub = grp.add_subparsers(dest="g", metavar="COMMAND")
    gsub.add_parser("leaf", help="the leaf").add_argument("--pts", action="append", default=[], metavar="LON,LAT")
    return p


def _rows(md: str, heading: str) -> dict[str, tuple[str, str]]:
    """The option table rows of the section ``heading``: first cell -> (meaning, default)."""
    section = md.split(f" {heading}\n", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_renderer_on_a_known_parser() -> None:
    md = _clidoc.render_cli_markdown(_toy_parser())
    # one heading per parser, nested by depth, in the order they were added
    heads = re.findall(r"^(#+) (.+)$", md, flags=re.M)
    assert heads == [("#", "Command-line reference"), ("##", "toy"), ("###", "toy run"), ("###", "toy grp"),
                     ("####", "toy grp leaf")]
    # Markdown-special text is escaped; the subcommand table links to the sections' anchors
    assert r"A toy &lt;tool\> for \*tests\*." in md
    assert "| [`toy run`](#toy-run) | run it |" in md and "| [`toy grp leaf`](#toy-grp-leaf) | the leaf |" in md
    rows = _rows(md, "toy run")
    assert rows["`--size` `SIZE`"] == ("block side in pixels", "`7`")  # the formatter's suffix is not repeated
    assert rows["`--mode` {a, b}"] == (r"which mode: a\|b", "`a`")
    assert rows["`--thr` `THR`"] == ("a threshold", "`0.3`")  # a default the help states moves to its column
    assert rows["`--no-gain`"] == ("skip the gain", "`off`")  # a flag is off until given
    assert rows["`--frac` `FRAC`"] == ("60% of RAM", "")  # %% expanded as --help does
    assert rows["`src`"] == ("input folder", "")
    assert _rows(md, "toy grp leaf")["`--pts` `LON,LAT`"] == ("", "")
    # usage is wrapped at a fixed width, whatever the terminal
    usage = md.split("```text\n", 2)[2].split("\n```", 1)[0]
    assert usage.startswith("toy run [-h] [--size SIZE]") and max(map(len, usage.splitlines())) <= _clidoc.USAGE_WIDTH


def test_cli_reference_is_current() -> None:
    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert _clidoc.REGEN_COMMAND in committed
    assert _clidoc.render_cli_markdown() == committed, (
        f"docs/cli.md is stale: regenerate it with `{_clidoc.REGEN_COMMAND}`")


def test_cli_reference_has_every_command_and_option() -> None:
    parser = build_parser()[0]
    md = (DOCS / "cli.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#+ (kansho.*)$", md, flags=re.M))
    progs = [p.prog for p, _ in _clidoc.command_parsers(parser)]
    assert set(progs) == headings
    assert {"kansho ts", "kansho demo", "kansho gnss compare", "kansho export", "kansho view"} <= headings
    for sub, _ in _clidoc.command_parsers(parser):
        section = md.split(f" {sub.prog}\n", 1)[1].split("\n#", 1)[0]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            for opt in action.option_strings or [action.metavar or action.dest]:
                assert f"`{opt}`" in section, (sub.prog, opt)


def test_clidoc_main_writes_the_page(tmp_path: Path) -> None:
    assert _clidoc.main([str(tmp_path / "cli.md")]) == 0
    assert (tmp_path / "cli.md").read_text(encoding="utf-8") == _clidoc.render_cli_markdown()
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    assert _clidoc.main([str(tmp_path / "missing" / "cli.md")]) == 2


def test_output_contract_names_every_declared_output() -> None:
    page = (DOCS / "outputs.md").read_text(encoding="utf-8")
    names = [f"{k}.tif" for k in RESULT_MAPS] + [f"{k}.mskd.tif" for k in MASKED_MAPS] + ["hgt.tif"]
    names += [*INFO_FILES.values(), CUM_NAME, CUM_FILT_NAME, REPORT_NAME, STACK_NAME, WORK_STORE_NAME]
    names += [f"`{k}`" for k in (*CORE_KEYS, "cum_std", "bridge_model")]
    missing = [n for n in names if n not in page]
    assert not missing, f"docs/outputs.md does not name {missing}"
    for name, spec in RESULT_MAPS.items():  # each map's row states the units the file carries
        row = next(line for line in page.splitlines() if line.startswith(f"| `{name}.tif` |"))
        assert f"| {spec.units} |" in row, (name, spec.units, row)


def test_output_contract_names_every_file_of_a_run(small_run: FinishedRun) -> None:
    page = (DOCS / "outputs.md").read_text(encoding="utf-8")
    out = small_run.out
    found = [p.name for p in out.iterdir()]
    for sub in ("results", "info", "plots"):
        found += [p.name for p in (out / sub).iterdir() if not p.name.startswith(".")]
    assert len(found) > 40
    missing = sorted(n for n in found if n not in page)
    assert not missing, f"docs/outputs.md does not name {missing}"


def _nav_files(nav: list) -> list[str]:
    files: list[str] = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        files += _nav_files(value) if isinstance(value, list) else [value]
    return files


def test_every_page_is_in_the_navigation() -> None:
    cfg = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = _nav_files(cfg["nav"])
    assert len(nav) == len(set(nav))
    assert all((DOCS / f).is_file() for f in nav), [f for f in nav if not (DOCS / f).is_file()]
    pages = sorted(p.name for p in DOCS.glob("*.md"))
    assert sorted(nav) == pages


def _anchors(md: str) -> set[str]:
    return {_clidoc._anchor(h) for h in re.findall(r"^#+ (.+)$", md, flags=re.M)}


def test_links_between_pages_resolve() -> None:
    broken, checked = [], 0
    for page in sorted(DOCS.glob("*.md")):
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for m in LINK.finditer(text):
            target = m.group(1) or m.group(2)
            if re.match(r"[a-z]+:", target):  # http:, mailto: ...
                continue
            checked += 1
            path, _, anchor = target.partition("#")
            dest = (page.parent / path) if path else page
            if not dest.resolve().is_file() or DOCS.resolve() not in dest.resolve().parents:
                broken.append(f"{page.name}: {target}")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text(encoding="utf-8")):
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken
    assert checked > 60  # the pages' own links, the CLI reference's anchors and the figures


def test_tutorial_figures_exist() -> None:
    text = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    figures = re.findall(r"!\[[^\]]*\]\((img/[^)]+)\)", text)
    assert len(figures) >= 4
    for f in figures:
        assert (DOCS / f).stat().st_size > 10_000, f  # a real PNG, not a placeholder


def test_tutorial_scripts_are_the_ones_shown() -> None:
    """The Python blocks of the tutorial are the scripts run_all.sh runs, verbatim."""
    text = (DOCS / "tutorial.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    for name in ("plot_points.py", "make_gnss.py"):
        assert (DOCS / "tutorial" / name).read_text(encoding="utf-8") in blocks, name
    script = DOCS / "tutorial" / "run_all.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    body = script.read_text(encoding="utf-8")
    shown = [line.split("  #")[0].strip() for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S)
             for line in block.splitlines() if line.startswith("kansho ")]
    assert len(shown) >= 9
    for line in shown:  # each command shown is run (but the one that needs a downloaded frame)
        if "frame/GEOC" not in line:
            assert "$KANSHO " + line.removeprefix("kansho ") in body, line


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("material") is None,
                    reason="mkdocs and mkdocs-material not installed (pip install -e '.[docs]')")
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "site" / "cli" / "index.html").is_file()
    html = (tmp_path / "site" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "kansho gnss compare" in html
    assert "{offset, linear, quadratic}" in html  # a choice list is text, not an attribute list
