"""What ran and what would run again: ``OUT/kansho.log``, the re-run's change report and ``kansho info``."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from tests._shared import FinishedRun, one_error_line

from kansho import run_timeseries
from kansho.chain.records import versions
from kansho.chain.runlog import LOG_NAME, run_log
from kansho.cli import main
from kansho.commands.info import run_info
from kansho.config import RunConfig, load_config
from kansho.errors import InputError

STEPS_AFTER_MASK = "mask (1-5), filter (1-6), outputs (out)"


def _info(capsys: pytest.CaptureFixture[str], out: Path) -> str:
    rc = main(["info", str(out)])
    text, err = capsys.readouterr()
    assert rc == 0, err
    return text


def _edit_state(out: Path, edit: Callable[[dict], None]) -> None:
    p = out / "work" / "state.json"
    state = json.loads(p.read_text())
    edit(state)
    p.write_text(json.dumps(state))


# ----------------------------------------------------------------------------------- re-run report
def test_rerun_reports_changed_options_and_steps(small_run: FinishedRun, copy_run: Callable[..., Path],
                                                 caplog: pytest.LogCaptureFixture, no_figures: None) -> None:
    """A re-run with an option changed says, before any step runs, the option, both values (the default
    named) and the steps that run again; a re-run that omits it says the value reverts to the default."""
    out = copy_run(small_run)
    caplog.set_level(logging.WARNING)
    run_timeseries(None, out, load_config(None, {"mask.vstd": 50.0}), progress=False)
    msgs = [r.getMessage() for r in caplog.records if "differs from the last run" in r.getMessage()]
    assert len(msgs) == 1, [r.getMessage() for r in caplog.records]
    assert "option mask.vstd: 100.0 (default) -> 50.0" in msgs[0]
    assert f"steps that run again: {STEPS_AFTER_MASK}" in msgs[0]
    assert "loops (1-2)" not in msgs[0] and "invert" not in msgs[0]
    state = json.loads((out / "work" / "state.json").read_text())
    assert state["mask"]["reads"]["mask.vstd"] == 50.0  # it did run with the new value

    caplog.clear()
    run_timeseries(None, out, RunConfig(), progress=False)  # the option omitted: back to the default
    msg = next(r.getMessage() for r in caplog.records if "differs from the last run" in r.getMessage())
    assert "option mask.vstd: 50.0 -> 100.0 (default)" in msg
    assert "to keep the old values give --mask-vstd 50.0" in msg
    assert f"steps that run again: {STEPS_AFTER_MASK}" in msg

    caplog.clear()
    run_timeseries(None, out, RunConfig(), progress=False)  # nothing changed: nothing said
    assert not [r for r in caplog.records if "differs from the last run" in r.getMessage()]

    log_text = (out / LOG_NAME).read_text()
    assert log_text.count(f"kansho {versions()['kansho']}  ") == 4  # one header per invocation (and the fixture's)
    assert "options that differ from the defaults:\n  mask.vstd: 50.0" in log_text
    assert "option mask.vstd: 100.0 (default) -> 50.0" in log_text  # the warning, in the file too
    assert "step mask (1-5): up to date, skipped" in log_text  # INFO lines, though the console shows warnings
    assert not [h for h in logging.getLogger().handlers if getattr(h, "baseFilename", "").endswith(LOG_NAME)]


# ----------------------------------------------------------------------------------- log file
def test_log_file_keeps_console_quiet_and_threads_apart(tmp_path: Path) -> None:
    """INFO reaches the file while a WARNING console shows only warnings; two runs in two threads each
    log only their own records; afterwards no handler, filter or level is left behind."""
    root, kansho = logging.getLogger(), logging.getLogger("kansho")
    console = logging.StreamHandler(io.StringIO())
    root.addHandler(console)
    old_root, old_kansho = root.level, kansho.level
    root.setLevel(logging.WARNING)
    kansho.setLevel(logging.NOTSET)
    handlers_before = list(root.handlers)
    try:
        def one(name: str) -> None:
            (tmp_path / name).mkdir()
            with run_log(tmp_path / name, RunConfig(), None, None, False):
                for i in range(20):
                    logging.getLogger("kansho.test").info("info %s %d", name, i)
                logging.getLogger("kansho.test").warning("warning %s", name)

        threads = [threading.Thread(target=one, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        shown = console.stream.getvalue()  # type: ignore[attr-defined]
        assert "info a" not in shown and "warning a" in shown and "warning b" in shown
        for mine, other in (("a", "b"), ("b", "a")):
            text = (tmp_path / mine / LOG_NAME).read_text()
            assert text.count(f"info {mine} ") == 20 and f"warning {mine}" in text
            assert f" {other} " not in text
            assert "run finished" in text
        assert root.handlers == handlers_before and not console.filters
        assert kansho.level == logging.NOTSET
    finally:
        root.removeHandler(console)
        root.setLevel(old_root)
        kansho.setLevel(old_kansho)


def test_log_records_a_failure_and_a_first_failed_run_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RuntimeError), run_log(out, RunConfig(), None, None, False):
        raise RuntimeError("boom")
    assert "ERROR   kansho: run stopped: RuntimeError: boom" in (out / LOG_NAME).read_text()
    missing = tmp_path / "new" / "out"
    with pytest.raises(InputError):
        run_timeseries(tmp_path / "no_input", missing, progress=False)
    assert not (tmp_path / "new").exists()  # nothing created is left, the log included


# ----------------------------------------------------------------------------------- kansho info
def test_info_on_a_finished_run(small_run: FinishedRun, capsys: pytest.CaptureFixture[str]) -> None:
    state_before = (small_run.out / "work" / "state.json").read_bytes()
    log_before = (small_run.out / LOG_NAME).read_bytes()
    text = _info(capsys, small_run.out)
    assert "status: finished" in text
    assert f"Input: {small_run.input.resolve()}" in text
    for step in ("ingest   0-2", "qc       1-1", "loops    1-2", "invert   1-3", "outputs  out"):
        line = next(ln for ln in text.splitlines() if ln.strip().startswith(step))
        assert f"  {versions()['kansho']}" in line and "not finished" not in line
    loops = next(ln for ln in text.splitlines() if ln.strip().startswith("loops    1-2"))
    assert loops.rstrip().endswith(" s)") and "1-2 " in loops.split(versions()["kansho"], 1)[1]  # its longest pass
    for pkg in ("numpy", "scipy", "numba", "h5py", "zarr"):
        assert f"{pkg} {versions()[pkg]}" in text
    assert "Would run again now (same options, input checked):\n  nothing: every step is up to date" in text
    assert "none: every option read has its default value" in text
    assert "with no options would also run again" not in text
    assert (small_run.out / "work" / "state.json").read_bytes() == state_before  # it ran nothing
    assert (small_run.out / LOG_NAME).read_bytes() == log_before


def test_info_on_a_changed_partial_run(small_run: FinishedRun, copy_run: Callable[..., Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A step record removed (interrupted), an array deleted, the input changed, an option given, a version
    changed: each is named with the step it concerns."""
    out = copy_run(small_run)

    def edit(state: dict) -> None:
        del state["filter"]
        state["ingest"]["fingerprint"] = "0" * 16
        state["mask"]["reads"]["mask.vstd"] = 50.0
        state["invert"]["versions"]["numpy"] = "1.0.0"

    _edit_state(out, edit)
    import shutil

    shutil.rmtree(out / "work" / "ts.zarr" / "vstd")
    tasks = out / "work" / "tasks" / "filter-0123456789abcdef-b256"  # what an interrupted step leaves
    tasks.mkdir(parents=True)
    for k in range(3):
        (tasks / f"1_6_filter-abc-{k}_0.pkl").write_bytes(b"x")
    text = _info(capsys, out)
    assert "status: partial: 7 of 8 steps finished" in text
    assert "  filter   1-6     not finished (interrupted: 3 finished block/epoch tasks kept" in text
    assert "ingest (0-2): the input files changed" in text
    assert "vstd (1-4): its array vstd is missing" in text
    assert "filter (1-6): it has not finished in this folder" in text
    assert ("qc (1-1), loops (1-2), invert (1-3), mask (1-5), outputs (out): because step ingest before them "
            "runs again") in text
    assert "mask.vstd: 50.0 (read by mask) / 100.0 (read by" in text
    assert f"numpy 1.0.0 -> {versions()['numpy']} (steps invert)" in text
    assert "`kansho ts -o OUT` with no options would also run again" not in text  # everything runs again anyway

    out2 = copy_run(small_run, "run2")
    _edit_state(out2, lambda s: s["mask"]["reads"].update({"mask.vstd": 50.0}))
    text = _info(capsys, out2)
    assert "nothing: every step is up to date" not in text  # mask's key no longer matches its record
    out3 = copy_run(small_run, "run3")

    def given(state: dict) -> None:  # a record as a run with --mask-vstd 50 leaves it (hash included)
        from kansho.chain.options import skip_key

        rec = state["mask"]
        rec["reads"].update({"mask.vstd": 50.0})
        rec["hash"] = skip_key("mask", rec["reads"], state["vstd"]["hash"])
        for nxt, before in (("filter", "mask"), ("outputs", "filter")):
            state[nxt]["hash"] = skip_key(nxt, state[nxt]["reads"], state[before]["hash"])

    _edit_state(out3, given)
    text = _info(capsys, out3)
    assert "nothing: every step is up to date" in text
    assert ("`kansho ts -o OUT` with no options would also run again (options not given take their default "
            f"value): {STEPS_AFTER_MASK}") in text
    assert "mask.vstd: 50.0 -> 100.0 (default)" in text


