"""Simulator features of the accuracy harness: paired unwrapping errors and small patches in
chosen pairs. Left at their defaults they change nothing (every other pair's files stay
byte-identical; the demo frame is held by tests/test_golden.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from kansho.io.geotiff import read_raster
from kansho.synth import SimConfig, simulate_frame

BASE = SimConfig(shape=(48, 48), n_epoch=14, interval_days=24, gap=False, n_unw_errors=1, local_unw_errors=0.0)


def _digests(geoc: Path) -> dict[str, str]:
    return {p.parent.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in geoc.glob("*/*.geo.unw.tif")}


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("synth_harness")
    base = simulate_frame(d / "base", BASE, rng=4)
    more = simulate_frame(d / "more", BASE.model_copy(update={"paired_unw_errors": 2, "small_err_pairs": 2,
                                                              "small_err_patches": 3}), rng=4)
    return {"dir": d, "base": base, "more": more}


def test_paired_errors_share_first_epoch_k_and_region(frames: dict[str, object]) -> None:
    base, more = frames["base"], frames["more"]
    names = [f"{a}_{b}" for a, b in more.unw_error_pairs]  # type: ignore[attr-defined]
    assert len(names) == len(base.unw_error_pairs) + 4  # type: ignore[attr-defined]
    new = np.arange(len(base.unw_error_pairs), len(names))  # type: ignore[attr-defined]
    for m in new[::2]:
        (a1, b1), (a2, b2) = more.unw_error_pairs[m], more.unw_error_pairs[m + 1]  # type: ignore[attr-defined]
        assert a1 == a2 and b1 < b2  # same first epoch
        assert more.unw_error_k[m] == more.unw_error_k[m + 1] != 0  # type: ignore[attr-defined]
        r1, r2 = more.unw_error_masks[m], more.unw_error_masks[m + 1]  # type: ignore[attr-defined]
        assert r2.sum() > 0.5 * r1.sum() and not (r2 & ~r1).any()  # the lead's region (where valid)
        # the loop (a, b1) + (b1, b2) - (a, b2) closes in the region although both pairs are wrong
        i1, i2 = more.pair_index(a1, b1), more.pair_index(a2, b2)  # type: ignore[attr-defined]
        e1 = more.model_phase(i1) - more.model_phase(i1, errors=False)  # type: ignore[attr-defined]
        e2 = more.model_phase(i2) - more.model_phase(i2, errors=False)  # type: ignore[attr-defined]
        both = r1 & r2
        assert np.allclose(e1[both], e2[both], atol=1e-4) and np.abs(e1[both]).min() > 6.0


def test_small_patches_in_chosen_pairs_are_written(frames: dict[str, object]) -> None:
    base, more, d = frames["base"], frames["more"], frames["dir"]
    extra = set(np.unique(more.local_err_pair)) - set(np.unique(base.local_err_pair))  # type: ignore[attr-defined]
    assert len(extra) == 2
    for p in extra:
        a, b = more.pairs[p]  # type: ignore[attr-defined]
        unw = read_raster(Path(str(d)) / "more" / "GEOC" / f"{a}_{b}" / f"{a}_{b}.geo.unw.tif")
        pix = more.local_err_pixel[more.local_err_pair == p]  # type: ignore[attr-defined]
        k = more.local_err_k[more.local_err_pair == p]  # type: ignore[attr-defined]
        assert np.isin(k, [-1, 1]).all() and pix.size >= 3
        clean = more.model_phase(int(p), errors=False).ravel()[pix]  # type: ignore[attr-defined]
        got = np.asarray(unw, np.float64).ravel()[pix]
        # the written phase is the clean model + 2πk (+ phase noise of a few tenths of a radian)
        assert np.median(np.abs(got - clean - 2 * np.pi * k)) < 1.0


def test_pairs_not_chosen_are_byte_identical(frames: dict[str, object]) -> None:
    d = Path(str(frames["dir"]))
    more = frames["more"]
    a, b = _digests(d / "base" / "GEOC"), _digests(d / "more" / "GEOC")
    touched = {f"{x}_{y}" for x, y in more.unw_error_pairs}  # type: ignore[attr-defined]
    touched |= {f"{x}_{y}" for x, y in more.pairs[np.unique(more.local_err_pair)]}  # type: ignore[attr-defined]
    assert set(a) == set(b)
    changed = {n for n in a if a[n] != b[n]}
    assert changed and changed <= touched
