"""Every option of ``kansho ts``: re-running in the same output folder with one option changed gives
exactly the products of a fresh run with that option.

The options are enumerated from :class:`kansho.config.RunConfig` and its step sections, so a new
option is covered automatically: the test of an option without an entry in :data:`CASES` (a test
value) or :data:`SKIPPED` (a reason) fails. Each value is chosen to change the products of the
tiny simulated frame below (asserted, so a value that stops mattering is noticed); the
execution-only options must leave the products unchanged instead.

A stale step shows as a difference between the re-run and the fresh run: the resume logic
(skip-if-done hashes per step) must re-run every step whose inputs the option changes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel
from tests._shared import figures_skipped
from tests.golden.digest import digest_run

from kansho import run_timeseries
from kansho.config import RunConfig, load_config
from kansho.io.geotiff import write_geotiff
from kansho.synth import SimConfig, Truth, simulate_frame
from kansho.synth.gacos import write_gacos

#: 40 x 40 px, 16 epochs 56 days apart with a network gap in the middle (each side spans > 1 yr,
#: so the default maxTlen mask keeps pixels), two unwrapping errors and, with two pairs per epoch,
#: long pairs in no loop (whose error check uses invert.gamma)
FRAME = SimConfig(shape=(40, 40), n_epoch=16, interval_days=56, n_unw_errors=2, pairs_per_epoch=2)


@dataclass
class Scene:
    geoc: Path
    truth: Truth
    gacos: Path  # GACOS delays for every epoch but one
    user: Path  # a user folder of per-epoch delay layers (rad), every epoch but the last
    poly: Path  # GeoJSON triangle over the frame's centre
    default: Path  # a finished default run (read-only: copy it before re-running)
    default_digest: dict[str, Any] = field(default_factory=dict)

    def lonlat_box(self, c0: int, c1: int, r0: int, r1: int) -> str:
        """'lon1/lon2/lat1/lat2' spanning the centres of columns c0..c1 and rows r0..r1."""
        lon, lat = self.truth.grid.lon(), self.truth.grid.lat()
        return f"{lon[c0]:.6f}/{lon[c1]:.6f}/{lat[r1]:.6f}/{lat[r0]:.6f}"


@dataclass(frozen=True)
class Case:
    """A test value of one option; ``base`` are options set in both runs (where the option only
    matters together with another one)."""

    value: Any | Callable[[Scene], Any]
    base: dict[str, Any] = field(default_factory=dict)


#: options whose cases re-run the whole chain twice (or three times), or repeat a path another case
#: covers: in the slow tier, to keep this file within ~70 s of one core; ingest.nlook and
#: ingest.mask_box stay in the default tier for the multilook and the masking/clipping paths of step 0-2
SLOW = {"band", "wavelength", "ingest.min_valid_looks", "ingest.gacos", "ingest.gacos_missing", "ingest.layers",
        "ingest.layers_dir", "ingest.user_layer", "ingest.user_layer_unit", "ingest.layers_missing",
        "ingest.layers_force", "ingest.clip_box",
        # the mask and filter thresholds all re-run the same two steps: mask.coh_avg, mask.adapt and
        # filter.method stay in the default tier for that path, the others run in the slow tier
        "mask.vstd", "mask.n_loop_err", "mask.resid_rms", "mask.n_gap", "mask.stc", "mask.maxTlen",
        "mask.n_ifg_noloop", "mask.n_unchecked", "mask.ph_bias", "mask.n_unw_factor", "filter.sigma_km",
        "filter.temporal_order", "filter.hgt_corr", "filter.deramp", "filter.sigma_yr", "vstd.seed",
        "ingest.clip_lonlat", "ingest.clip_polygon", "ingest.mask_lonlat", "ingest.mask_polygon",
        # the same for the loop, inversion and QC options: loops.ref, loops.pixel_errors, invert.resid_check
        # and qc.min_coh keep each step's re-run path in the default tier (the preset changes several of them)
        "loops.loop_rms_threshold", "loops.noloop_max_frac", "loops.pixel_loop_threshold", "loops.ref_mode",
        "loops.ref_size", "invert.gamma", "invert.min_pairs_factor", "invert.coh_weight", "invert.step_dates",
        "invert.phase_bias", "qc.min_coverage", "invert.model", "preset", "invert.gap_tie", "invert.epoch_weight",
        "loops.spatial_errors"}

#: options that cannot be tested here, with the reason
SKIPPED: dict[str, str] = {
    "workers": "execution only; a run on local worker processes is compared with one in-process by "
               "tests/test_parallel.py (slow tier)",
    "scheduler": "execution only; needs a running dask scheduler",
    "gpu": "execution only; needs CuPy and a CUDA GPU",
}

#: execution-only options: the products must not change
SAME: dict[str, Any] = {
    "block_size": 32,  # 2 x 2 blocks on the 40 x 40 frame instead of one
    "memory_limit": "200MB",
}

CASES: dict[str, Case] = {
    "band": Case("L"),  # L-band thresholds for every option not given
    "wavelength": Case(0.06),  # over the frame's 0.0555 m: every velocity 8 % larger, from ingest on
    # the licsbas preset switches the no-loop residual check off: with gamma 100 it flags two pairs
    "preset": Case("licsbas", base={"invert.gamma": 100.0}),
    "ingest.nlook": Case(2),
    "ingest.min_valid_looks": Case(1.0, base={"ingest.nlook": 2}),
    "ingest.gacos": Case(lambda s: str(s.gacos)),
    "ingest.gacos_missing": Case("keep", base={"ingest.gacos": lambda s: str(s.gacos)}),
    # the layer folders matter only with a layer asked for: the user layer makes the base runs differ
    "ingest.layers": Case("gacos", base={"ingest.layers_dir": lambda s: str(s.gacos.parent),
                                         "ingest.user_layer": lambda s: str(s.user)}),
    "ingest.layers_dir": Case(lambda s: str(s.gacos.parent), base={"ingest.layers": "auto",
                                                                  "ingest.user_layer": lambda s: str(s.user)}),
    "ingest.user_layer": Case(lambda s: str(s.user)),
    "ingest.user_layer_unit": Case("m_los", base={"ingest.user_layer": lambda s: str(s.user)}),
    "ingest.layers_missing": Case("keep", base={"ingest.user_layer": lambda s: str(s.user)}),
    "ingest.layers_force": Case("all", base={"ingest.user_layer": lambda s: str(s.user)}),
    "ingest.clip_box": Case("2:38/4:36"),
    "ingest.clip_lonlat": Case(lambda s: s.lonlat_box(3, 35, 2, 30)),
    "ingest.clip_polygon": Case(lambda s: str(s.poly)),
    "ingest.mask_box": Case("0:12/0:10 30:40/25:40"),
    "ingest.mask_lonlat": Case(lambda s: s.lonlat_box(20, 30, 5, 15)),
    "ingest.mask_polygon": Case(lambda s: str(s.poly)),
    "qc.min_coverage": Case(0.64),
    "qc.min_coh": Case(0.235),
    # on the raw loops: once corrected, the frame's loops all close under 0.3 rad
    "loops.loop_rms_threshold": Case(0.8, base={"loops.pixel_errors": "off"}),
    "loops.pixel_loop_threshold": Case(1.0),
    # with gamma 100 the check flags two pairs in no loop (at the default fraction); at 0.9 it flags none
    "loops.noloop_max_frac": Case(0.9, base={"invert.gamma": 100.0}),
    "loops.ref": Case("18:21/18:21"),
    "loops.ref_size": Case(3, base={"loops.ref_mode": "window"}),
    "loops.ref_mode": Case("window"),
    "loops.pixel_errors": Case("off"),
    "loops.spatial_errors": Case("off"),
    # the check of pairs in no loop (step 1-2) inverts with gamma too: 100 flags two of them
    "invert.gamma": Case(100.0),
    "invert.min_pairs_factor": Case(1.6),
    "invert.model": Case("annual"),
    # with a fixed model the steps are always in it: the bridge after the gap changes
    "invert.step_dates": Case("20191201", base={"invert.model": "linear"}),
    "invert.coh_weight": Case(False),
    "invert.resid_check": Case(False),
    "invert.gap_tie": Case("off"),
    "invert.epoch_weight": Case("off"),
    "invert.phase_bias": Case("correct"),
    "vstd.n_boot": Case(20),
    "vstd.seed": Case(1),
    "mask.coh_avg": Case(0.4),
    "mask.n_unw_factor": Case(1.9),
    "mask.vstd": Case(8.0),
    "mask.maxTlen": Case(1.15),
    "mask.n_gap": Case(0),
    "mask.stc": Case(3.0),
    "mask.n_ifg_noloop": Case(0),
    "mask.n_unchecked": Case(2),
    "mask.n_loop_err": Case(0),
    "mask.resid_rms": Case(0.8),
    "mask.ph_bias": Case(0.1),
    "mask.adapt": Case("off"),
    "filter.method": Case("gaussian"),
    # the fixed spatial width and the high-pass order are those of LiCSBAS's filter (method gaussian)
    "filter.sigma_km": Case(0.5, base={"filter.method": "gaussian"}),
    "filter.sigma_yr": Case(0.4),
    "filter.deramp": Case(1),
    "filter.hgt_corr": Case(True),
    "filter.temporal_order": Case(1, base={"filter.method": "gaussian"}),
}


def all_options() -> list[str]:
    """Dotted names of every option of a run: top-level fields and each step section's fields."""
    names = []
    for name, f in RunConfig.model_fields.items():
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names += [f"{name}.{sub}" for sub in ann.model_fields]
        else:
            names.append(name)
    return names


