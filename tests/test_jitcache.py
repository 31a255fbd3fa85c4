"""The one-time compilation of the numerical kernels is announced (issue 21), and only when it happens."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kansho import _jitcache


def test_warm_cache_is_not_announced(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    # tests/conftest.py compiled every kernel before the tests: the cache is warm
    missing, total = _jitcache.uncached_kernels()
    assert total >= 10 and 2 * len(missing) <= total, missing
    monkeypatch.setattr(_jitcache, "_announced", False)
    with caplog.at_level(logging.INFO, logger="kansho"):
        assert not _jitcache.announce()
    assert "compiling" not in caplog.text


def test_cold_cache_is_announced_once(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    real_exists = _jitcache.os.path.exists
    monkeypatch.setattr(_jitcache.os.path, "exists", lambda p: False if str(p).endswith(".nbi") else real_exists(p))
    monkeypatch.setattr(_jitcache, "_announced", False)
    with caplog.at_level(logging.INFO, logger="kansho"):
        assert _jitcache.announce()
        assert not _jitcache.announce()          # once per process
    assert caplog.text.count("compiling the numerical kernels, once") == 1


def test_background_compilation_child_runs_and_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """The child of warm_in_background runs the tiny chain to its end (exit 0: here from the warm cache),
    only one is started per process, none from the child itself, and wait_for_warm reaps it."""
    monkeypatch.setattr(_jitcache, "_warmer", None)
    monkeypatch.setenv(_jitcache.WARM_ENV, "1")
    assert not _jitcache.warm_in_background()  # in the child: no child of its own
    monkeypatch.delenv(_jitcache.WARM_ENV)
    monkeypatch.setattr(_jitcache.os, "cpu_count", lambda: 2)
    assert _jitcache.warm_in_background()
    child = _jitcache._warmer
    assert child is not None and not _jitcache.warm_in_background()  # once
    _jitcache.wait_for_warm(timeout=300)
    assert child.returncode == 0 and _jitcache._warmer is None
    _jitcache.wait_for_warm()  # nothing to wait for: returns at once


def test_steps_wait_only_for_the_child_s_report_of_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each step of WAIT_STEPS waits until the child has reported it done, not for the whole child; the steps
    before them do not wait; a child that ends without reporting a step releases it too."""
    import sys
    import time

    script = "import sys, time; print('invert', flush=True); time.sleep(float(sys.argv[1]))"
    monkeypatch.setattr(_jitcache, "_warmer", None)
    monkeypatch.delenv(_jitcache.WARM_ENV, raising=False)
    monkeypatch.setattr(_jitcache.os, "cpu_count", lambda: 2)
    for linger in ("60", "0"):
        monkeypatch.setattr(_jitcache, "_child_args", lambda large, s=linger: [sys.executable, "-c", script, s])
        assert _jitcache.warm_in_background()
        child = _jitcache._warmer
        assert child is not None
        _jitcache.wait_for_warm("loops")  # this process runs it while the child starts: no wait
        _jitcache.wait_for_warm("invert", timeout=60)
        if linger == "60":
            assert child.poll() is None and _jitcache._warmer is child  # the child goes on
            _jitcache._stop_warm()  # at exit: ended
            assert child.returncode is not None and _jitcache._warmer is None
        else:
            while child.poll() is None:
                time.sleep(0.05)
            _jitcache.wait_for_warm("filter", timeout=60)  # never reported: the child's end releases it
            assert _jitcache._warmer is None


@pytest.mark.parametrize("large", [True, False])
def test_prepare_leaves_the_large_frame_kernel_to_a_large_frame(monkeypatch: pytest.MonkeyPatch, large: bool) -> None:
    """A cold cache: the background child compiles the NSBAS kernel only for a frame that may be large (a small
    demo inverts with numpy, so it would wait for nothing), and this process takes compile_here's larger share
    only then (else the child, lighter by that kernel, takes most of it)."""
    calls: list[object] = []
    monkeypatch.setattr(_jitcache, "announce", lambda: True)
    monkeypatch.setattr(_jitcache, "warm_in_background", lambda lg=True: calls.append(("child", lg)) or True)
    monkeypatch.setattr(_jitcache, "compile_here", lambda lg=True: calls.append(("here", lg)))
    _jitcache.prepare(large=large)
    assert calls == [("child", large), ("here", large)]


def test_child_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    class Popen:
        stdout = None  # no reports: the reader ends at once

        def __init__(self, args: list[str], **kw: object) -> None:
            seen.append(args)

    monkeypatch.setattr(_jitcache.subprocess, "Popen", Popen)
    monkeypatch.setattr(_jitcache.os, "cpu_count", lambda: 2)
    monkeypatch.delenv(_jitcache.WARM_ENV, raising=False)
    for large in (True, False):
        monkeypatch.setattr(_jitcache, "_warmer", None)
        assert _jitcache.warm_in_background(large)
    monkeypatch.setattr(_jitcache, "_warmer", None)
    assert [a[-1] == _jitcache.LARGE_FLAG for a in seen] == [True, False]


