"""Types and settings of the shared test fixtures (tests/conftest.py), importable by test modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kansho.grid import Grid
from kansho.io.geotiff import write_geotiff
from kansho.synth import SimConfig, Truth

#: the shared simulated frame: 60 x 60 px, 30 epochs 24 days apart with a network gap, one injected
#: unwrapping error (a region off by 2 pi k in one pair), water (no-data) pixels
SMALL_FRAME = SimConfig(shape=(60, 60), n_epoch=30, interval_days=24, n_unw_errors=1)
SMALL_FRAME_RNG = 11


@dataclass(frozen=True)
class SimFrame:
    """A simulated LiCSAR frame: ``root/GEOC`` (the input folder), ``root/truth.npz`` and its truth."""

    root: Path
    truth: Truth

    @property
    def geoc(self) -> Path:
        return self.root / "GEOC"


@dataclass(frozen=True)
class FinishedRun:
    """A finished ``run_timeseries`` with default options of ``input`` (read-only).

    ``ctx`` is what ``run_timeseries`` returned; new tests read the products from the files under
    ``out`` (results/*.tif, cum.h5, info/) instead.
    """

    out: Path
    input: Path
    ctx: Any
    truth: Truth | None = None


@contextmanager
def figures_skipped() -> Iterator[None]:
    """Runs of the chain inside draw no figures (plots/) and write no HTML report.

    For tests that check numerical products only: on the small test frames drawing the figures
    takes most of a run's time. The figures and the report have tests of their own.
    """
    import kansho.plots
    import kansho.report

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kansho.plots, "write_all", lambda *a, **k: [])
        mp.setattr(kansho.report, "write_report", lambda *a, **k: None)
        yield


def write_portal_pairs(frame: Path, pairs: list[str], grid: Grid, rng: np.random.Generator) -> None:
    """Random ``<pair>.geo.unw.tif`` (float32 rad, nodata 0) and ``.geo.cc.tif`` (uint8) of each pair
    under ``frame/interferograms/``, as the LiCSAR portal holds them (tests of the download client)."""
    for p in pairs:
        d = frame / "interferograms" / p
        write_geotiff(d / f"{p}.geo.unw.tif", rng.normal(0, 3, grid.shape).astype(np.float32), grid, nodata=0.0)
        write_geotiff(d / f"{p}.geo.cc.tif", rng.integers(1, 255, grid.shape).astype(np.uint8), grid, nodata=0)


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A valid grey PNG image (the portal's ``network.png`` in tests of the download client)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\0" + bytes((17 * (x + y)) % 256 for x in range(width)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


class QuietHandler(BaseHTTPRequestHandler):
    """Base of the tests' local HTTP servers: quiet, never waits on a client for more than 5 s, and
    sends HEAD and GET to ``_safe(head)``, which a subclass defines."""

    server_version = "Apache/2.4"
    timeout = 5

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._safe(True)

    def do_GET(self) -> None:
        self._safe(False)

    def _safe(self, head: bool) -> None:
        raise NotImplementedError


def one_error_line(rc: int, err: str, *fragments: str) -> str:
    """A refused command: non-zero exit, one line on stderr (``kansho: error: ...``) holding every
    fragment, no traceback. Returns that line."""
    assert rc != 0, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("kansho: error:"), err
    for frag in fragments:
        assert frag in lines[0], f"{frag!r} not in {lines[0]!r}"
    return lines[0]


def work_arrays(out: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The work arrays ``names`` of the run in ``out`` (its ``work/ts.zarr``), read whole."""
    import zarr

    g = zarr.open_group(str(out / "work" / "ts.zarr"), mode="r")
    return {k: np.asarray(g[k][:]) for k in names}
