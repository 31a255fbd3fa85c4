"""Readers of the planner's inputs: a stack's ``baselines`` file or a per-pair statistics table.

Two kinds of file are accepted by :func:`read_stack_baselines`:

* a LiCSAR ``baselines`` file (``refdate date bperp [btemp]``) or any other form
  :func:`kansho.io.inputs.read_baselines` understands: per-epoch B⊥ only;
* a per-pair table such as LiCSBAS's ``info/11ifg_stats.txt``
  (``date1_date2 bperp dt [unw_cov coh_av] [*]``, ``*`` marks a pair LiCSBAS rejected): per-pair
  B⊥, Δt and observed mean coherence, from which per-epoch B⊥ follow by least squares.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kansho.errors import InputError
from kansho.io.inputs import read_baselines

__all__ = ["PairTable", "StackBaselines", "read_pair_table", "read_stack_baselines"]

log = logging.getLogger(__name__)

_PAIR_RE = re.compile(r"^(\d{8})[_-](\d{8})$")


@dataclass(frozen=True)
class PairTable:
    """Per-pair rows (1-D arrays, one length): dates (yyyymmdd), B⊥ (m), Δt (days), coverage, coherence.

    ``coverage``/``coherence`` are NaN where the file has no such column or value; ``flagged`` marks
    rows ending in ``*`` (rejected by LiCSBAS's step 1-1).
    """

    date1: npt.NDArray[np.int64]
    date2: npt.NDArray[np.int64]
    bperp_m: npt.NDArray[np.float64]
    dt_days: npt.NDArray[np.float64]
    coverage: npt.NDArray[np.float64]
    coherence: npt.NDArray[np.float64]
    flagged: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.date1.size)

    @property
    def usable(self) -> npt.NDArray[np.bool_]:
        """Rows with a finite coherence that are not flagged."""
        return np.isfinite(self.coherence) & ~self.flagged


@dataclass(frozen=True)
class StackBaselines:
    """Per-epoch B⊥ of a stack (dates sorted) and, for a per-pair table, its rows."""

    epochs: npt.NDArray[np.int64]
    bperp_m: npt.NDArray[np.float64]
    pairs: PairTable | None


def read_pair_table(path: str | Path) -> PairTable:
    """Read a per-pair table ``date1_date2 bperp dt [unw_cov coh_av] [*]`` (LiCSBAS ``11ifg_stats.txt``).

    ``#`` lines are comments; a ``# ifg dates bperp dt unw_cov coh_av`` header, when present, names
    the columns (``coh``/``coh_av``/``coherence``, ``unw_cov``/``coverage``). Raises
    :class:`~kansho.errors.InputError` naming the file and line for a malformed row, or when no row is found.
    """
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(path, f"cannot read pair table ({exc.strerror})") from None
    cols = {"bperp": 0, "dt": 1, "cov": 2, "coh": 3}
    rows: list[tuple[int, int, float, float, float, float, bool]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            names = line.lstrip("#").replace("ifg dates", "ifg").split()
            if "bperp" in names and names and names[0] in ("ifg", "pair", "date1_date2"):
                hdr = {n: k - 1 for k, n in enumerate(names)}
                cols = {"bperp": hdr["bperp"], "dt": hdr.get("dt", 1),
                        "cov": next((hdr[n] for n in ("unw_cov", "coverage", "cov") if n in hdr), -1),
                        "coh": next((hdr[n] for n in ("coh_av", "coh", "coherence", "mean_coh") if n in hdr), -1)}
            continue
        toks = line.split()
        flagged = toks[-1] == "*"
        if flagged:
            toks = toks[:-1]
        m = _PAIR_RE.match(toks[0])
        if m is None or len(toks) < 3:
            raise InputError(path, f"line {lineno} is not 'date1_date2 bperp dt ...': {line[:60]!r}")
        vals = toks[1:]
        try:
            got = [float(vals[k]) if 0 <= k < len(vals) else float("nan")
                   for k in (cols["bperp"], cols["dt"], cols["cov"], cols["coh"])]
            rows.append((int(m.group(1)), int(m.group(2)), got[0], got[1], got[2], got[3], flagged))
        except ValueError:
            raise InputError(path, f"line {lineno} has a non-numeric value: {line[:60]!r}") from None
    if not rows:
        raise InputError(path, "no 'date1_date2 bperp dt ...' rows found")
    a = list(zip(*rows, strict=True))
    return PairTable(np.array(a[0], np.int64), np.array(a[1], np.int64), np.array(a[2], float),
                     np.array(a[3], float), np.array(a[4], float), np.array(a[5], float), np.array(a[6], bool))


def _looks_like_pair_table(path: Path) -> bool:
    try:
        with path.open(errors="replace") as fh:
            for raw in fh:
                line = raw.strip()
                if line and not line.startswith("#"):
                    return bool(_PAIR_RE.match(line.split()[0])) and len(line.split()) >= 3
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror})") from None
    return False


def read_stack_baselines(path: str | Path) -> StackBaselines:
    """Per-epoch B⊥ (and per-pair rows when the file is a pair table) from a stack's baselines file.

    A file whose rows are ``date1_date2 bperp dt ...`` is read as a :class:`PairTable`; per-epoch B⊥
    then come from :func:`kansho.io.inputs.read_baselines` (least squares with the first epoch at 0).
    Anything else goes to :func:`~kansho.io.inputs.read_baselines` alone (LiCSAR ``baselines``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    pairs = read_pair_table(path) if _looks_like_pair_table(path) else None
    per_epoch = read_baselines(path)
    if len(per_epoch) < 2:
        raise InputError(path, f"need at least 2 epochs, found {len(per_epoch)}")
    epochs = np.array(sorted(per_epoch), dtype=np.int64)
    return StackBaselines(epochs, np.array([per_epoch[int(d)] for d in epochs]), pairs)
