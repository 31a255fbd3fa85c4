"""kansho.chunkio: an array read and written chunk by chunk here holds what zarr's own reads and writes
would give, chunk file for chunk file."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from kansho.chunkio import ChunkArray, basic_region, direct, take_first
from kansho.store import fast_codec

SHAPE = (7, 30, 45)
CHUNKS = (3, 8, 16)  # edge chunks on every axis


def _pair(root: Path, dtype: str, fill: float, compressed: bool) -> tuple[zarr.Array, ChunkArray]:
    g = zarr.open_group(str(root), mode="w", zarr_format=3)
    kw = {"shape": SHAPE, "chunks": CHUNKS, "dtype": dtype, "fill_value": fill,
          "compressors": fast_codec() if compressed else None}
    ref, mine = g.create_array("ref", **kw), g.create_array("mine", **kw)
    fa = direct(mine)
    assert isinstance(fa, ChunkArray)
    return ref, fa


def _files(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file() and p.name != "zarr.json"}


_axis = st.tuples(st.integers(0, 50), st.integers(0, 50))


@settings(max_examples=25, deadline=None)
@given(ops=st.lists(st.tuples(st.tuples(_axis, _axis, _axis), st.booleans(), st.integers(0, 2)), min_size=1,
                    max_size=6),
       dtype=st.sampled_from([("f4", float("nan")), ("i1", -1), ("f8", 0.0), ("i2", 0)]),
       compressed=st.booleans())
def test_writes_and_reads_match_zarr(tmp_path_factory: pytest.TempPathFactory, ops: list, dtype: tuple,
                                     compressed: bool) -> None:
    """Random writes (partial chunks, whole chunks, edge chunks, an integer axis, values equal to the fill
    value) leave the same values and the same chunk files, byte for byte, as zarr's; random reads agree."""
    root = tmp_path_factory.mktemp("z")
    ref, fa = _pair(root, dtype[0], dtype[1], compressed)
    rng = np.random.default_rng(len(ops))
    for (ax0, ax1, ax2), int_first, kind in ops:
        sel: tuple = tuple(slice(min(a), max(a)) for a in (ax0, ax1, ax2))
        if int_first:
            sel = (min(ax0[0], SHAPE[0] - 1), *sel[1:])
        shape = np.empty(SHAPE)[sel].shape
        val = rng.normal(size=shape) * 50 if kind else np.full(shape, dtype[1])  # kind 0: the fill value
        ref[sel] = val
        fa[sel] = val
        assert np.array_equal(ref[...], fa[...], equal_nan=True)
        assert np.array_equal(ref[sel], fa[sel], equal_nan=True)
        assert np.array_equal(ref[2, ..., 3:40], fa[2, ..., 3:40], equal_nan=True)
    assert _files(root / "ref") == _files(root / "mine")
    assert not list(root.rglob("*.partial"))


def test_scalar_and_broadcast_writes(tmp_path: Path) -> None:
    ref, fa = _pair(tmp_path, "f4", float("nan"), True)
    for a in (ref, fa):
        a[1:4, 5:20, :] = 2.5
        a[0] = np.arange(30 * 45, dtype=np.float64).reshape(30, 45) / 7  # cast to float32
        a[6, 29, 44] = -1.0
    assert np.array_equal(ref[...], fa[...], equal_nan=True)
    assert np.asarray(fa).shape == SHAPE
    assert float(fa[6, 29, 44]) == -1.0 and fa[6, 29].shape == (45,)
    assert _files(tmp_path / "ref") == _files(tmp_path / "mine")


def test_other_selections_go_to_zarr(tmp_path: Path) -> None:
    ref, fa = _pair(tmp_path, "f4", float("nan"), False)
    ref[...] = fa[...] = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    assert basic_region((slice(0, 5, 2),), SHAPE) is None
    assert np.array_equal(fa[0:5:2, 1], ref[0:5:2, 1])
    assert fa.attrs is fa.array.attrs or dict(fa.attrs) == dict(ref.attrs)
    with pytest.raises(IndexError):
        fa[7]


def test_an_unknown_layout_is_left_to_zarr(tmp_path: Path) -> None:
    """zstd (zarr's default codec) and sharding are not read here: the zarr array comes back as it is."""
    g = zarr.open_group(str(tmp_path), mode="w", zarr_format=3)
    a = g.create_array("zstd", shape=(4, 4), chunks=(2, 2), dtype="f4")
    b = g.create_array("sharded", shape=(4, 4), chunks=(1, 1), shards=(2, 2), dtype="f4", compressors=fast_codec())
    assert direct(a) is a and direct(b) is b


def test_threads_write_their_own_chunks(tmp_path: Path) -> None:
    """Blocks written at once by two threads (as the chain's block threads do) are all there."""
    g = zarr.open_group(str(tmp_path), mode="w", zarr_format=3)
    fa = direct(g.create_array("x", shape=(5, 64, 64), chunks=(5, 16, 16), dtype="f4", fill_value=np.nan,
                               compressors=fast_codec()))
    assert isinstance(fa, ChunkArray)
    blocks = [(slice(r, r + 16), slice(c, c + 16)) for r in range(0, 64, 16) for c in range(0, 64, 16)]

    def work(k: int) -> None:
        for i in range(k, len(blocks), 2):
            r, c = blocks[i]
            fa[:, r, c] = float(i)

    ths = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    z = zarr.open_array(str(tmp_path / "x"), mode="r")[...]
    for i, (r, c) in enumerate(blocks):
        assert (z[:, r, c] == i).all()


