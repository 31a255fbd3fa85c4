"""The batch-scheduler path (no SLURM here): the job scripts dask-jobqueue generates for SLURM and PBS,
and the batch/catalog/mosaic commands end to end. dask-jobqueue is optional:
the cluster tests are skipped without it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kansho.batch.runner import DONE
from kansho.cli import main
from kansho.synth import SimConfig, simulate_frame

SIM = {"shape": (40, 40), "n_epoch": 12, "interval_days": 36, "n_unw_errors": 0, "gap": False, "n_missing": 0,
       "n_long_pairs": 1, "n_dropped_pairs": 0}


@pytest.mark.parametrize("kind", ["slurm", "pbs"])
def test_job_script_content(kind: str) -> None:
    pytest.importorskip("dask_jobqueue", reason="optional: pip install dask-jobqueue")
    from kansho.batch.slurm import make_cluster

    c = make_cluster(kind, cores=4, memory="24GB", walltime="03:00:00", queue="par-single",
                     account="nceo_geohazards", jobs=0, job_extra=["--qos=high"] if kind == "slurm" else [])
    try:
        script = c.job_script()
        assert c.scheduler_address in script and "--nworkers 4" in script and "--nthreads 1" in script
        for var in ("OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "MKL_NUM_THREADS=1"):
            assert f"export {var}" in script  # BLAS pinned: 4 single-threaded frames use 4 cores
        # 24 GB shared by 4 workers: each gets ~6 GB (dask-jobqueue writes it in GiB)
        mem = float(script.split("--memory-limit ")[1].split("GiB")[0])
        assert 5.0 < mem < 6.1
        if kind == "slurm":
            for line in ("#SBATCH -p par-single", "#SBATCH -A nceo_geohazards", "#SBATCH --cpus-per-task=4",
                         "#SBATCH -t 03:00:00", "#SBATCH --qos=high", "#SBATCH --mem="):
                assert line in script, line
        else:
            for line in ("#PBS -q par-single", "#PBS -A nceo_geohazards", "ncpus=4", "#PBS -l walltime=03:00:00"):
                assert line in script, line
        assert len(c.workers) == 0  # jobs=0: nothing submitted
    finally:
        c.close()


def test_interface_and_worker_env_in_job_script() -> None:
    pytest.importorskip("dask_jobqueue", reason="optional: pip install dask-jobqueue")
    import base64

    from kansho.batch.slurm import make_cluster

    c = make_cluster("slurm", cores=2, memory="4GB", jobs=0, interface="lo")
    try:
        script = c.job_script()
        # the scheduler listens on the chosen interface, and the workers are told to use theirs
        assert c.scheduler_address.startswith("tcp://127.0.0.1:") and "--interface lo" in script
        # BLAS pinned and numpy's arrays in small pages (kansho.parallel.worker_env)
        assert "export OMP_NUM_THREADS=1" in script.splitlines()
        lines = script.splitlines()
        assert ("export NUMPY_MADVISE_HUGEPAGE=0" in lines) is ("NUMPY_MADVISE_HUGEPAGE" not in os.environ)
        # the job's nannies unset dask's MALLOC_TRIM_THRESHOLD_ (a dask config passed to the job)
        line = next(x for x in script.splitlines() if x.startswith("export DASK_INTERNAL_INHERIT_CONFIG="))
        blob = base64.urlsafe_b64decode(line.split("=", 1)[1].encode()).decode()
        assert json.loads(blob) == {"distributed": {"nanny": {"pre-spawn-environ": {"MALLOC_TRIM_THRESHOLD_": None}}}}
    finally:
        c.close()


def test_bad_cluster_options_are_one_line_errors() -> None:
    from kansho.batch.slurm import make_cluster
    from kansho.errors import ConfigError

    with pytest.raises(ConfigError, match="--memory"):
        make_cluster("slurm", memory="lots")
    with pytest.raises(ConfigError, match="cores"):
        make_cluster("slurm", cores=0)


@pytest.mark.slow  # default suite under 5 min: an end-to-end path other default tests cover in parts
def test_commands_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    simulate_frame(tmp_path / "a", SimConfig(**SIM), rng=8)
    (tmp_path / "frames.csv").write_text("id,source,start,end\na,a/GEOC,,\nmissing,a/GEOC,2030-01-01,\n")
    rc = main(["batch", str(tmp_path / "frames.csv"), "-o", str(tmp_path / "ROOT"), "--retries", "0"])
    out = capsys.readouterr().out
    assert rc == 1 and "1 done" in out and "1 failed" in out and "FAILED missing" in out
    assert (tmp_path / "ROOT" / "index.html").is_file()  # written at the end of the batch
    summary = json.loads((tmp_path / "ROOT" / "status.json").read_text())
    assert summary["frames"]["a"]["state"] == DONE and "no interferogram pairs" in summary["frames"]["missing"]["error"]
    (tmp_path / "ROOT" / "index.html").unlink()
    assert main(["catalog", str(tmp_path / "ROOT")]) == 0 and (tmp_path / "ROOT" / "index.html").is_file()
    assert main(["catalog", str(tmp_path)]) == 2  # not a batch root: one-line error
    assert "not a batch root" in capsys.readouterr().err
    # a second run: the done frame is skipped
    rc = main(["batch", str(tmp_path / "frames.csv"), "-o", str(tmp_path / "ROOT"), "--retries", "0"])
    assert "1 up to date" in capsys.readouterr().out
    assert main(["mosaic", str(tmp_path / "ROOT"), "-o", str(tmp_path / "m")]) == 2  # one frame only
    assert "at least two frames" in capsys.readouterr().err
