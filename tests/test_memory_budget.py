"""The run's memory budget (``--memory-limit``) as a whole run meets it: a long series, whose blocks the budget
shrinks, measured as a process tree from outside (the resident sets of the chain's process and any child)."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from kansho.synth import SimConfig, simulate_frame

#: a long series on a small frame: 120 epochs, ~470 pairs (four a epoch), so that the blocks, not the frame's maps,
#: are what a budget binds
FRAME = SimConfig(shape=(200, 200), n_epoch=120, interval_days=12, pairs_per_epoch=4)


def _peak_of_tree(cmd: list[str]) -> tuple[int, float]:
    """Run ``cmd``; its exit status and the largest sum of the resident sets of it and its children (bytes),
    sampled every 10 ms."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    top = psutil.Process(proc.pid)
    peak = 0.0
    while proc.poll() is None:
        total = 0
        try:
            for p in [top, *top.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):  # ended since listed
                    total += p.memory_info().rss
        except psutil.NoSuchProcess:
            break
        peak = max(peak, float(total))
        time.sleep(0.01)
    return proc.wait(), peak


@pytest.mark.slow  # a 120-epoch frame's whole chain in a child process (~40 s on 2 cores)
def test_a_long_series_stays_within_a_tight_budget(tmp_path: Path) -> None:
    """Under ``--memory-limit 700MB`` the run shrinks its blocks (the log says to what), draws its figures in its
    own process, and the whole run's peak stays within the budget (it was over before the block model was
    measured: a 300-epoch frame at 600MB peaked at 608-706 MB). The budget is the product's promise; the
    margin is what the interpreter's own size may vary between machines."""
    simulate_frame(tmp_path / "sim", FRAME, rng=3)
    out = tmp_path / "out"
    code, peak = _peak_of_tree([sys.executable, "-m", "kansho.cli", "ts",
                                str(tmp_path / "sim" / "GEOC"), "-o", str(out), "--memory-limit", "700MB"])
    assert code == 0
    log = (out / "kansho.log").read_text()
    blocks = [int(b) for b in re.findall(r"memory budget holds blocks of (\d+) px", log)]
    assert len(blocks) == 1 and 32 <= blocks[0] < 200  # the budget, not the frame, made them smaller: said once
    assert peak <= 700e6, f"peak {peak / 1e6:.0f} MB over the 700MB budget"
    assert len(list((out / "plots").glob("*.png"))) >= 20