@pytest.mark.parametrize("start", [0, 2, 3, 5])
def test_put_by_chunks_cuts_at_the_chunks(tmp_path: Path, start: int) -> None:
    """Pairs appended from a start inside a chunk (an update of the stack) are written in pieces that never
    share a chunk between threads: the same array as one zarr write."""
    from concurrent.futures import ThreadPoolExecutor

    from kansho.chunkio import put_by_chunks

    ref, fa = _pair(tmp_path, "f4", float("nan"), True)
    rng = np.random.default_rng(start)
    old = rng.normal(size=SHAPE).astype(np.float32)
    ref[...] = fa[...] = old
    new = rng.normal(size=(SHAPE[0] - start, 8, SHAPE[2])).astype(np.float32)
    ref[start:, 8:16, :] = new
    with ThreadPoolExecutor(3) as pool:
        put_by_chunks(pool, [(fa, new)], start, (slice(8, 16), slice(None)))
    assert np.array_equal(ref[...], fa[...], equal_nan=True)
    assert _files(tmp_path / "ref") == _files(tmp_path / "mine")


def test_pickled_and_copied(tmp_path: Path) -> None:
    """A ChunkArray (e.g. in a stack store object sent to a dask worker) pickles and copies to the same
    array; the stack store object with its opened cubes too."""
    import copy
    import pickle

    _ref, fa = _pair(tmp_path, "f4", float("nan"), True)
    fa[1:3, 4:20, 5:30] = 7.0
    for b in (pickle.loads(pickle.dumps(fa)), copy.copy(fa), copy.deepcopy(fa)):
        assert isinstance(b, ChunkArray)
        assert np.array_equal(b[...], fa[...], equal_nan=True)
        b[0, 0, 0] = 1.0
        assert float(fa[0, 0, 0]) == 1.0  # the same files
        fa[0, 0, 0] = np.nan
    with pytest.raises(AttributeError):
        _ = fa.__missing_dunder__


@pytest.mark.parametrize(("dtype", "fill"), [("f4", float("nan")), ("i2", 0)])
def test_whole_chunks_written_from_the_values_and_fill_chunks_dropped(tmp_path: Path, dtype: str, fill: float
                                                                      ) -> None:
    """A selection of whole inner chunks, whose values are each chunk as stored, is encoded from the values
    themselves; a chunk whose first element is the fill value but not the rest is kept, one of the fill value
    everywhere is not stored: the same files, byte for byte, as zarr's."""
    ref, fa = _pair(tmp_path, dtype, fill, True)
    rng = np.random.default_rng(5)
    val = (rng.normal(size=(6, 8, 16)) * 50).astype(dtype)  # chunks (0..1, 1, 1): whole, none at an edge
    val[0, 0, 0] = fill  # the first chunk starts with the fill value
    val[3:6] = fill  # the second chunk is the fill value everywhere
    for a in (ref, fa):
        a[0:6, 8:16, 16:32] = val
    assert np.array_equal(ref[...], fa[...], equal_nan=True)
    assert _files(tmp_path / "ref") == _files(tmp_path / "mine")
    assert len(_files(tmp_path / "mine")) == 1


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), compressed=st.booleans(), dtype=st.sampled_from([("f4", float("nan")),
                                                                                       ("u1", 0)]))
def test_take_first_is_zarrs_orthogonal_selection(tmp_path_factory: pytest.TempPathFactory, seed: int,
                                                  compressed: bool, dtype: tuple) -> None:
    """The entries of the first axis a step keeps (any order, repeats), of a block of the other axes, read chunk by
    chunk: what zarr's orthogonal selection gives, missing chunks (the fill value) and edge chunks included."""
    root = tmp_path_factory.mktemp("t")
    ref, fa = _pair(root, dtype[0], dtype[1], compressed)
    rng = np.random.default_rng(seed)
    val = (rng.normal(size=SHAPE) * 50).astype(dtype[0])
    val[3:6, 8:16, 16:32] = dtype[1]  # a chunk of the fill value: not stored
    ref[1:, :, :40] = val[1:, :, :40]  # chunks of the first pairs and the last columns missing
    fa[1:, :, :40] = val[1:, :, :40]
    idx = rng.integers(0, SHAPE[0], int(rng.integers(1, 10)))
    r0, c0 = int(rng.integers(0, SHAPE[1] - 1)), int(rng.integers(0, SHAPE[2] - 1))
    r1, c1 = int(rng.integers(r0 + 1, SHAPE[1] + 1)), int(rng.integers(c0 + 1, SHAPE[2] + 1))
    got = fa.take_first(idx, (slice(r0, r1), slice(c0, c1)))
    want = np.asarray(ref.oindex[idx, r0:r1, c0:c1])
    assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)
    with pytest.raises(IndexError):
        fa.take_first(np.array([SHAPE[0]]), (slice(0, 2), slice(0, 2)))
    for arr in (fa, ref):  # the function: the chunk reader's for a ChunkArray, zarr's selection for another array
        got = take_first(arr, idx, (slice(r0, r1), slice(c0, c1)))
        assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)
