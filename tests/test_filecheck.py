"""The check of a downloaded GeoTIFF against splices that GDAL itself reads without complaint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

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
