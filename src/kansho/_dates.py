"""Calendar dates (int yyyymmdd) and decimal years, the project's one time convention."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

DAYS_PER_YEAR = 365.25

#: English month abbreviations, lower case, in calendar order
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def month_number(name: str) -> int:
    """1..12 for an English month name or abbreviation (any case); ``ValueError`` otherwise."""
    key = name.strip().lower()[:3]
    if len(name.strip()) < 3 or key not in MONTHS:
        raise ValueError(f"not a month: {name!r}")
    return MONTHS.index(key) + 1


def parse_date(value: str | int) -> _dt.date:
    """Parse ``yyyymmdd`` (str or int) into a :class:`datetime.date`; ``ValueError`` if invalid."""
    s = str(value).strip()
    if len(s) != 8 or not s.isdigit():
        raise ValueError(f"not a yyyymmdd date: {value!r}")
    return _dt.date(int(s[:4]), int(s[4:6]), int(s[6:]))


def to_ordinal(dates: Iterable[int] | npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Days since 0001-01-01 for int yyyymmdd dates, shape as input (1-D)."""
    arr = np.atleast_1d(np.asarray(dates, dtype=np.int64))
    return np.array([parse_date(int(d)).toordinal() for d in arr], dtype=np.int64)


def years_since_first(dates: Iterable[int] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Time of each date in decimal years (days / 365.25) from the first date, shape (n,)."""
    o = to_ordinal(dates)
    return (o - o[0]).astype(np.float64) / DAYS_PER_YEAR


def decimal_year(dates: Iterable[int] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Calendar decimal year of yyyymmdd dates (2019-01-01 → 2019.0, 2019-07-02 → 2019.4986): the
    day of the year over the year's length, as the ``decimal_year`` columns of the CSV outputs give it."""
    out = []
    for d in np.atleast_1d(np.asarray(dates, dtype=np.int64)).ravel():
        day = parse_date(int(d))
        start, end = _dt.date(day.year, 1, 1), _dt.date(day.year + 1, 1, 1)
        out.append(day.year + (day - start).days / (end - start).days)
    return np.asarray(out, np.float64)


def from_ordinal(ordinals: Iterable[int]) -> npt.NDArray[np.int64]:
    """Inverse of :func:`to_ordinal`: int yyyymmdd for each ordinal day."""
    out = []
    for o in ordinals:
        d = _dt.date.fromordinal(int(o))
        out.append(d.year * 10000 + d.month * 100 + d.day)
    return np.array(out, dtype=np.int64)
