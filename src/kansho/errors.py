"""Exceptions that the CLI turns into one-line messages.

Every error caused by the user's input derives from :class:`KanshoError`; its message names the
file (or option) and what is wrong with it, on one line, so ``kansho`` can print it without a
traceback.
"""

from __future__ import annotations

from pathlib import Path


class KanshoError(Exception):
    """Base class for errors that are reported to the user as one line."""


class InputError(KanshoError, ValueError):
    """Bad input data: unreadable, inconsistent or insufficient files.

    Parameters
    ----------
    path:
        The file or folder at fault (``None`` when the fault is not tied to one file).
    problem:
        What is wrong, in a few words, e.g. ``"not a GeoTIFF"``.
    """

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        msg = problem if path is None else f"{path}: {problem}"
        super().__init__(msg.replace("\n", " "))


class ConfigError(KanshoError, ValueError):
    """Invalid options or configuration file."""


class NetworkError(KanshoError, ValueError):
    """The interferogram network cannot support the requested step (too few pairs, epochs...)."""