def test_info_refuses_what_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    rc = main(["info", str(tmp_path / "empty")])
    one_error_line(rc, capsys.readouterr().err, str(tmp_path / "empty"), "not a Kansho run folder")
    (tmp_path / "file.txt").write_text("x")
    rc = main(["info", str(tmp_path / "file.txt")])
    one_error_line(rc, capsys.readouterr().err, "file.txt", "not a folder")
    bad = tmp_path / "bad"
    (bad / "work").mkdir(parents=True)
    (bad / "work" / "state.json").write_text("{not json")
    rc = main(["info", str(bad)])
    one_error_line(rc, capsys.readouterr().err, "state.json", "unreadable")


def test_info_text_of_a_run_without_new_records(small_run: FinishedRun, copy_run: Callable[..., Path]) -> None:
    """A run recorded by an older kansho (no times, versions or input folder): said so, nothing invented."""
    out = copy_run(small_run)

    def strip(state: dict) -> None:
        for rec in state.values():
            rec.pop("finished", None)
            rec.pop("versions", None)
        state["ingest"].pop("input", None)

    _edit_state(out, strip)
    text = run_info(out)
    assert "Versions: not recorded" in text
    assert "input not checked: the run did not record its input folder" in text
    assert "not recorded" in next(ln for ln in text.splitlines() if ln.strip().startswith("ingest"))


