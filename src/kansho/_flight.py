"""One computation per key for threads that want the same cached entry at once.

Plain threading, no numerics: used by the filters' caches of kernel transforms and weights
(:mod:`kansho.filters`, :mod:`kansho.filters_adaptive`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

_T = TypeVar("_T")
_FLIGHTS_LOCK = threading.Lock()
_FLIGHTS: dict[Hashable, threading.Lock] = {}


def single_flight(cache: dict[Any, _T], key: Hashable, compute: Callable[[], _T]) -> _T:
    """``cache[key]``, or ``compute()`` (which stores it in ``cache`` when there is room) run by one
    thread at a time per key: threads of a pass that want the same entry at once (every epoch task of
    the spatial cross-validation starts with the same widths' weights and kernel transforms, seconds of
    FFTs on a full frame) wait for the first one's result instead of computing it again, while its FFT
    uses their cores (:data:`kansho.filters.FFT_WORKERS`). The same values as without the wait."""
    hit = cache.get(key)
    if hit is not None:
        return hit
    with _FLIGHTS_LOCK:
        lock = _FLIGHTS.setdefault(key, threading.Lock())
    with lock:
        hit = cache.get(key)  # computed while this thread waited
        return compute() if hit is None else hit


def forget_flights() -> None:
    """Drop the per-key locks of :func:`single_flight` (with the caches they guard)."""
    with _FLIGHTS_LOCK:
        _FLIGHTS.clear()
