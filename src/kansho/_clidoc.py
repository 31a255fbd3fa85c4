"""The command-line reference (``docs/cli.md``), generated from :func:`kansho.cli.build_parser`.

Walks the argparse tree the way ``kansho`` builds it and writes one Markdown section per command
and subcommand: usage, description, and a table of its options with their defaults. The
documentation site's test regenerates it in memory and compares it with the committed file, so the
page cannot fall behind the parsers. Regenerate with::

    PYTHONPATH=src python -m kansho._clidoc docs/cli.md

Nothing here depends on the terminal: usage lines are wrapped at a fixed width.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

#: the command that rewrites the page, written at its top
REGEN_COMMAND = "PYTHONPATH=src python -m kansho._clidoc docs/cli.md"
#: usage lines are wrapped at this many characters, whatever the terminal
USAGE_WIDTH = 100

_DEFAULT_SUFFIX = " (default: %(default)s)"  # what ArgumentDefaultsHelpFormatter appends
_TRAILING_DEFAULT = re.compile(r"\s*\(default:\s*([^()]*(?:\([^()]*\)[^()]*)*)\)\s*$")
_MD_SPECIAL = re.compile(r"([\\*_\[\]>`])")  # backslash escapes Python-Markdown knows


def command_parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[argparse.ArgumentParser, str | None]]:
    """Every parser under ``parser``, depth first in the order they were added, with its one-line help
    (the ``help=`` of ``add_parser``; ``None`` for the root)."""
    yield parser, None
    yield from _children(parser)


def _children(parser: argparse.ArgumentParser) -> Iterator[tuple[argparse.ArgumentParser, str | None]]:
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help for a in action._get_subactions()}
        seen: set[int] = set()
        for name, sub in action.choices.items():
            if id(sub) in seen:  # an alias of a parser already listed
                continue
            seen.add(id(sub))
            yield sub, helps.get(name)
            yield from _children(sub)


def _escape(text: str, cell: bool = False) -> str:
    """Text for a Markdown paragraph (or a table ``cell``): no emphasis, links, HTML or column breaks."""
    text = _MD_SPECIAL.sub(r"\\\1", " ".join(text.split())).replace("<", "&lt;")
    return text.replace("|", "\\|") if cell else text


def _usage(parser: argparse.ArgumentParser) -> str:
    fmt = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    fmt.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return fmt.format_help().strip()


def _help_and_default(parser: argparse.ArgumentParser, action: argparse.Action) -> tuple[str, str]:
    """The option's help (as ``--help`` shows it, without its default) and its default, as text."""
    fmt = parser.formatter_class(prog=parser.prog)
    raw = fmt._get_help_string(action) or ""  # the formatter's own text (e.g. ts --steps lists the steps)
    raw = raw.removesuffix(_DEFAULT_SUFFIX)
    params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
    params["prog"] = parser.prog
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(c) for c in params["choices"])
    try:
        text = raw % params
    except (KeyError, TypeError, ValueError):
        text = raw
    text = " ".join(text.split())
    default = action.default
    stated = _TRAILING_DEFAULT.search(text)
    if stated is not None:  # the help states its own default (e.g. every config option of kansho ts)
        text = text[: stated.start()]
        return text, stated.group(1).strip()
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        return text, "off"  # the flag is not given
    if isinstance(action, argparse._CountAction):
        return text, str(default or 0)
    if default is None or default is argparse.SUPPRESS or (isinstance(default, list) and not default):
        return text, ""
    return text, str(default)


def _option_cell(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(f"`{o}`" for o in action.option_strings)
    else:
        names = f"`{action.metavar or action.dest}`"
    if action.nargs == 0:
        return names
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        return f"{names} {{{_escape(', '.join(str(c) for c in action.choices), cell=True)}}}"
    if action.option_strings:
        metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
        return f"{names} `{metavar}`"
    return names


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    lines: list[str] = []
    for group in parser._action_groups:
        rows = []
        for action in group._group_actions:
            if isinstance(action, argparse._HelpAction) or action.help is argparse.SUPPRESS:
                continue
            if isinstance(action, argparse._SubParsersAction):
                continue
            text, default = _help_and_default(parser, action)
            shown = _escape(default, cell=True) if " " in default else f"`{default}`" if default else ""
            rows.append(f"| {_option_cell(action)} | {_escape(text, cell=True)} | {shown} |")
        if not rows:
            continue
        title = group.title or "options"
        lines += ["", f"**{_escape(title)}**", "", "| option | meaning | default |", "|---|---|---|", *rows]
    return lines


def _subcommand_list(parser: argparse.ArgumentParser) -> list[str]:
    subs = [(sub, hlp) for sub, hlp in _children(parser) if sub.prog.count(" ") == parser.prog.count(" ") + 1]
    if not subs:
        return []
    lines = ["", "| command | what it does |", "|---|---|"]
    for sub, hlp in subs:
        lines.append(f"| [`{sub.prog}`](#{_anchor(sub.prog)}) | {_escape(hlp or '', cell=True)} |")
    return lines


def _anchor(prog: str) -> str:
    """The heading id MkDocs (Python-Markdown's toc) gives ``## prog``: lower case, spaces to dashes."""
    slug = re.sub(r"[^\w\s-]", "", prog.lower()).strip()
    return re.sub(r"[-\s]+", "-", slug)


def render_cli_markdown(parser: argparse.ArgumentParser | None = None) -> str:
    """The whole ``docs/cli.md`` for ``parser`` (by default ``kansho``'s, built as ``kansho.cli.main`` does)."""
    if parser is None:
        from kansho.cli import build_parser

        parser = build_parser()[0]
    out = [
        "# Command-line reference",
        "",
        "<!-- generated from the parsers by kansho._clidoc: do not edit by hand -->",
        "",
        "This page is generated from the command line's own parsers, so it lists exactly what `kansho "
        "--help` and each command's `--help` show. After changing an option, regenerate it with",
        "",
        "```bash",
        REGEN_COMMAND,
        "```",
        "",
        "(`tests/test_docs_site.py` fails while it is stale.) Options are given after the command "
        "(`kansho ts GEOC -o out --nlook 4`); an empty default means the option is off or chosen "
        "from the data.",
    ]
    for sub, hlp in command_parsers(parser):
        depth = sub.prog.count(" ")
        heading = "#" * min(depth + 2, 4)
        out += ["", f"{heading} {sub.prog}", ""]
        summary = sub.description or hlp
        if summary:
            out += [_escape(summary), ""]
        out += ["```text", _usage(sub), "```"]
        out += _subcommand_list(sub)
        out += _options_table(sub)
    return "\n".join(out) + "\n"


def write_cli_docs(path: str | Path) -> Path:
    """Write :func:`render_cli_markdown` to ``path`` atomically (temporary name, then rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(render_cli_markdown(), encoding="utf-8")
    tmp.replace(path)
    log.info("wrote %s", path)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    target = Path(args[0]) if args else Path("docs/cli.md")
    if not target.parent.is_dir():
        sys.stderr.write(f"kansho._clidoc: error: {target.parent}: no such folder (run from the repository root)\n")
        return 2
    write_cli_docs(target)
    sys.stdout.write(f"wrote {target}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
