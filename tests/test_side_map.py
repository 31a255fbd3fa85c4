"""kansho.sideproc.side_map: a share of the work in a child Python, the results in order, and the work done
here when the child fails."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from kansho.sideproc import side_map


def _square_with_pid(item: tuple[int, int]) -> tuple[int, int]:
    """The square of ``item[1]``, and the pid of the process that computed it."""
    return item[1] * item[1], os.getpid()


def _fails_away(item: tuple[int, int]) -> int:
    parent, x = item
    if os.getpid() != parent:
        raise RuntimeError("not in the parent")
    return -x


def _marked(item: tuple[int, int, str, float]) -> tuple[int, int]:
    """``x * x`` and the pid computing it. In the parent the first item waits (at most 60 s) for the
    child to start an item (it marks the folder); in the child each item marks it, then takes ``delay`` s."""
    parent, x, folder, delay = item
    if os.getpid() != parent:
        (Path(folder) / f"{x}.started").touch()
        time.sleep(delay)
    elif x == 1:
        t0 = time.monotonic()
        while not any(Path(folder).glob("*.started")) and time.monotonic() - t0 < 60:
            time.sleep(0.01)
    return x * x, os.getpid()


def test_results_in_order_with_a_share_away(tmp_path: Path) -> None:
    me = os.getpid()
    items = [(me, x, str(tmp_path), 0.0) for x in range(1, 6)]
    out = side_map(_marked, items[:2], items[2:])
    assert [v for v, _ in out] == [1, 4, 9, 16, 25]
    assert {p for _, p in out[:2]} == {me}
    assert out[2][1] != me  # the share away ran in another process, from its first item


def test_this_process_takes_the_items_the_child_has_not_reached(tmp_path: Path) -> None:
    """The child, slow here, does the first item of its share; this process, done with its own, takes the
    others from the last back instead of waiting: each item done once, the results in order."""
    me = os.getpid()
    items = [(me, x, str(tmp_path), 3.0) for x in range(1, 7)]
    out = side_map(_marked, items[:1], items[1:])
    assert [v for v, _ in out] == [1, 4, 9, 16, 25, 36]
    assert out[1][1] != me
    assert {p for _, p in out[2:]} == {me}
    assert sorted(p.name for p in tmp_path.glob("*.started")) == ["2.started"]  # nothing done twice


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
    from kansho import sideproc

    monkeypatch.setattr(sideproc, "SIDE_TIMEOUT_S", 0.5)
    me = os.getpid()
    assert side_map(_slow_away, [(me, 1)], [(me, 2)]) == [2, 3]


def _pid_and_loaded(item: tuple[int, str]) -> tuple[int, int, bool]:
    """``item[0]``, the pid computing it, and whether that process had imported the json module's decoder.
    The parent's item 1 waits (at most 60 s) for the child to start one (it marks the folder ``item[1]``)."""
    import sys

    x, folder = item
    if x == 1:
        t0 = time.monotonic()
        while not any(Path(folder).glob("*.started")) and time.monotonic() - t0 < 60:
            time.sleep(0.01)
    else:
        (Path(folder) / f"{x}.started").touch()
    return x, os.getpid(), "json.decoder" in sys.modules


def test_a_side_process_started_ahead_takes_its_share_with_its_modules_imported(tmp_path: Path) -> None:
    """A SideProcess started before its work imports the modules it was given, then computes what it is
    handed in another process; side_map uses it for its share."""
    from kansho.sideproc import SideProcess

    me = os.getpid()
    with SideProcess(("json",)) as side:
        assert side.started
        out = side_map(_pid_and_loaded, [(1, str(tmp_path))], [(2, str(tmp_path)), (3, str(tmp_path))], side=side)
    assert [v for v, _, _ in out] == [1, 2, 3]
    assert out[0][1] == me
    assert out[1][1] != me and out[1][2]  # the child's first item, with its modules imported


def test_an_idle_side_process_ends_when_closed() -> None:
    """A side process never given work exits on its own (status 0) when closed; a second submit is refused."""
    from kansho.sideproc import SideProcess

    side = SideProcess()
    proc = side._proc
    side.close()
    assert proc is not None and proc.poll() == 0
    assert not side.submit(abs, [1])
    assert side.collect(1.0) == []


def test_a_failing_side_process_leaves_its_share_here_when_given_ahead() -> None:
    from kansho.sideproc import SideProcess

    me = os.getpid()
    with SideProcess() as side:
        assert side_map(_fails_away, [(me, 1)], [(me, 2)], side=side) == [-1, -2]


def test_the_side_process_loads_an_item_only_as_it_reaches_it(tmp_path: Path) -> None:
    """The child draws the job's items from its file one at a time, as it reaches each (it loaded every item at
    once: the L frame's figures, 0.8 GB of maps), and stops at the first one the parent claimed."""
    from kansho._sidejob import claim, map_claimed

    drawn: list[int] = []

    def items() -> Any:
        for i in range(6):
            drawn.append(i)
            yield i

    seen: list[tuple[int, int]] = []

    def func(x: int) -> int:
        seen.append((x, len(drawn)))
        return 2 * x

    assert claim(tmp_path, 4)  # the parent took item 4 (from the last back)
    assert map_claimed(func, items(), tmp_path) == {0: 0, 1: 2, 2: 4, 3: 6}
    assert seen == [(i, i + 1) for i in range(4)]
