"""Record the reference digests: ``python -m tests.golden.record [CASE ...]`` from the repository root.

Only to be run on purpose, when a change of results is intended and explained in its commit.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tests.golden.cases import CASES
from tests.golden.digest import digest_run, versions

HERE = Path(__file__).parent


def main(names: list[str]) -> None:
    for name in names or list(CASES):
        with tempfile.TemporaryDirectory() as tmp:
            run = CASES[name](Path(tmp))
            ref = {"versions": versions(), "items": digest_run(run)}
        (HERE / f"{name}.json").write_text(json.dumps(ref, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {len(ref['items'])} items")


if __name__ == "__main__":
    main(sys.argv[1:])
