"""The ``kansho`` command ends as soon as its work is done (:func:`kansho.cli.run` skips the interpreter's
teardown): what it printed arrives whole through a pipe, its exit status is main's, an error is still one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kansho.cli import main


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kansho.cli", *args], capture_output=True, text=True, timeout=300)


def test_output_through_a_pipe_is_whole(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config"]) == 0
    expected = capsys.readouterr().out
    got = _cli("config")
    assert got.returncode == 0
    assert len(expected) > 1000 and got.stdout == expected


def test_an_error_keeps_its_status_and_one_line(tmp_path: Path) -> None:
    got = _cli("ts", str(tmp_path / "missing"), "-o", str(tmp_path / "run"))
    assert got.returncode == 2
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kansho: error:") and "missing" in lines[0]


def test_a_file_written_by_the_command_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "options.yaml"
    got = _cli("config", "-o", str(out))
    assert got.returncode == 0, got.stderr
    main(["config", "-o", str(tmp_path / "here.yaml")])
    assert out.read_text() == (tmp_path / "here.yaml").read_text() != ""
