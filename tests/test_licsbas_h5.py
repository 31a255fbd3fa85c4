"""LiCSBAS-compatible cum.h5: keys, shapes, dtypes, conventions and round trip."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from kansho.errors import InputError
from kansho.grid import Grid
from kansho.io.licsbas_h5 import (
    format_refarea,
    parse_refarea,
    read_cum_h5,
    write_cum_h5,
)

GRID = Grid(5, 4, (-99.2, 0.001, 0.0, 19.45, 0.0, -0.002))
DATES = np.array([20180106, 20180130, 20180223, 20180307])


def _inputs(rng: np.random.Generator) -> dict[str, object]:
    n, (ny, nx) = DATES.size, GRID.shape
    cum = rng.normal(size=(n, ny, nx)).astype(np.float64)
    cum[0] = 0.0
    cum[:, 0, 0] = np.nan
    gap = np.zeros((n - 1, ny, nx), dtype=bool)
    gap[1, 2, 3] = True
    mask = np.ones((ny, nx), dtype=np.float32)
    mask[3, 4] = 0
    mask[0, 0] = np.nan
    return {
        "cum": cum,
        "imdates": DATES,
        "vel": rng.normal(size=(ny, nx)),
        "vintercept": rng.normal(size=(ny, nx)),
        "refarea": (1, 3, 2, 4),
        "grid": GRID,
        "gap": gap,
        "bperp": [0.0, 35.5, -12.25, 80.0],
        "mask": mask,
    }


def test_write_layout_matches_licsbas(tmp_path: Path) -> None:
    args = _inputs(np.random.default_rng(0))
    extra = {"coh_avg": np.full(GRID.shape, 0.5), "filtwidth_km": 2.0}
    out = write_cum_h5(tmp_path / "TS" / "cum.h5", **args, extra=extra)  # type: ignore[arg-type]
    assert out == tmp_path / "TS" / "cum.h5"
    assert not list(out.parent.glob(".*tmp"))
    with h5py.File(out, "r") as f:
        assert set(f.keys()) == {
            "cum", "imdates", "vel", "vintercept", "gap", "bperp", "refarea",
            "corner_lat", "corner_lon", "post_lat", "post_lon", "mask", "coh_avg", "filtwidth_km",
        }  # fmt: skip
        assert f["cum"].shape == (4, 4, 5) and f["cum"].dtype == np.float32
        assert f["imdates"].dtype == np.int32 and f["imdates"][()].tolist() == DATES.tolist()
        assert f["vel"].shape == (4, 5) and f["vel"].dtype == np.float32
        assert f["vintercept"].dtype == np.float32
        assert f["gap"].shape == (3, 4, 5) and f["gap"].dtype == np.int8 and f["gap"][1, 2, 3] == 1
        assert f["bperp"].dtype == np.float64 and f["bperp"].shape == (4,)
        assert f["mask"].dtype == np.float32
        assert f["coh_avg"].dtype == np.float32
        # refarea: LiCSBAS string "x1:x2/y1:y2", columns first, end-exclusive
        ref = f["refarea"][()]
        assert isinstance(ref, bytes) and ref.decode() == "2:4/1:3"
        assert h5py.check_string_dtype(f["refarea"].dtype) is not None
        # corner = centre of the top-left pixel; post_lat negative, post_lon positive
        assert f["corner_lat"][()] == pytest.approx(19.45 - 0.001)
        assert f["corner_lon"][()] == pytest.approx(-99.2 + 0.0005)
        assert f["post_lat"][()] == pytest.approx(-0.002) and f["post_lon"][()] == pytest.approx(0.001)
        assert f["corner_lat"].shape == () and f["corner_lat"].dtype == np.float64
        # how LiCSBAS's tools read these
        assert f["imdates"][()].astype(str).tolist()[0] == "20180106"
        assert f["cum"].compression == "gzip"


def test_round_trip(tmp_path: Path) -> None:
    args = _inputs(np.random.default_rng(1))
    extra = {"n_unw": np.arange(20).reshape(4, 5), "E.geo": np.full(GRID.shape, -0.6), "deramp_flag": ""}
    path = write_cum_h5(tmp_path / "cum.h5", **args, extra=extra)  # type: ignore[arg-type]
    d = read_cum_h5(path)
    np.testing.assert_array_equal(d["cum"], np.asarray(args["cum"], dtype=np.float32))
    np.testing.assert_array_equal(d["imdates"], DATES)
    np.testing.assert_array_equal(d["vel"], np.asarray(args["vel"], dtype=np.float32))
    np.testing.assert_array_equal(d["gap"], np.asarray(args["gap"]).astype(np.int8))
    np.testing.assert_array_equal(d["mask"], args["mask"])
    np.testing.assert_allclose(d["bperp"], args["bperp"])
    assert d["refarea"] == "2:4/1:3"
    assert d["refarea_box"] == (1, 3, 2, 4)
    assert d["grid"].matches(GRID) and d["grid"].shape == GRID.shape
    assert isinstance(d["corner_lat"], float)
    np.testing.assert_array_equal(d["n_unw"], extra["n_unw"])
    assert d["E.geo"].dtype == np.float32
    assert d["deramp_flag"] == ""


@pytest.mark.parametrize("bperp", [None, [np.nan] * 4])
def test_bperp_may_be_omitted(tmp_path: Path, bperp: object) -> None:
    args = _inputs(np.random.default_rng(2))
    args["bperp"] = bperp
    d = read_cum_h5(write_cum_h5(tmp_path / "cum.h5", **args))  # type: ignore[arg-type]
    assert "bperp" not in d


def test_overwrite_is_atomic_replace(tmp_path: Path) -> None:
    args = _inputs(np.random.default_rng(3))
    p = tmp_path / "cum.h5"
    write_cum_h5(p, **args)  # type: ignore[arg-type]
    args["refarea"] = (0, 1, 0, 1)
    write_cum_h5(p, **args)  # type: ignore[arg-type]
    assert read_cum_h5(p)["refarea"] == "0:1/0:1"
    assert [x.name for x in tmp_path.iterdir()] == ["cum.h5"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("gap", np.zeros((4, 4, 5))),
        ("vel", np.zeros((5, 4))),
        ("imdates", DATES[::-1]),
        ("bperp", [0.0, 1.0]),
        ("refarea", (2, 2, 0, 1)),
        ("refarea", (0, 5, 0, 1)),
    ],
)
def test_shape_and_value_checks(tmp_path: Path, key: str, value: object) -> None:
    args = _inputs(np.random.default_rng(4))
    args[key] = value
    with pytest.raises(ValueError):
        write_cum_h5(tmp_path / "cum.h5", **args)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_extra_may_not_shadow_core_keys(tmp_path: Path) -> None:
    args = _inputs(np.random.default_rng(5))
    with pytest.raises(ValueError, match="core names"):
        write_cum_h5(tmp_path / "cum.h5", **args, extra={"vel": np.zeros(GRID.shape)})  # type: ignore[arg-type]


def test_refarea_helpers() -> None:
    assert format_refarea((10, 11, 20, 21)) == "20:21/10:11"
    assert parse_refarea("20:21/10:11") == (10, 11, 20, 21)
    assert parse_refarea(b"0:5/3:4") == (3, 4, 0, 5)
    with pytest.raises(ValueError):
        parse_refarea("1/2/3/4")


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_cum_h5(tmp_path / "missing.h5")
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    with pytest.raises(InputError) as exc:
        read_cum_h5(junk)
    assert "junk.h5" in str(exc.value) and "\n" not in str(exc.value)
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f.create_dataset("vel", data=np.zeros((2, 2)))
    with pytest.raises(InputError, match="no 'cum' dataset"):
        read_cum_h5(empty)


@pytest.mark.parametrize(("shape", "dtype"),
                         [((13, 300, 277), np.float32), ((5, 129, 3), np.int8), ((1, 1, 1), np.float32),
                          ((300, 277), np.float32), ((129, 3), np.int8), ((1, 1), np.float32)])
def test_cubes_compressed_by_threads_are_ordinary_gzip_datasets(tmp_path: Path, shape: tuple[int, ...],
                                                                dtype: type) -> None:
    """Chunks deflated by kansho itself (edge chunks padded) decode through HDF5's own filters: cubes, and maps
    (vel, mask, ...) chunked as a cube's epoch is."""
    from kansho.io.licsbas_h5 import _write_cube

    rng = np.random.default_rng(0)
    a = (rng.normal(size=shape) * 100).astype(dtype)
    if dtype == np.float32:
        a[rng.random(shape) < 0.1] = np.nan
    with h5py.File(tmp_path / "c.h5", "w") as f:
        _write_cube(f, "x", a, dtype)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        ds = f["x"]
        assert ds.compression == "gzip" and ds.shuffle
        assert ds.chunks == tuple(min(s, c) for s, c in zip(shape, (8, 128, 128)[-len(shape):], strict=True))
        np.testing.assert_array_equal(ds[:], a)
        np.testing.assert_array_equal(ds[..., -1, -1], a[..., -1, -1])


