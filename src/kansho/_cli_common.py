"""What makes every ``kansho`` command behave alike, applied by :mod:`kansho.cli` to the whole parser tree
after the command modules have registered, so that it holds for commands added later without their help:

* :func:`join_negative_values`: ``--ref -99.2:-99.1/19.3:19.4``, ``--point -99.12,19.41`` and any other
  one-value option followed by a value that starts with ``-`` and a digit parse as ``--opt=VALUE`` would
  (argparse alone takes such a value for an option and stops with "expected one argument");
* :func:`add_common_options`: ``-q/--quiet`` and ``-v/--verbose`` after the subcommand as well as before;
* :func:`harmonise_output`: the output option is ``-o/--out`` in every command, ``--output`` a hidden alias;
* :class:`HelpFormatter`: each option's default shown once, and only where it says something.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator, Sequence
from typing import NoReturn

__all__ = ["VERBOSE_AFTER", "HelpFormatter", "Parser", "add_common_options", "harmonise_output", "iter_parsers",
           "join_negative_values", "subparsers_of"]

VERBOSE_AFTER = "verbose_after"
"""Namespace attribute of the ``-v`` count given after the subcommand (added to the top-level count)."""

_NEGATIVE = re.compile(r"^-\.?\d")  # "-99.12,19.41", "-.5", "-1e3", "-99.2:-99.1/19.3:19.4"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``(default: X)`` after an option's help unless the help already states its default, and never for
    ``None`` (no default: the help says what happens), flags (``False``) or empty lists."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "%(default)" in text or "(default" in text:
            return text
        d = action.default
        if d is None or d is argparse.SUPPRESS or d is False or action.nargs == 0 or d in ([], (), ""):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text + " (default: %(default)s)"
        return text


def subparsers_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Name (and alias) → sub-parser of ``parser``'s subcommands; empty if it has none."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            out.update(action.choices)
    return out


def iter_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
                 ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``(path, parser)`` of ``parser`` and every sub-parser below it, each once (aliases skipped)."""
    yield path, parser
    seen: set[int] = set()
    for name, sub in subparsers_of(parser).items():
        if id(sub) not in seen:
            seen.add(id(sub))
            yield from iter_parsers(sub, (*path, name))


def _lookup(parser: argparse.ArgumentParser, token: str) -> argparse.Action | None:
    """The option ``token`` names in ``parser``: exactly, or as the unique prefix of a long option
    (argparse's abbreviations); ``None`` for ``--opt=value``, unknown or ambiguous tokens."""
    if "=" in token:
        return None
    actions = parser._option_string_actions
    if token in actions:
        return actions[token]
    if token.startswith("--") and parser.allow_abbrev:
        found = {id(a): a for s, a in actions.items() if s.startswith(token)}
        if len(found) == 1:
            return next(iter(found.values()))
    return None


def join_negative_values(parser: argparse.ArgumentParser, argv: Sequence[str]) -> list[str]:
    """``argv`` with ``--opt VALUE`` written ``--opt=VALUE`` where ``--opt`` takes exactly one value and
    ``VALUE`` starts with ``-`` followed by a digit (or ``.`` and a digit).

    argparse reads such a ``VALUE`` as an option unless it is a plain negative number, so
    ``--point -99.12,19.41`` and ``--ref -99.2:-99.1/19.3:19.4`` fail with "expected one argument"; the
    ``=`` form is argparse's own way of giving a value that starts with ``-``. The walk follows the
    subcommands (each sub-parser's options apply after its name) and skips the value of every option that
    takes one, so a value is never taken for a subcommand. Only pairs argparse would refuse or read the
    same way are rewritten: flags, options of several values and everything after ``--`` are left alone.
    """
    out: list[str] = []
    current = parser
    args = list(argv)
    i = 0
    while i < len(args):
        tok = args[i]
        if tok == "--":
            out.extend(args[i:])
            break
        if tok.startswith("-") and len(tok) > 1 and not _NEGATIVE.match(tok):
            action = _lookup(current, tok)
            if action is not None and action.nargs in (None, 1) and i + 1 < len(args):
                nxt = args[i + 1]
                out.extend([f"{tok}={nxt}"] if _NEGATIVE.match(nxt) else [tok, nxt])
                i += 2
                continue
        else:
            current = subparsers_of(current).get(tok, current)
        out.append(tok)
        i += 1
    return out


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet`` and ``-v/--verbose`` on every sub-parser below ``parser`` (where the names are free).

    Their default is ``SUPPRESS``, so the value given before the subcommand stands unless repeated after
    it; ``-v`` after it counts into :data:`VERBOSE_AFTER`, which :mod:`kansho.cli` adds to ``verbose``."""
    for path, p in iter_parsers(parser):
        if not path:
            continue
        free = [s for s in ("-q", "--quiet", "-v", "--verbose") if s not in p._option_string_actions]
        if not free:
            continue
        g = p.add_argument_group("common options (also accepted before the command)")
        if "-q" in free and "--quiet" in free:
            g.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                           help="warnings and errors only, no progress bars")
        if "-v" in free and "--verbose" in free:
            g.add_argument("-v", "--verbose", dest=VERBOSE_AFTER, action="count", default=argparse.SUPPRESS,
                           help="more log output (repeat for more)")


def harmonise_output(parser: argparse.ArgumentParser) -> None:
    """The output option of every parser is shown as ``-o/--out``; ``--output`` (the older name in some
    commands) stays accepted, hidden from the help. The option's ``dest`` is left as its command set it.
    A parser where ``-o``, ``--out`` or ``--output`` belongs to another option is left alone."""
    names = ("--out", "--output")
    for _, p in iter_parsers(parser):
        for action in p._actions:
            if not any(s in names for s in action.option_strings):
                continue
            owners = [p._option_string_actions.get(s) for s in (*names, "-o")]
            if any(o is not None and o is not action for o in owners):
                continue
            for s in (*names, "-o"):
                p._option_string_actions[s] = action
            action.option_strings = ["-o", "--out"] + [s for s in action.option_strings
                                                        if s not in (*names, "-o")]


class Parser(argparse.ArgumentParser):
    """The parser of every command: a usage fault is one line on stderr (``kansho: error: ...``, as every
    other refusal), naming the fault and pointing at the command's ``--help`` (argparse's default prints
    the whole usage block first); exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"kansho: error: {message} (see {self.prog} --help)\n")
