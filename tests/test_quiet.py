"""``-q`` lets only warnings and errors reach stderr, dask's loggers and worker processes included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import kansho
from kansho.synth import SimConfig, simulate_frame

SRC = str(Path(kansho.__file__).resolve().parents[1])
RUN = "import sys; from kansho.cli import main; sys.exit(main(sys.argv[1:]))"


def _kansho(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", RUN, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow  # starts a local dask cluster in a subprocess (~15 s)
def test_quiet_run_with_workers_prints_no_info(tmp_path: Path) -> None:
    simulate_frame(tmp_path / "frame", SimConfig(shape=(32, 32), n_epoch=10), rng=1)
    res = _kansho(["-q", "ts", str(tmp_path / "frame"), "-o", str(tmp_path / "out"), "--workers", "2"], tmp_path)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    assert not [ln for ln in lines if " INFO " in ln or "distributed." in ln], res.stderr
    assert (tmp_path / "out").is_dir()


LOG_SCRIPT = """
import logging, sys
from kansho.cli import _setup_logging
_setup_logging(int(sys.argv[1]), sys.argv[2] == "q")
import distributed  # resets its logger to INFO on import
for name in ("distributed.scheduler", "dask", "kansho.x"):
    logging.getLogger(name).info("info-from %s", name)
    logging.getLogger(name).warning("warning-from %s", name)
"""


@pytest.mark.parametrize(("verbose", "quiet", "dask_info", "kansho_info"),
                         [(0, True, False, False), (0, False, False, True), (1, False, True, True)])
def test_dask_info_only_with_verbose(tmp_path: Path, verbose: int, quiet: bool, dask_info: bool,
                                     kansho_info: bool) -> None:
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-c", LOG_SCRIPT, str(verbose), "q" if quiet else "-"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    err = res.stderr
    assert ("info-from distributed.scheduler" in err) is dask_info, err
    assert ("info-from dask" in err) is dask_info, err
    assert ("info-from kansho.x" in err) is kansho_info, err
    for name in ("distributed.scheduler", "dask", "kansho.x"):
        assert f"warning-from {name}" in err, err
