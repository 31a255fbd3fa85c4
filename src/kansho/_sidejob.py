"""Child process of :class:`kansho.sideproc.SideProcess`: ``python -m kansho._sidejob [MODULE...]``.

Imports the MODULEs (while the parent is still busy), then reads one line ``JOB<TAB>RESULT<TAB>CLAIMS``
from stdin: ``(func, n)`` then each of the n items pickled one after another in the file JOB (an item is
loaded as this process reaches it: one in memory at a time), items shared with the parent through the folder
CLAIMS. This process takes them from the first on, each only once it has claimed it (:func:`claim`), and
stops at the first the parent claimed (the parent takes them from the last back); ``{index: func(item)}``
of the items it did is written pickled to RESULT (temporary name, then rename). Exit status 1 with nothing
written when any item fails, 0 with nothing done when stdin closes without a line (the parent had no work
for it).
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kansho._files import write_bytes_atomic


def map_list(func: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """``[func(x) for x in items]``: what a dask worker runs for :func:`kansho.sideproc.side_map`."""
    return [func(x) for x in items]


def claim(folder: Path, i: int) -> bool:
    """Claim item ``i`` of a shared list in ``folder`` (an empty file created exclusively, so that of two
    processes claiming the same item one only succeeds); False when it was claimed already."""
    try:
        os.close(os.open(folder / f"{i}.claim", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False
    return True


def map_claimed(func: Callable[[Any], Any], items: Iterable[Any], folder: Path) -> dict[int, Any]:
    """``func`` over ``items`` (any iterable: a lazy one is drawn an item at a time) from the first on, while this
    process can :func:`claim` them."""
    out: dict[int, Any] = {}
    for i, x in enumerate(items):
        if not claim(folder, i):
            break
        out[i] = func(x)
        del x  # freed before the next item is drawn: one item in memory at a time
    return out


def main(argv: list[str]) -> int:
    import importlib

    logging.disable(logging.CRITICAL)  # the parent logs; a failure here is redone there
    for name in argv:
        importlib.import_module(name)
    line = sys.stdin.readline().rstrip("\n")
    if not line:
        return 0
    job, res, claims = (Path(p) for p in line.split("\t"))
    with open(job, "rb") as f:  # streamed: no bytes copy of the job beside its arrays, an item at a time
        func, n = pickle.load(f)
        done = map_claimed(func, (pickle.load(f) for _ in range(n)), claims)
    write_bytes_atomic(res, pickle.dumps(done))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except Exception:  # noqa: BLE001 - any failure: the parent does the work itself
        raise SystemExit(1) from None