@pytest.mark.parametrize("threads", [1, 6])
def test_a_cube_is_the_same_file_whatever_its_compressing_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   threads: int) -> None:
    """The compressors follow the kernels' threads (every core of a server, not four at most); the chunks are
    stored in the order they were cut, so one thread or six (more than this machine's cores) write the file
    two threads write, byte for byte."""
    import kansho._threads
    from kansho.io.licsbas_h5 import _write_cube

    a = (np.random.default_rng(1).normal(size=(19, 300, 290)) * 50).astype(np.float32)
    files = {}
    for name, n in (("two", 2), ("other", threads)):
        monkeypatch.setattr(kansho._threads, "kernel_threads", lambda n=n: n)
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            _write_cube(f, "cum", a, np.float32)
        files[name] = (tmp_path / f"{name}.h5").read_bytes()
    assert files["other"] == files["two"]


class _CountingCube:
    """A lazily read cube that records the shape of every read."""

    def __init__(self, a: np.ndarray) -> None:
        self.a, self.shape, self.dtype, self.reads = a, a.shape, a.dtype, []

    def __getitem__(self, key: object) -> np.ndarray:
        out = self.a[key]
        self.reads.append(out.shape)
        return out


def test_cubes_are_read_one_chunk_depth_of_a_block_at_a_time(tmp_path: Path) -> None:
    """A long series is read 8 epochs of a 256-px block at a time (not a block's whole series: 78 MB of a
    300-epoch series, held three times over), and the file is the same as from the cube in memory."""
    from kansho.io.licsbas_h5 import _write_cube

    a = (np.random.default_rng(2).normal(size=(21, 300, 270)) * 10).astype(np.float64)  # float64: cast on the way
    lazy = _CountingCube(a)
    with h5py.File(tmp_path / "lazy.h5", "w") as f:
        _write_cube(f, "cum", lazy, np.float32)
    with h5py.File(tmp_path / "mem.h5", "w") as f:
        _write_cube(f, "cum", a.astype(np.float32), np.float32)
    assert max(r[0] for r in lazy.reads) == 8 and max(r[1] * r[2] for r in lazy.reads) == 256 * 256
    assert sum(int(np.prod(r)) for r in lazy.reads) == a.size  # every value read once
    with h5py.File(tmp_path / "lazy.h5", "r") as f, h5py.File(tmp_path / "mem.h5", "r") as g:
        np.testing.assert_array_equal(f["cum"][:], a.astype(np.float32))
        np.testing.assert_array_equal(f["cum"][:], g["cum"][:])


@pytest.mark.parametrize("isal", [True, False])
def test_cube_compressor_with_and_without_isal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isal: bool) -> None:
    """The chunks' zlib stream comes from ISA-L where it is installed and from the standard library where it is
    not; either decodes through HDF5's deflate filter to the same values."""
    import sys

    from kansho.io import licsbas_h5

    if not isal:
        monkeypatch.setitem(sys.modules, "isal.isal_zlib", None)  # import fails as on a platform without a wheel
    compress = licsbas_h5._zlib_compress()
    assert compress.__module__.startswith("isal") == isal
    monkeypatch.setattr(licsbas_h5, "_COMPRESS", compress)
    a = (np.random.default_rng(1).normal(size=(9, 140, 130)) * 30).astype(np.float32)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        licsbas_h5._write_cube(f, "cum", a, np.float32)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        np.testing.assert_array_equal(f["cum"][:], a)