def _resolve(v: Any, scene: Scene) -> Any:
    return v(scene) if callable(v) else v


def _config(scene: Scene, overrides: dict[str, Any]) -> RunConfig:
    """The config ``kansho ts`` builds from these command-line options."""
    return load_config(None, {k: _resolve(v, scene) for k, v in overrides.items()})


def _run(scene: Scene, out: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    run_timeseries(scene.geoc, out, _config(scene, overrides), progress=False)
    return digest_run(out)


#: the record of the run's options: differs whenever an option does
PARAMETERS = "info/parameters.yaml"


def _diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The products that differ between two digests (for a readable failure)."""
    keys = sorted(set(a) | set(b))
    return [k for k in keys if a.get(k, {}).get("sha256") != b.get(k, {}).get("sha256")]


def _effect(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The products other than the record of the options that differ between two digests."""
    return [k for k in _diff(a, b) if k != PARAMETERS]


@pytest.fixture(scope="module", autouse=True)
def _no_figures() -> Iterator[None]:
    """Figures and the HTML report are not products held by the digest and take most of a run's
    time on this frame: they are not drawn here."""
    with figures_skipped():
        yield


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, _no_figures: None) -> Scene:
    d = tmp_path_factory.mktemp("options")
    truth = simulate_frame(d / "sim", FRAME, rng=3)
    gacos = write_gacos(truth, d / "GACOS", missing=[int(truth.epochs[5])], rng=1)
    lon, lat = truth.grid.lon(), truth.grid.lat()
    tri = [[lon[8], lat[6]], [lon[32], lat[6]], [lon[20], lat[34]], [lon[8], lat[6]]]
    poly = d / "tri.geojson"
    poly.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [tri]}}]}))
    user = d / "USER"
    user.mkdir()
    for i, e in enumerate(truth.epochs[:-1]):
        write_geotiff(user / f"{e}.delay.tif", (truth.atmosphere[i] * truth.mm_to_rad).astype(np.float32), truth.grid)
    s = Scene(geoc=d / "sim" / "GEOC", truth=truth, gacos=gacos, user=user, poly=poly, default=d / "default")
    s.default_digest = _run(s, s.default, {})
    return s


