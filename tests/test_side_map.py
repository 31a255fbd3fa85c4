"""kansho.parallel.side_map: a share of the work in a child Python, the results in order, and the work done
here when the child fails."""

from __future__ import annotations

import os
import time

import pytest

from kansho.parallel import side_map


def _square_with_pid(item: tuple[int, int]) -> tuple[int, int]:
    """The square of ``item[1]``, and the pid of the process that computed it."""
    return item[1] * item[1], os.getpid()


def _fails_away(item: tuple[int, int]) -> int:
    parent, x = item
    if os.getpid() != parent:
        raise RuntimeError("not in the parent")
    return -x


def test_results_in_order_with_a_share_away() -> None:
    me = os.getpid()
    out = side_map(_square_with_pid, [(me, 1), (me, 2)], [(me, 3), (me, 4), (me, 5)])
    assert [v for v, _ in out] == [1, 4, 9, 16, 25]
    assert {p for _, p in out[:2]} == {me}
    assert {p for _, p in out[2:]} != {me}  # the share away ran in another process


def test_a_failing_child_leaves_its_share_to_this_process() -> None:
    me = os.getpid()
    assert side_map(_fails_away, [(me, 1)], [(me, 2), (me, 3)]) == [-1, -2, -3]


def test_nothing_away_runs_here() -> None:
    assert side_map(abs, [-1, 2, -3], []) == [1, 2, 3]


def _slow_away(item: tuple[int, int]) -> int:
    """``x + 1`` here; in a child, ``x + 100`` after 30 s (a child that is not stopped shows in the result)."""
    parent, x = item
    if os.getpid() != parent:
        time.sleep(30)
        return x + 100
    return x + 1


def test_a_hung_child_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child still running past SIDE_TIMEOUT_S after this process's share is killed; its share is done here."""
    from kansho import parallel

    monkeypatch.setattr(parallel, "SIDE_TIMEOUT_S", 0.5)
    me = os.getpid()
    assert side_map(_slow_away, [(me, 1)], [(me, 2)]) == [2, 3]
