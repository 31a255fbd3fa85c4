"""The chain's registry and skip keys: a new step is one module plus one registry entry; a step
re-runs when any option it read changes (whatever its section) and only then; the work arrays a
run leaves are the ones the steps declare."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests import chain_example_step

from kansho import run_timeseries
from kansho._dates import years_since_first
from kansho.chain import registry
from kansho.config import RunConfig
from kansho.io.geotiff import read_raster
from kansho.synth import SimConfig, simulate_frame

#: these tests check the registry, the skip keys and the work arrays, never a figure: their ten chain runs draw
#: none (the figures took ~4 s of each run's ~5 s on the 48 x 48 px frame; they have tests of their own)
pytestmark = pytest.mark.usefixtures("no_figures")


@pytest.fixture(scope="module")
def geoc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small frame with a network gap, long pairs (in no loop) and unwrapping errors."""
    root = tmp_path_factory.mktemp("chainframe")
    cfg = SimConfig(shape=(48, 48), n_epoch=16, interval_days=24, n_long_pairs=4, pairs_per_epoch=2)
    simulate_frame(root, cfg, rng=3)
    return root / "GEOC"


def _cfg() -> RunConfig:
    """Defaults, but maxTlen 0.3 yr: no pixel of a 1-yr series split by a gap spans the default 1 yr."""
    cfg = RunConfig()
    cfg.mask.maxTlen = 0.3
    return cfg


def _state(out: Path) -> dict:
    return json.loads((out / "work" / "state.json").read_text())


