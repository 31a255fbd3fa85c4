"""Coherence kept as 8-bit codes in the stack store where the input's is 8-bit (kansho.cohcodes)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp

from kansho import cohcodes
from kansho.io.inputs import discover_inputs
from kansho.store import Stack, create_stack, open_dataset
from kansho.synth import SimConfig, simulate_frame


def test_every_code_decodes_to_the_readers_float_and_encodes_back() -> None:
    codes = np.arange(256, dtype=np.uint8)
    ref = (codes.astype(np.float64) / 255.0).astype(np.float32)  # the reader of an integer coherence file
    ref[0] = np.nan  # 0 = no data
    np.testing.assert_array_equal(cohcodes.decode(codes), ref)
    np.testing.assert_array_equal(cohcodes.encode(ref), codes)
    out = np.full(256, 7, np.uint8)
    assert cohcodes.encode(ref, out=out) is out
    np.testing.assert_array_equal(out, codes)


@settings(max_examples=30, deadline=None)
@given(hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, max_side=9)))
def test_codes_round_trip_through_their_coherence(codes: np.ndarray) -> None:
    c = cohcodes.decode(codes)
    assert c.dtype == np.float32 and c.shape == codes.shape
    assert np.isnan(c[codes == 0]).all() and (c[codes > 0] > 0).all() and (c[codes > 0] <= 1).all()
    np.testing.assert_array_equal(cohcodes.encode(c), codes)


@pytest.fixture(scope="module")
def frame(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("codes")
    simulate_frame(d, SimConfig(shape=(40, 44), n_epoch=10, interval_days=24, gap=False), rng=3)
    return d / "GEOC"


def _as_float(geoc: Path, dst: Path, only: set[str] | None = None) -> Path:
    """A copy of ``geoc`` whose coherence files (those of the pairs ``only``, default all) are float32
    0-1 (code / 255, 0 kept as no data): the values an 8-bit file is read as."""
    shutil.copytree(geoc, dst)
    for f in sorted(dst.glob("*_*/*.cc.tif")):
        if only is not None and f.parent.name not in only:
            continue
        with rasterio.open(f) as src:
            raw, prof = src.read(1), src.profile
        prof.update(dtype="float32", nodata=None)
        with rasterio.open(f, "w", **prof) as out:
            out.write((raw.astype(np.float64) / 255.0).astype(np.float32), 1)
    return dst


def _coh(stack: Stack) -> np.ndarray:
    ny, nx = stack.shape
    return stack.read("coh", slice(0, ny), slice(0, nx))


def test_8bit_coherence_is_kept_as_codes_and_read_as_the_float_files_give(frame: Path, tmp_path: Path) -> None:
    with rasterio.open(next(frame.glob("*_*/*.cc.tif"))) as src:
        assert src.dtypes[0] == "uint8"  # the simulated frame's coherence is LiCSAR's 8-bit
    a = create_stack(discover_inputs(frame), tmp_path / "a", progress=False)
    b = create_stack(discover_inputs(_as_float(frame, tmp_path / "f")), tmp_path / "b", progress=False)
    assert a.group["coh"].dtype == np.uint8 and b.group["coh"].dtype == np.float32
    assert a.group.attrs["kansho_store_version"] == 2
    ca, cb = _coh(a), _coh(b)
    assert ca.dtype == np.float32 and np.isnan(ca).any() and np.isfinite(ca).any()
    np.testing.assert_array_equal(ca, cb)  # bit for bit, NaN where no data
    idx = np.array([1, 4, 7])
    np.testing.assert_array_equal(a.read("coh", slice(3, 20), slice(5, 9), idx), cb[idx, 3:20, 5:9])
    assert a.read("coh", slice(0, 2), slice(0, 2), np.array([], np.intp)).dtype == np.float32
    ds = open_dataset(tmp_path / "a")  # xarray decodes the codes by the array's scale_factor and _FillValue
    np.testing.assert_allclose(np.asarray(ds["coh"].values, np.float64), cb, rtol=0, atol=1e-7)


def test_multilooked_coherence_stays_float(frame: Path, tmp_path: Path) -> None:
    a = create_stack(discover_inputs(frame), tmp_path / "a", nlook=2, progress=False)
    assert a.group["coh"].dtype == np.float32


def _before_last(frame: Path, tmp_path: Path) -> tuple[Path, list[str], set[str]]:
    """A copy of ``frame`` without the pairs of its last acquisition: (its folder, every pair of the
    frame, the last acquisition's pairs)."""
    pairs = sorted(p.name for p in frame.iterdir() if p.is_dir())
    last = max(p.split("_")[1] for p in pairs)
    new = {p for p in pairs if p.split("_")[1] == last}
    live = tmp_path / "GEOC"
    shutil.copytree(frame, live, ignore=lambda d, names: [n for n in names if n in new])
    return live, pairs, new


def test_a_float_coherence_pair_arriving_rebuilds_a_coded_store_in_float(frame: Path, tmp_path: Path) -> None:
    live, pairs, new = _before_last(frame, tmp_path)
    out = tmp_path / "out"
    before = create_stack(discover_inputs(live), out, progress=False)
    assert before.group["coh"].dtype == np.uint8
    shutil.rmtree(live)
    _as_float(frame, live, only=new)  # the new acquisition's coherence comes as float
    after = create_stack(discover_inputs(live), out, progress=False)
    assert after.n_pair == len(pairs) and after.group.attrs["appended_from"] == 0  # rebuilt, not appended
    assert after.group.attrs["reused_pairs"] == len(pairs) - len(new)  # the unchanged pairs copied
    assert after.group["coh"].dtype == np.float32
    full = create_stack(discover_inputs(_as_float(frame, tmp_path / "all_float")), tmp_path / "full", progress=False)
    np.testing.assert_array_equal(_coh(after), _coh(full))


def test_an_8bit_pair_arriving_is_appended_to_a_coded_store(frame: Path, tmp_path: Path) -> None:
    live, pairs, new = _before_last(frame, tmp_path)
    out = tmp_path / "out"
    create_stack(discover_inputs(live), out, progress=False)
    for p in sorted(new):
        shutil.copytree(frame / p, live / p)
    after = create_stack(discover_inputs(live), out, progress=False)
    assert after.group.attrs["appended_from"] == len(pairs) - len(new) and after.group["coh"].dtype == np.uint8
    full = create_stack(discover_inputs(frame), tmp_path / "full", progress=False)
    np.testing.assert_array_equal(_coh(after), _coh(full))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32])
def test_a_coherence_strip_reads_the_same_whatever_its_stored_type(dtype: type, tmp_path: Path) -> None:
    """The store's coherence reader takes 8-bit files through the decode table (no float64 round trip): the
    same float32(code / 255), NaN at 0, as the integer files of other types and their float32 equivalent."""
    from kansho.grid import Grid
    from kansho.io.geotiff import write_geotiff
    from kansho.store import _read_coherence

    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (40, 30)).astype(np.uint8)
    codes[:3] = 0
    values = codes if dtype != np.float32 else (codes / 255.0).astype(np.float32)
    path = write_geotiff(tmp_path / "c.geo.cc.tif", values.astype(dtype), Grid(30, 40, (139.0, 0.001, 0.0, 36.0, 0.0,
                                                                                      -0.001)))
    got = _read_coherence(path, (slice(5, 37), slice(2, 29)))
    want = cohcodes.decode(codes[5:37, 2:29])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)  # NaN where the code is 0, bit-identical elsewhere
