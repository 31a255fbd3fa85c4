"""Child process of :class:`kansho.parallel.SideProcess`: ``python -m kansho._sidejob [MODULE...]``.

Imports the MODULEs (while the parent is still busy), then reads one line ``JOB<TAB>RESULT`` from stdin:
``(func, items)`` pickled in the file JOB, the list ``[func(x) for x in items]`` written pickled to RESULT
(temporary name, then rename); exit status 1 with nothing written when any item fails, 0 with nothing
done when stdin closes without a line (the parent had no work for it).
"""

from __future__ import annotations

import logging
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kansho._files import write_bytes_atomic


def map_list(func: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """``[func(x) for x in items]`` (also what a dask worker runs for :func:`kansho.parallel.side_map`)."""
    return [func(x) for x in items]


def main(argv: list[str]) -> int:
    import importlib

    logging.disable(logging.CRITICAL)  # the parent logs; a failure here is redone there
    for name in argv:
        importlib.import_module(name)
    line = sys.stdin.readline().rstrip("\n")
    if not line:
        return 0
    job, res = (Path(p) for p in line.split("\t"))
    func, items = pickle.loads(job.read_bytes())
    write_bytes_atomic(res, pickle.dumps(map_list(func, items)))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main(sys.argv[1:]))
    except Exception:  # noqa: BLE001 - any failure: the parent does the work itself
        raise SystemExit(1) from None
