"""The check of a downloaded GeoTIFF against splices that GDAL itself reads without complaint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from kansho.grid import Grid
from kansho.io.filecheck import GEOTIFF, check_file
from kansho.io.geotiff import write_geotiff

HTML = b"<!DOCTYPE html><html><head><title>Partial content</title></head><body>busy</body></html>\n"


def _gdal_reads(path: Path) -> bool:
    try:
        with rasterio.open(path) as ds:
            ds.read(1)
    except rasterio.errors.RasterioError:
        return False
    return True


def test_spliced_deflate_geotiff_is_refused_where_gdal_reads_garbage(tmp_path: Path) -> None:
    """A resumed download answered with an error page: the file's second half is HTML. For about one small
    deflate GeoTIFF in five, GDAL inflates the HTML as literal data and returns garbage without an error (the
    stream never reaches its end); the check refuses every one of them, and passes every intact file."""
    grid = Grid(48, 40, (139.0, 0.001, 0.0, 36.0, 0.0, -0.001))
    silent = 0
    for seed in range(60):
        data = np.random.default_rng(seed).normal(0, 50, (40, 48)).astype(np.float32)
        path = write_geotiff(tmp_path / f"g{seed}.tif", data, grid)
        assert check_file(path, GEOTIFF) is None
        raw = path.read_bytes()
        half = len(raw) // 2
        path.write_bytes(raw[:half] + (HTML * (len(raw) // len(HTML) + 1))[: len(raw) - half])
        silent += _gdal_reads(path)
        reason = check_file(path, GEOTIFF)
        assert reason is not None and ("damaged" in reason or "not a readable" in reason), (seed, reason)
    if silent == 0:
        pytest.skip("this GDAL refuses every splice itself: nothing left for the block check to catch")


def _pad_last_strip(path: Path, full_rows: int, width: int) -> None:
    """Store the last strip of a one-band float32 striped deflate TIFF whole (``full_rows`` rows, zero-padded), as
    some writers do: its new stream appended at the end, the IFD's offset and byte count of that strip pointed
    at it (little-endian classic TIFF; SHORT or LONG values, in the entry itself when they fit)."""
    import struct
    import zlib

    raw = bytearray(path.read_bytes())
    ifd = struct.unpack_from("<I", raw, 4)[0]
    last = {}
    for i in range(struct.unpack_from("<H", raw, ifd)[0]):
        at = ifd + 2 + 12 * i
        tag, typ, cnt = struct.unpack_from("<HHI", raw, at)
        if tag in (273, 279):
            fmt = "<H" if typ == 3 else "<I"
            size = struct.calcsize(fmt)
            base = at + 8 if cnt * size <= 4 else struct.unpack_from("<I", raw, at + 8)[0]
            last[tag] = (fmt, base + size * (cnt - 1))
    (f_off, p_off), (f_cnt, p_cnt) = last[273], last[279]
    start, count = struct.unpack_from(f_off, raw, p_off)[0], struct.unpack_from(f_cnt, raw, p_cnt)[0]
    old = zlib.decompress(bytes(raw[start:start + count]))
    stream = zlib.compress(old + bytes(full_rows * width * 4 - len(old)))
    struct.pack_into(f_off, raw, p_off, len(raw))
    struct.pack_into(f_cnt, raw, p_cnt, len(stream))
    path.write_bytes(bytes(raw) + stream)


def test_a_padded_last_strip_is_not_damage(tmp_path: Path) -> None:
    """A striped file whose last strip is stored whole (zero-padded past the image) is sound: GDAL reads it, the
    check passes it; the same strip cut by a byte is refused."""
    data = np.random.default_rng(1).normal(0, 1, (40, 48)).astype(np.float32)
    path = tmp_path / "strips.tif"
    with rasterio.open(path, "w", driver="GTiff", width=48, height=40, count=1, dtype="float32", compress="deflate",
                       blockysize=16, crs="EPSG:4326",
                       transform=Affine(0.001, 0.0, 139.0, 0.0, -0.001, 36.0)) as dst:
        dst.write(data, 1)
    _pad_last_strip(path, 16, 48)
    with rasterio.open(path) as ds:
        assert np.array_equal(ds.read(1), data)
    assert check_file(path, GEOTIFF) is None
    path.write_bytes(path.read_bytes()[:-1])
    assert check_file(path, GEOTIFF) is not None