def test_interrupted_run_info_log_and_quiet_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture, no_figures: None) -> None:
    """A run interrupted in step 1-3: info says which steps finished and that the rest would run; the log
    ends with the interruption; resuming with the same options reports no change."""
    import dataclasses

    from kansho.chain import registry
    from kansho.synth import SimConfig, simulate_frame

    simulate_frame(tmp_path / "sim", SimConfig(shape=(16, 16), n_epoch=8), rng=0)
    out = tmp_path / "ts"

    def interrupt(ctx: object) -> None:
        raise KeyboardInterrupt

    steps = tuple(dataclasses.replace(s, run=interrupt) if s.name == "invert" else s for s in registry.STEPS)
    with monkeypatch.context() as mp:
        mp.setattr(registry, "STEPS", steps)
        with pytest.raises(KeyboardInterrupt):
            run_timeseries(tmp_path / "sim" / "GEOC", out, progress=False)
    text = run_info(out)
    assert "status: partial: 3 of 8 steps finished" in text
    assert ("invert (1-3), vstd (1-4), mask (1-5), filter (1-6), outputs (out): it has not finished in this "
            "folder") in text
    assert "ingest (0-2)" not in text.split("Would run again now")[1]
    assert "run stopped: KeyboardInterrupt" in (out / LOG_NAME).read_text()
    caplog.set_level(logging.WARNING)
    run_timeseries(tmp_path / "sim" / "GEOC", out, progress=False)
    assert not [r for r in caplog.records if "differs from the last run" in r.getMessage()]
    assert "nothing: every step is up to date" in run_info(out)
