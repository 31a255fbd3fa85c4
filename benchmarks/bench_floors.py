"""The floor of each chain step: the least it could cost on this machine (reading, solving, writing).

    python benchmarks/bench_floors.py SIM_DIR RUN_DIR        # prints the floors as JSON

A step cannot run faster than reading what it must read and writing what it must write, plus, for
the inversion, one least-squares solve of every pixel. Each primitive below is measured the
plainest way there is, with the same libraries and the same on-disk formats as the chain, using
every core where the library can (GDAL and zstd/zlib release the GIL), and nothing else:

* ``read_inputs``: every GeoTIFF of the input (unwrapped phase and coherence), one thread per core;
* ``write_store``: those arrays written into a Zarr store with the stack store's chunks and codec;
* ``read_unw`` / ``read_coh``: one pass over the stack store, block by block;
* ``closures``: the misclosure of every loop of three pairs (every triangle of the network) at every pixel,
  as one sparse (loop x pair) matrix of +-1 times the stack, block by block (the reading not counted);
* ``solve``: the least-squares solution of every pixel's pair network with one design matrix per
  frame (the network without gaps: no NaN), as a batched normal-equation solve;
* ``write_cum`` / ``read_cum``: one cube (epoch, y, x) float32 into / out of the work store;
* ``write_<cube>`` / ``read_<cube>`` for the other cubes a step must write and the outputs read again, the
  run's own arrays with their chunks and codecs: step 1-3's σ of the bridged series (``cum_std``, float32)
  and its gaps (``gap``, int8), step 1-2's per-pixel cycle fixes (``unw_fix``) and spatial-check cycles
  (``unw_jump``, int8, every pair); 0 where the run has no such array;
* ``fft``: one forward and one inverse 2-D real FFT of every epoch (the least a spatial filter does);
* ``deflate``: the shuffle + deflate(1) compression of one cube (HDF5 gzip level 1), on every core, by the
  chain's compressor (:func:`kansho.io.licsbas_h5._deflate_chunk`: ISA-L's where installed);
  ``deflate_cum_std`` and ``deflate_gap`` those of the σ and gap cubes that ``cum.h5`` holds beside ``cum``;
* ``maps_<step>``: the step's other work arrays (its maps: velocity, counts, statistics, the mask; the few
  small arrays of per-epoch or per-gap values) written with their chunks and codecs;
* ``write_tifs``: every GeoTIFF of ``results/`` written as the chain writes it (tiled, deflate at the chain's
  level), one thread per core; ``write_pngs``: every PNG of ``plots/`` encoded at the chain's zlib level, one
  thread per core (the figures' pixels, not their drawing).

Until 2026-12-07 the floors counted ``cum`` alone of the cubes: step 1-3's floor left out writing its σ and
gap cubes, step 1-2's its cycle fixes, the outputs' reading and compressing the σ and gap cubes of
``cum.h5``. Each of them is part of what its step must write (the contract's products or the arrays the next
steps read), so the floors now count them. The same holds for each step's maps and, for the outputs, the
GeoTIFFs and the PNGs: counted since the evening of 2026-12-07 (floors measured before then show them as not
measured).

:data:`STEP_FLOORS` says which primitives make each step's floor. Figures come from the run folder
of a finished run (``RUN_DIR``) and its input (``SIM_DIR/GEOC``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from kansho.io.licsbas_h5 import _deflate_chunk

#: the primitives whose sum is a step's floor
STEP_FLOORS: dict[str, tuple[str, ...]] = {
    "ingest": ("read_inputs", "write_store"),
    "qc": (),  # ingest takes its statistics from the strips it writes (kansho.stack_sums): nothing to read
    "loops": ("read_unw", "closures", "write_unw_fix", "write_unw_jump"),
    "invert": ("read_unw", "read_coh", "solve", "write_cum", "write_cum_std", "write_gap"),
    "vstd": ("read_cum",),
    "mask": ("read_cum",),  # stc reads the series (its halo from step 1-4's edges)
    "filter": ("read_cum", "fft", "write_cum"),
    "outputs": ("read_cum", "read_cum", "read_cum_std", "read_gap", "deflate", "deflate", "deflate_cum_std",
                "deflate_gap", "write_tifs", "write_pngs"),
}
# every step but ingest (whose store is ``write_store``) and outputs (whose products are files) also writes its maps
for _step in STEP_FLOORS:
    if _step not in ("ingest", "outputs"):
        STEP_FLOORS[_step] = (*STEP_FLOORS[_step], f"maps_{_step}")
#: the work arrays besides ``cum`` whose writing (and, for the outputs, reading and compressing) the floors count
OTHER_CUBES = ("cum_std", "gap", "unw_fix", "unw_jump")
#: the cubes a step's floor counts by name (``write_cum`` is also the filtered series): not among its maps
NAMED_CUBES = ("cum", "cum_filt", *OTHER_CUBES)
CORES = os.cpu_count() or 1
BLOCK = 256


def _blocks(shape: tuple[int, int], size: int = BLOCK) -> Iterator[tuple[slice, slice]]:
    for r0 in range(0, shape[0], size):
        for c0 in range(0, shape[1], size):
            yield slice(r0, min(r0 + size, shape[0])), slice(c0, min(c0 + size, shape[1]))


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def codec_of(array: Any) -> Any:
    """The codec of a run's zarr ``array`` (its first compressor), or the stack store's when None: the
    floor is measured in the format the chain writes."""
    if array is not None and array.compressors:
        return array.compressors[0]
    from kansho.store import fast_codec

    return fast_codec()


def read_inputs(geoc: Path) -> tuple[float, list[Path]]:
    """Seconds to read every ``*.geo.unw.tif`` and ``*.geo.cc.tif`` of ``geoc`` (one thread per core)."""
    import rasterio

    files = sorted(geoc.glob("*/*.geo.unw.tif")) + sorted(geoc.glob("*/*.geo.cc.tif"))

    def one(f: Path) -> int:
        with rasterio.open(f) as src:
            return int(src.read(1).size)

    with ThreadPoolExecutor(CORES) as pool:
        t = _timed(lambda: list(pool.map(one, files)))
    return t, files


def write_store(files: list[Path], tmp: Path) -> float:
    """Seconds to write the input's arrays into a Zarr store like the stack store (read strip by strip,
    only the writing timed; 8-bit coherence as its codes, as the stack store keeps it)."""
    import rasterio
    import zarr
    from rasterio.windows import Window

    unw = [f for f in files if f.name.endswith(".unw.tif")]
    with rasterio.open(unw[0]) as src:
        ny, nx = src.height, src.width
    with rasterio.open(str(unw[0]).replace(".unw.tif", ".cc.tif")) as src:
        cc_type = np.dtype(src.dtypes[0])  # 8-bit coherence is stored as its codes (kansho.cohcodes)
    types = {"unw": np.dtype(np.float32), "coh": cc_type if cc_type == np.uint8 else np.dtype(np.float32)}
    g = zarr.open_group(tmp / "floor.zarr", mode="w")
    arrays = {k: g.create_array(k, shape=(len(unw), ny, nx), chunks=(16, BLOCK, BLOCK), dtype=types[k],
                                compressors=codec_of(None)) for k in ("unw", "coh")}
    total = 0.0
    for r0 in range(0, ny, BLOCK):
        h = min(BLOCK, ny - r0)
        for k, suffix in (("unw", ".unw.tif"), ("coh", ".cc.tif")):
            strip = np.empty((len(unw), h, nx), types[k])
            for i, f in enumerate(unw):
                with rasterio.open(str(f).replace(".unw.tif", suffix)) as src:
                    strip[i] = src.read(1, window=Window(0, r0, nx, h))
            total += _timed(lambda k=k, strip=strip, r0=r0, h=h: arrays[k].__setitem__(
                (slice(None), slice(r0, r0 + h), slice(None)), strip))
    return total


def read_store(run: Path) -> dict[str, float]:
    """Seconds for one block-by-block pass over ``unw`` and ``coh`` of the stack store."""
    import zarr

    g = zarr.open_group(run / "stack.zarr", mode="r")
    out = {}
    for k in ("unw", "coh"):
        a = g[k]
        out[f"read_{k}"] = sum(_timed(lambda a=a, rs=rs, cs=cs: np.asarray(a[:, rs, cs]))
                               for rs, cs in _blocks(a.shape[1:]))
    return out


def closures(run: Path) -> float:
    """Seconds to compute every triangle's misclosure ``ab + bc - ac`` at every pixel of the stack: one sparse
    (nloop, npair) float32 matrix times each block's (npair, npix) phases, the block's pixels split over the
    cores; the blocks read untimed (``read_unw`` counts the reading)."""
    import scipy.sparse
    import zarr

    from kansho.network import triangle_loops

    g = zarr.open_group(run / "stack.zarr", mode="r")
    d1, d2, ep = (np.asarray(g[k][:]) for k in ("date1", "date2", "epoch"))
    pairs = np.stack([np.searchsorted(ep, d1), np.searchsorted(ep, d2)], axis=1)
    L = scipy.sparse.csr_matrix(triangle_loops(pairs).astype(np.float32))  # the chain's own loop matrix
    a = g["unw"]
    total = 0.0
    with ThreadPoolExecutor(CORES) as pool:
        for rs, cs in _blocks(a.shape[1:]):
            d = np.asarray(a[:, rs, cs]).reshape(a.shape[0], -1)
            parts = np.array_split(np.arange(d.shape[1]), CORES)
            total += _timed(lambda d=d, parts=parts: list(pool.map(lambda p: L @ d[:, p[0]:p[-1] + 1], parts)))
    return total


def solve(run: Path) -> float:
    """Seconds to solve every pixel's least squares, one design matrix for the frame (no NaN), block by block.

    The design matrix is the network's incidence matrix in cumulative displacement (pair i spans epochs
    ``d1 < d2``: ``cum[d2] - cum[d1]``, first epoch fixed at 0); the normal matrix is factorised once and
    every pixel's right-hand side solved with it (a 1e-6 ridge keeps a network with gaps solvable).
    Data: random numbers (the cost does not depend on them)."""
    import scipy.linalg
    import zarr

    g = zarr.open_group(run / "stack.zarr", mode="r")
    d1, d2, ep = (np.asarray(g[k][:]) for k in ("date1", "date2", "epoch"))
    i1, i2 = np.searchsorted(ep, d1), np.searchsorted(ep, d2)
    G = np.zeros((d1.size, ep.size))
    G[np.arange(d1.size), i2] += 1
    G[np.arange(d1.size), i1] -= 1
    G = G[:, 1:]
    ny, nx = g["unw"].shape[1:]
    rng = np.random.default_rng(0)
    total = 0.0
    for rs, cs in _blocks((ny, nx)):
        d = rng.standard_normal((d1.size, (rs.stop - rs.start) * (cs.stop - cs.start))).astype(np.float32)

        def run_one(d: np.ndarray = d) -> np.ndarray:
            cf = scipy.linalg.cho_factor(G.T @ G + 1e-6 * np.eye(G.shape[1]))  # a network gap: singular
            return scipy.linalg.cho_solve(cf, G.T @ d.astype(np.float64))

        total += _timed(run_one)
    return total


def cube_io(run: Path, tmp: Path, name: str = "cum") -> dict[str, float]:
    """Seconds to read the run's cube ``name`` from the work store block by block and to write it to a new
    store with the same chunks and codec (both 0 where the run has no such array)."""
    import zarr

    g = zarr.open_group(run / "work" / "ts.zarr", mode="r")
    if name not in g:
        return {f"read_{name}": 0.0, f"write_{name}": 0.0}
    src = g[name]
    dst = zarr.open_group(tmp / f"{name}.zarr", mode="w").create_array(
        name, shape=src.shape, chunks=src.chunks, dtype=src.dtype, compressors=codec_of(src))
    rd = wr = 0.0
    for rs, cs in _blocks(src.shape[-2:]):
        t0 = time.perf_counter()
        blk = np.asarray(src[..., rs, cs])
        rd += time.perf_counter() - t0
        wr += _timed(lambda blk=blk, rs=rs, cs=cs: dst.__setitem__((..., rs, cs), blk))
    shutil.rmtree(tmp / f"{name}.zarr", ignore_errors=True)
    return {f"read_{name}": rd, f"write_{name}": wr}


def step_maps(run: Path) -> dict[str, list[str]]:
    """Per step, the work arrays of its outputs (``StepSpec.outputs``) in the run's work store that no named
    primitive counts (:data:`NAMED_CUBES`): its maps and small arrays."""
    import zarr

    from kansho.chain.registry import STEPS

    g = zarr.open_group(run / "work" / "ts.zarr", mode="r")
    have = set(g.array_keys())
    return {s.name: [n for n in s.outputs if n in have and n not in NAMED_CUBES] for s in STEPS
            if f"maps_{s.name}" in STEP_FLOORS.get(s.name, ())}


def maps_io(run: Path, tmp: Path) -> dict[str, float]:
    """``maps_<step>``: seconds to write each step's maps (:func:`step_maps`) with their chunks and codecs, each
    in one call (a map is small: zarr writes its chunks at once, read first, untimed)."""
    import zarr

    g = zarr.open_group(run / "work" / "ts.zarr", mode="r")
    dst = zarr.open_group(tmp / "maps.zarr", mode="w")
    out: dict[str, float] = {}
    for step, names in step_maps(run).items():
        total = 0.0
        for n in names:
            src = g[n]
            data = np.asarray(src[...])
            a = dst.create_array(n, shape=src.shape, chunks=src.chunks, dtype=src.dtype, compressors=codec_of(src))
            total += _timed(lambda a=a, data=data: a.__setitem__(..., data))
        out[f"maps_{step}"] = total
    shutil.rmtree(tmp / "maps.zarr", ignore_errors=True)
    return out


def write_tifs(run: Path, tmp: Path) -> float:
    """Seconds to write every GeoTIFF of the run's ``results/`` as the chain writes its maps (single band,
    256-px tiles, deflate at :data:`kansho.io.geotiff.DEFLATE_LEVEL`), one thread per core (GDAL releases the
    GIL); the maps are read first, untimed."""
    import rasterio

    from kansho.io.geotiff import DEFLATE_LEVEL

    maps = []
    for f in sorted((run / "results").glob("*.tif")):
        with rasterio.open(f) as src:
            maps.append((f.name, src.read(1), dict(src.profile)))

    def one(item: tuple[str, np.ndarray, dict[str, Any]]) -> None:
        name, data, profile = item
        profile.update(driver="GTiff", compress="deflate", zlevel=DEFLATE_LEVEL)
        with rasterio.open(tmp / name, "w", **profile) as dst:
            dst.write(data, 1)

    with ThreadPoolExecutor(CORES) as pool:
        return _timed(lambda: list(pool.map(one, maps)))


def write_pngs(run: Path) -> float:
    """Seconds to encode every PNG of the run's ``plots/`` (the figures' pixels, decoded first, untimed) at
    the chain's zlib level (:data:`kansho.mapfig.PNG_LEVEL`) with Pillow, as the figures are written, one
    thread per core (Pillow's encoder releases the GIL)."""
    import io

    from PIL import Image

    from kansho.mapfig import PNG_LEVEL

    images = []
    for f in sorted((run / "plots").glob("*.png")):
        with Image.open(f) as im:
            images.append(im.copy())

    def one(im: Any) -> int:
        buf = io.BytesIO()
        im.save(buf, format="png", compress_level=PNG_LEVEL)
        return buf.tell()

    with ThreadPoolExecutor(CORES) as pool:
        return _timed(lambda: list(pool.map(one, images)))


def fft(run: Path) -> float:
    """Seconds for one forward and one inverse real 2-D FFT of every epoch (all cores)."""
    import scipy.fft
    import zarr

    a = zarr.open_group(run / "work" / "ts.zarr", mode="r")["cum"]
    ny, nx = a.shape[1:]
    shape = (scipy.fft.next_fast_len(ny, real=True), scipy.fft.next_fast_len(nx, real=True))
    total = 0.0
    for e in range(a.shape[0]):
        x = np.nan_to_num(np.asarray(a[e], np.float64))
        total += _timed(lambda x=x: scipy.fft.irfft2(scipy.fft.rfft2(x, shape, workers=CORES), shape, workers=CORES))
    return total


def deflate(run: Path, name: str = "cum") -> float:
    """Seconds to byte-shuffle and deflate (level 1) the cube ``name`` in (8, 128, 128) chunks on every core
    (0 where the run has no such array)."""
    import zarr

    g = zarr.open_group(run / "work" / "ts.zarr", mode="r")
    if name not in g:
        return 0.0
    a = g[name]
    n = a.shape[0]
    total = 0.0

    def one(chunk: np.ndarray) -> int:  # the chain's own compressor (ISA-L's zlib stream where installed)
        return len(_deflate_chunk(np.ascontiguousarray(chunk)))

    with ThreadPoolExecutor(CORES) as pool:
        for rs, cs in _blocks(a.shape[1:]):
            blk = np.asarray(a[:, rs, cs])
            pieces = [blk[e:e + 8, y:y + 128, x:x + 128] for e in range(0, n, 8)
                      for y in range(0, blk.shape[1], 128) for x in range(0, blk.shape[2], 128)]
            total += _timed(lambda pieces=pieces: list(pool.map(one, pieces)))
    return total


def _warm(*roots: Path) -> None:
    """Read every file under ``roots`` once (untimed), so the floors, like the chain's steps in a benchmark
    run, read from the page cache rather than from the disk."""
    for root in roots:
        for d, _, names in os.walk(root):
            for n in names:
                with open(Path(d, n), "rb") as f:
                    while f.read(1 << 24):
                        pass


def measure(sim: Path, run: Path) -> dict[str, float]:
    """Every primitive's seconds on this machine (see the module docstring), the files read from the page
    cache (:func:`_warm`)."""
    tmp = Path(tempfile.mkdtemp(prefix="kansho_floor_"))
    _warm(sim / "GEOC", run / "stack.zarr", run / "work" / "ts.zarr", run / "results", run / "plots")
    try:
        out: dict[str, float] = {}
        out["read_inputs"], files = read_inputs(sim / "GEOC")
        out["write_store"] = write_store(files, tmp)
        out.update(read_store(run))
        out["closures"] = closures(run)
        out["solve"] = solve(run)
        out.update(cube_io(run, tmp))
        for name in OTHER_CUBES:
            out.update(cube_io(run, tmp, name))
        out["fft"] = fft(run)
        out["deflate"] = deflate(run)
        out["deflate_cum_std"], out["deflate_gap"] = deflate(run, "cum_std"), deflate(run, "gap")
        out.update(maps_io(run, tmp))
        out["write_tifs"] = write_tifs(run, tmp)
        out["write_pngs"] = write_pngs(run)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def step_floors(prim: dict[str, float]) -> dict[str, float]:
    """Each step's floor (s): the sum of its primitives."""
    return {step: float(sum(prim.get(p, 0.0) for p in parts)) for step, parts in STEP_FLOORS.items()}


if __name__ == "__main__":
    prim = measure(Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps({"primitives": prim, "steps": step_floors(prim)}, indent=1))
