"""Results unchanged: every product of three reference runs equals the digests recorded before the
chain was restructured (``tests/golden/*.json``, written by ``python -m tests.golden.record``).

With the same versions of the numeric packages the products must be bit-identical. Where a
package version differs from the recording (a fresh CI install may bring a newer NumPy), the last
bits of float results may legitimately change, so the test then compares the summary statistics
to a relative 1e-6 instead and says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from tests.golden.cases import CASES
from tests.golden.digest import digest_run, versions

HERE = Path(__file__).parent / "golden"


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_products_unchanged(case: str, tmp_path: Path) -> None:
    ref = json.loads((HERE / f"{case}.json").read_text())
    got = digest_run(CASES[case](tmp_path))
    assert sorted(got) == sorted(ref["items"]), "the set of products changed"
    exact = versions() == ref["versions"]
    bad = []
    for key, want in ref["items"].items():
        have = got[key]
        if have["sha256"] == want["sha256"]:
            continue
        if exact or "n_finite" not in want or have["n_finite"] != want["n_finite"] or not all(
                _close(have[k], want[k]) for k in ("sum", "min", "max")):
            bad.append(f"{key}: {have} != {want}")
    assert not bad, ("bit-identical" if exact else "within 1e-6 (package versions differ from the "
                     "recording)") + " failed for:\n" + "\n".join(bad)