def test_every_option_has_a_test_value() -> None:
    opts = set(all_options())
    missing = opts - set(CASES) - set(SAME) - set(SKIPPED)
    assert not missing, f"options without a test value in tests/test_options_rerun.py: {sorted(missing)}"
    assert not (set(CASES) | set(SAME) | set(SKIPPED) | SLOW) - opts, "test values of options that do not exist"


def _params() -> list[Any]:
    return [pytest.param(o, marks=pytest.mark.slow) if o in SLOW else o for o in all_options()]


@pytest.mark.parametrize("option", _params())
def test_rerun_with_a_changed_option_equals_a_fresh_run(option: str, scene: Scene, tmp_path: Path) -> None:
    if option in SKIPPED:
        pytest.skip(SKIPPED[option])
    if option in SAME:
        _check_execution_option(option, SAME[option], scene, tmp_path)
        return
    assert option in CASES, f"no test value for option {option}: add it to CASES (or SKIPPED with a reason)"
    case = CASES[option]
    out = tmp_path / "rerun"
    if case.base:  # the option matters only with another one: a run with that one first
        before = _run(scene, out, case.base)
        assert _effect(before, scene.default_digest), f"base options {case.base} do not change the products"
    else:
        shutil.copytree(scene.default, out)
        before = scene.default_digest
    changed = {**case.base, option: case.value}
    fresh = _run(scene, tmp_path / "fresh", changed)
    assert _effect(fresh, before), f"{option}={_resolve(case.value, scene)!r} does not change the products: " \
                                   "choose a test value that does"
    rerun = _run(scene, out, changed)
    bad = _diff(rerun, fresh)
    assert not bad, f"re-run with {option} changed differs from a fresh run in: {bad}"


def _check_execution_option(option: str, value: Any, scene: Scene, tmp_path: Path) -> None:
    """Neither a re-run nor a fresh run with ``option`` changed changes a product (only the record
    of the options, :data:`PARAMETERS`, may change)."""
    out = tmp_path / "rerun"
    shutil.copytree(scene.default, out)
    rerun = _run(scene, out, {option: value})
    assert not _effect(rerun, scene.default_digest), f"{option} changed the products of a re-run"
    fresh = _run(scene, tmp_path / "fresh", {option: value})
    bad = _effect(fresh, scene.default_digest)
    assert not bad, f"{option}={value!r} changed the products: {bad}"