def test_large_kernel_compilation_is_announced_once(caplog: pytest.LogCaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """After a small demo the NSBAS kernel is not cached: the first large frame says it compiles it, once."""
    from kansho import _nsbas_jit

    real_exists = _jitcache.os.path.exists
    for cached in (True, False):
        monkeypatch.setattr(_jitcache.os.path, "exists",
                            lambda p, c=cached: c if str(p).endswith(".nbi") else real_exists(p))
        monkeypatch.setattr(_jitcache, "_kernels_announced", set())
        if cached:
            with caplog.at_level(logging.INFO, logger="kansho"):
                _jitcache.announce_kernel(_nsbas_jit._solve_tiles, "the kernel", 6)  # in the cache: nothing said
            assert "compiling" not in caplog.text
    with caplog.at_level(logging.INFO, logger="kansho"):
        _jitcache.announce_kernel(_nsbas_jit._solve_tiles, "the kernel", 6)
        _jitcache.announce_kernel(_nsbas_jit._solve_tiles, "the kernel", 6)
    assert caplog.text.count("compiling the kernel, once") == 1


def test_every_kernel_module_is_inspected() -> None:
    """Each module of the package that declares a compiled kernel is among those whose cache the announcement
    inspects (step 1-2's loop sums module was once missing: its kernels went uncounted)."""
    import ast
    from pathlib import Path

    src = Path(_jitcache.__file__).resolve().parent
    declaring = set()
    for p in src.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                    getattr(getattr(d, "func", d), "id", "") == "njit" for d in node.decorator_list):
                declaring.add(".".join(("kansho", *p.relative_to(src).with_suffix("").parts)))
    assert len(declaring) >= 12 and "kansho._loopsq_jit" in declaring
    assert declaring <= set(_jitcache.JIT_MODULES), sorted(declaring - set(_jitcache.JIT_MODULES))


_LEVEL_SCRIPT = """
import sys
import numpy as np
import kansho, numba
from kansho._velocity_jit import line_sums
r = np.random.default_rng(7)
y = r.normal(size=(40, 3000)) * 10.0 ** r.integers(-3, 4, size=(1, 3000))
y[r.random(y.shape) < 0.2] = np.nan
tc = np.sort(r.uniform(-2.0, 2.0, 40))
w = r.uniform(0.1, 3.0, 40)
np.save(sys.argv[1], line_sums(y, tc, w))
print(int(numba.config.OPT))
"""


def test_kernels_compile_at_level_1_unless_told_and_give_level_3_s_results(tmp_path: Path) -> None:
    """`import kansho` sets numba's optimisation level to 1 (a first run compiles in less time) unless the user
    set one; a kernel of long floating-point sums compiled at level 1 and at numba's default 3 (each in a fresh
    process on an empty cache) gives the same sums bit for bit (no fast-math: no level may reorder them)."""
    out = {}
    for level in (None, "3"):
        env = {k: v for k, v in os.environ.items() if k != "NUMBA_OPT"}
        env["NUMBA_CACHE_DIR"] = str(tmp_path / f"cache{level}")
        if level:
            env["NUMBA_OPT"] = level
        npy = tmp_path / f"sums{level}.npy"
        proc = subprocess.run([sys.executable, "-c", _LEVEL_SCRIPT, str(npy)], env=env, capture_output=True,
                              text=True, check=True)
        assert proc.stdout.strip() == ("1" if level is None else level)
        out[level] = np.load(npy)
    assert out[None].shape == (5, 3000) and np.isfinite(out[None]).all()
    np.testing.assert_array_equal(out[None], out["3"])


def test_child_compiles_step_1_2_s_settle_kernel_for_the_chain_s_types(tmp_path: Path) -> None:
    """The background child compiles step 1-2's last kernel (:func:`kansho._jitwarm._settle_fix`, ~0.8 s the
    parent no longer spends on a first run) with the argument types the chain calls it with: after the child's
    call and a chain whose per-pixel correction runs, the kernel has one compiled version, not two."""
    from kansho import _jitwarm, _loops_jit
    from kansho.chain.runner import run_timeseries
    from kansho.config import RunConfig
    from kansho.synth import SimConfig, simulate_frame

    _jitwarm._settle_fix()
    assert len(_loops_jit._settle_fix_ranges.signatures) == 1
    simulate_frame(tmp_path / "sim", SimConfig(shape=(24, 24), n_epoch=8, n_unw_errors=2), rng=0)
    run = run_timeseries(tmp_path / "sim" / "GEOC", tmp_path / "ts", RunConfig(), progress=False,
                         steps=["ingest", "qc", "loops"])
    assert run.result("loops").pixel_errors == "correct"  # the correction ran: settle_fix was called
    assert len(_loops_jit._settle_fix_ranges.signatures) == 1


def test_numba_is_set_up_once_in_a_thread_as_a_kernel_step_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """set_up_numba() starts one daemon thread that calls the do-nothing kernel (numba's one-time setup off the
    first kernel call of a step); later calls start none. The runner calls it as a run or a step begins, but not
    for the steps that call no kernel (qc, whose statistics ingest took, and the outputs)."""
    import threading

    from kansho import _ready_jit
    from kansho.chain.registry import STEPS

    started: list[threading.Thread] = []
    real_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        started.append(self)
        real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    monkeypatch.setattr(_jitcache, "_set_up", False)
    _jitcache.set_up_numba()
    _jitcache.set_up_numba()
    setup = [t for t in started if t.name == "kansho-numba-setup"]
    assert len(setup) == 1 and setup[0].daemon
    setup[0].join(60)
    assert not setup[0].is_alive() and _ready_jit.ready() == 1
    assert {s.name for s in STEPS if not s.kernels} == {"qc", "outputs"}
