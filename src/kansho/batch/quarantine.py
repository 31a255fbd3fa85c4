"""Corrupt interferograms of a batch frame: set aside instead of failing the whole frame.

A frame of hundreds of pairs downloaded overnight may hold one truncated or unreadable file; the
time series does not need every pair. When the chain stops on an :class:`~kansho.errors.InputError`
naming a file of one pair (``yyyymmdd_yyyymmdd`` in its folder's or its own name), the batch
quarantines that pair: the frame runs again on a folder of links to everything else
(``ROOT/inputs/<id>``; the source files are never moved or changed), and the pair, the file and the
error are listed in the frame's status record (``quarantined``) and the catalogue. At most
:data:`MAX_FRACTION` of the frame's pairs (at least one) are set aside; a fault of the geometry or
metadata files, or of more pairs than that, still fails the frame.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kansho.errors import InputError

#: the largest share of a frame's pairs that may be quarantined before the frame fails instead
MAX_FRACTION = 0.1
PAIR_RE = re.compile(r"^(\d{8})_(\d{8})")


def pair_dir(source: Path) -> Path:
    """The folder holding the pairs (a LiCSAR frame folder's ``GEOC/``, or ``source`` itself)."""
    return source / "GEOC" if (source / "GEOC").is_dir() else source


def n_pairs(source: Path) -> int:
    """Number of pairs (folders or files named ``yyyymmdd_yyyymmdd...``, counted once) in ``source``."""
    try:
        return len({m.group(0) for p in pair_dir(source).iterdir() if (m := PAIR_RE.match(p.name))})
    except OSError:
        return 0


def limit(source: Path) -> int:
    """How many pairs of ``source`` may be quarantined: :data:`MAX_FRACTION` of them, at least one."""
    return max(1, int(MAX_FRACTION * n_pairs(source)))


def faulty_pair(exc: BaseException, roots: list[Path]) -> str | None:
    """The pair (``yyyymmdd_yyyymmdd``) whose file ``exc`` names, if it lies in one of ``roots``, else None."""
    if not isinstance(exc, InputError) or exc.path is None:
        return None
    path = Path(exc.path)
    for root in roots:
        for base in (root, pair_dir(root)):
            try:
                rel = path.relative_to(base)
            except ValueError:
                try:
                    rel = path.resolve().relative_to(base.resolve())
                except (ValueError, OSError):
                    continue
            if len(rel.parts) in (1, 2) and (m := PAIR_RE.match(rel.parts[0])):
                return m.group(0)
    return None


def entry(pair: str, exc: InputError) -> dict[str, Any]:
    """A ``quarantined`` record of the frame's status: pair, file, one-line error."""
    return {"pair": pair, "file": str(exc.path), "error": str(exc).replace("\n", " ")[:500]}
