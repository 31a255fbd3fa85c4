"""Faulty run folders: outputs changed behind a run's back are made again; unusable -o is one clear line."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr
from tests.golden.digest import digest_run

from kansho import run_timeseries
from kansho.cli import main
from kansho.config import RunConfig
from kansho.errors import InputError
from kansho.synth import SimConfig, simulate_frame

#: the runs here are compared by their numerical products: no figures drawn
pytestmark = pytest.mark.usefixtures("no_figures")


@pytest.fixture(scope="module")
def lone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    """A tiny simulated frame, a finished run of it (read-only: copy it) and the run's digest."""
    from tests._shared import figures_skipped

    d = tmp_path_factory.mktemp("tiny")
    simulate_frame(d, SimConfig(shape=(40, 40), n_epoch=12), rng=3)
    out = d / "lone"
    with figures_skipped():
        run_timeseries(d / "GEOC", out, RunConfig(), progress=False)
    return d / "GEOC", out, digest_run(out)


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(src, dst)
    return dst


def _ran(run: Any) -> list[str]:
    return [k for k, v in run.timings.items() if v > 0.0]


def test_a_plain_rerun_skips_everything_and_stamps_are_recorded(lone: tuple[Path, Path, dict[str, Any]],
                                                                tmp_path: Path) -> None:
    geoc, src, digest = lone
    out = _copy(src, tmp_path)  # a copied folder (new file times) is still up to date
    run = run_timeseries(geoc, out, RunConfig(), progress=False)
    assert _ran(run) == []
    state = json.loads((out / "work" / "state.json").read_text())
    assert set(state["invert"]["outputs"]) >= {"cum", "vel"}
    assert state["invert"]["outputs"]["cum"]["shape"][1:] == [40, 40]
    assert set(state["ingest"]["outputs"]) == {"stack.zarr/unw", "stack.zarr/coh"}
    assert digest_run(out) == digest


def test_each_step_records_its_passes_times(lone: tuple[Path, Path, dict[str, Any]]) -> None:
    """A step's record keeps the wall time of each of its passes (a pass run twice summed), which its own time
    holds; a step that runs no pass (the outputs) records none."""
    _, out, _ = lone
    state = json.loads((out / "work" / "state.json").read_text())
    assert {"1-2 spatial check", "1-2 unwrapping errors", "1-2 pixels"} <= set(state["loops"]["passes"])
    assert {"1-3 invert", "1-5 stc"} <= set(state["invert"]["passes"]) | set(state["mask"]["passes"])
    assert state["outputs"]["passes"] == {}
    for name, rec in state.items():
        assert all(v >= 0.0 for v in rec["passes"].values()), name
        assert sum(rec["passes"].values()) <= rec["seconds"] + 5e-4 * (len(rec["passes"]) + 1), name  # rounded to 1 ms


def test_deleted_work_array_reruns_its_step_and_the_rest(lone: tuple[Path, Path, dict[str, Any]],
                                                         tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    geoc, src, digest = lone
    out = _copy(src, tmp_path)
    shutil.rmtree(out / "work" / "ts.zarr" / "vstd")
    with caplog.at_level("WARNING", logger="kansho.chain.runner"):
        run = run_timeseries(geoc, out, RunConfig(), progress=False)
    assert _ran(run) == ["vstd", "mask", "filter", "outputs"]
    assert any("vstd" in r.getMessage() and "missing" in r.getMessage() for r in caplog.records)
    assert digest_run(out) == digest


def test_overwritten_work_array_reruns_its_step(lone: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    geoc, src, digest = lone
    out = _copy(src, tmp_path)
    g = zarr.open_group(str(out / "work" / "ts.zarr"), mode="a")
    cum = g["cum"]
    assert isinstance(cum, zarr.Array)
    cum[3] = np.zeros(cum.shape[1:], np.float32)  # a second writer's data, same shape and dtype
    run = run_timeseries(geoc, out, RunConfig(), progress=False)
    assert _ran(run) == ["invert", "vstd", "mask", "filter", "outputs"]
    assert digest_run(out) == digest


def test_missing_product_reruns_outputs(lone: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    geoc, src, digest = lone
    out = _copy(src, tmp_path)
    (out / "results" / "vel.tif").unlink()
    (out / "cum.h5").unlink()
    run = run_timeseries(geoc, out, RunConfig(), progress=False)
    assert _ran(run) == ["outputs"]
    assert digest_run(out) == digest


def test_changed_step_outside_steps_is_a_clear_error(lone: tuple[Path, Path, dict[str, Any]], tmp_path: Path) -> None:
    geoc, src, _ = lone
    out = _copy(src, tmp_path)
    shutil.rmtree(out / "work" / "ts.zarr" / "cum")
    with pytest.raises(Exception, match=r"step invert.*cum is missing.*include it in --steps"):
        run_timeseries(geoc, out, RunConfig(), steps=["mask"], progress=False)


def _cli_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    rc = main(["-q", "ts", *argv])
    err = capsys.readouterr().err
    assert rc != 0
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_out_is_a_file(lone: tuple[Path, Path, dict[str, Any]], tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    geoc, _, _ = lone
    f = tmp_path / "notes.txt"
    f.write_text("x")
    line = _cli_error(capsys, str(geoc), "-o", str(f))
    assert str(f) in line and "is a file" in line
    assert f.read_text() == "x"
    line = _cli_error(capsys, str(geoc), "-o", str(f / "run"))
    assert "is a file" in line


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores folder permissions")
def test_out_not_writable(lone: tuple[Path, Path, dict[str, Any]], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    geoc, _, _ = lone
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        line = _cli_error(capsys, str(geoc), "-o", str(ro / "run"))
        assert "ro" in line and "choose another -o" in line
        line = _cli_error(capsys, str(geoc), "-o", str(ro))
        assert "cannot" in line
    finally:
        ro.chmod(0o755)


def test_failed_ingest_leaves_no_partial_store(lone: tuple[Path, Path, dict[str, Any]], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import kansho.store

    geoc, _, _ = lone
    calls = {"n": 0}
    real = kansho.store._read_unw

    def failing(path: Path, *a: Any, **k: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > 3:
            raise InputError(path, "unreadable (simulated)")
        return real(path, *a, **k)

    monkeypatch.setattr(kansho.store, "_read_unw", failing)
    out = tmp_path / "run"
    with pytest.raises(InputError, match="simulated"):
        run_timeseries(geoc, out, RunConfig(), progress=False)
    assert calls["n"] > 3
    assert not (out / "stack.zarr.partial").exists() and not (out / "stack.zarr").exists()
    assert not (out / "work" / ".lock").exists()


def test_out_not_writable_reported_before_any_work(lone: tuple[Path, Path, dict[str, Any]], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The permission check itself (root, which the test above needs not to be, passes every os.access)."""
    import kansho.chain.runner as runner

    geoc, _, _ = lone
    out = tmp_path / "run"
    monkeypatch.setattr(runner.os, "access", lambda p, mode: Path(p) != out)
    line = _cli_error(capsys, str(geoc), "-o", str(out))
    assert f"{out}: cannot be written" in line
    assert not (out / "stack.zarr").exists() and not (out / "work" / "state.json").exists()