def test_new_step_is_one_module_and_one_registry_entry(geoc: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    steps = list(registry.STEPS)
    steps.insert([s.name for s in steps].index("mask") + 1, chain_example_step.SPEC)
    monkeypatch.setattr(registry, "STEPS", tuple(steps))
    out = tmp_path / "run"
    run = run_timeseries(geoc, out, _cfg(), progress=False)
    res = run.result("velstats")
    assert isinstance(res, chain_example_step.VelStatsResult)
    vel, mask = read_raster(out / "results" / "vel.tif"), read_raster(out / "results" / "mask.tif")
    kept = vel[(mask == 1) & np.isfinite(vel)]
    assert res.n_kept == kept.size > 0
    np.testing.assert_allclose([res.p05, res.p50, res.p95], np.percentile(kept, [5, 50, 95]), rtol=1e-6)
    assert "p50" in (out / "info" / "15vel_stats.txt").read_text()
    assert _state(out)["velstats"]["reads"] == {"mask.vstd": 100.0}
    # up to date: skipped; an option it reads changes: it runs again (after the mask step it follows)
    again = run_timeseries(geoc, out, _cfg(), progress=False)
    assert again.timings["velstats"] == 0.0 and again.timings["mask"] == 0.0
    cfg = _cfg()
    cfg.mask.vstd = 50.0
    third = run_timeseries(geoc, out, cfg, progress=False)
    assert third.timings["invert"] == 0.0
    assert third.timings["mask"] > 0.0 and third.timings["velstats"] > 0.0
    assert "vstd <= 50.0" in (out / "info" / "15vel_stats.txt").read_text()
    # --steps reaches it by name
    only = run_timeseries(None, out, cfg, steps=["velstats"], force=True, progress=False)
    assert only.timings == {"velstats": only.timings["velstats"]}


def test_skip_key_follows_every_option_a_step_reads(geoc: Path, tmp_path: Path) -> None:
    """The loop step reads invert.gamma for its no-loop check: changing gamma re-runs it."""
    out = tmp_path / "run"
    run_timeseries(geoc, out, _cfg(), progress=False)
    reads = _state(out)["loops"]["reads"]
    assert reads["invert.gamma"] == 1e-4 and "loops.loop_rms_threshold" in reads
    assert not any(k in reads for k in ("workers", "block_size", "memory_limit")), "execution options never count"
    cfg = _cfg()
    cfg.invert.gamma = 1e-2
    run = run_timeseries(geoc, out, cfg, progress=False)
    assert run.timings["ingest"] == 0.0 and run.timings["qc"] == 0.0
    assert run.timings["loops"] > 0.0
    assert _state(out)["loops"]["reads"]["invert.gamma"] == 1e-2
    # execution options change nothing: every step is up to date
    cfg.block_size = 32
    cfg.memory_limit = "3GB"
    same = run_timeseries(geoc, out, cfg, progress=False)
    assert all(v == 0.0 for v in same.timings.values()), same.timings


def test_work_arrays_are_the_declared_outputs(geoc: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    cfg = _cfg()
    cfg.invert.model = "annual"
    run = run_timeseries(geoc, out, cfg, progress=False)
    declared = {a for s in registry.STEPS for a in s.outputs}
    left = set(run.work.array_keys())
    assert left <= declared, left - declared
    for s in registry.STEPS:  # every step's declared inputs are some step's outputs
        assert set(s.inputs) <= declared, (s.name, set(s.inputs) - declared)


@pytest.mark.parametrize("deramp,hgt_corr,order", [(0, False, 0), (2, True, 1)])
def test_chain_filter_is_the_tested_filter(geoc: Path, tmp_path: Path, deramp: int, hgt_corr: bool,
                                           order: int) -> None:
    """Step 1-6's blocked passes give exactly what kansho.filters.spatiotemporal_filter (whose parts
    test_filters.py holds to closed forms) gives in memory on the same cube: one implementation."""
    from kansho.filters import spatiotemporal_filter

    cfg = _cfg()
    cfg.filter.method = "gaussian"
    cfg.filter.deramp = deramp
    cfg.filter.hgt_corr = hgt_corr
    cfg.filter.temporal_order = order
    run = run_timeseries(geoc, tmp_path / "run", cfg, progress=False)
    lres, fres = run.result("loops"), run.result("filter")
    st = run.stack
    dx, dy = st.grid.pixel_size_km()
    t = years_since_first(lres.epochs)
    res = spatiotemporal_filter(np.asarray(run.array("cum")[:]), t, pixel_km=(dx, dy), sigma_km=fres.sigma_km,
                                sigma_yr=fres.sigma_yr, deramp=fres.deramp,
                                hgt=st.read2d("hgt") if hgt_corr else None, mask=run.read2d("mask") == 1,
                                ref_window=run.read2d("refmask") == 1, temporal_order=order)
    np.testing.assert_array_equal(np.asarray(run.array("cum_filt")[:]), res.cum_filt)


def test_user_ref_in_lonlat_that_is_not_finite_is_a_clear_error() -> None:
    """'1e999' parses as a number (inf): the options refuse it with a ConfigError naming the option (not an
    OverflowError), before any step runs."""
    from kansho.config import load_config
    from kansho.errors import ConfigError

    with pytest.raises(ConfigError, match=r"option loops\.ref: .*not a finite number"):
        load_config(None, {"loops.ref": "1e999/1e999/36.0/36.01"})


def test_a_step_is_prepared_ahead(geoc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step's ``prepare`` runs as the step PREPARE_AHEAD places before it begins (what it returns reaches the
    step in ``ctx.prepared``); one that fails leaves the step to run without it; a step not wanted is not prepared."""
    import contextlib
    import dataclasses

    from kansho.chain.spec import PREPARE_AHEAD

    calls: list[tuple[str, ...]] = []
    seen: list[object] = []

    def prepare(ctx: object, exits: contextlib.ExitStack) -> str:
        calls.append(tuple(ctx.results))  # type: ignore[attr-defined]
        if len(calls) > 1:
            raise RuntimeError("no head start this time")
        return "ready"

    def run(ctx: object) -> object:
        seen.append(ctx.prepared.get("velstats"))  # type: ignore[attr-defined]
        return chain_example_step.SPEC.run(ctx)

    spec = dataclasses.replace(chain_example_step.SPEC, prepare=prepare, run=run)
    steps = list(registry.STEPS)
    at = [s.name for s in steps].index("mask") + 1
    steps.insert(at, spec)
    monkeypatch.setattr(registry, "STEPS", tuple(steps))
    out = tmp_path / "run"
    run_timeseries(geoc, out, _cfg(), progress=False)
    assert calls == [tuple(s.name for s in steps[:at - PREPARE_AHEAD])] and seen == ["ready"]
    again = run_timeseries(geoc, out, _cfg(), progress=False, force=True)
    assert len(calls) == 2 and seen == ["ready", None] and again.timings["velstats"] > 0
    run_timeseries(geoc, out, _cfg(), steps=["ingest", "qc", "loops", "invert"], force=True, progress=False)
    assert len(calls) == 2
