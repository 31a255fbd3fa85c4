"""What a downloaded file must be before it takes its place: a readable GeoTIFF, or a text file, never an HTML page.

A download whose size matches the server's can still be wrong: an error or login page served with
200, a body cut short by a server that under-reports sizes, an error page spliced in front of a
resumed file. :func:`check_file` opens the file for what it claims to be and returns a one-line
reason when it is not; the download client (:mod:`kansho.io.http`) discards such a file instead of
placing it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["GEOTIFF", "KINDS", "PNG", "TEXT", "check_file", "declared_digests", "digest_problem", "is_html_type",
           "kind_of"]

#: checksum algorithms a server may declare, by their names in the digest headers
_ALGORITHMS = {"sha-256": "sha256", "sha-512": "sha512", "md5": "md5"}

GEOTIFF = "geotiff"
TEXT = "text"
PNG = "png"
KINDS = ("", GEOTIFF, TEXT, PNG)  # "": not checked
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_HTML_START = re.compile(rb"^\s*<(!doctype\s+html|html|head|body|title|h1|\?xml|!--)", re.IGNORECASE)
_HTML_TAG = re.compile(rb"<(html|body|title)[\s>]", re.IGNORECASE)
_READ_BYTES = 1 << 24  # read a band in windows of about 16 MiB


def kind_of(name: str) -> str:
    """The kind of file ``name`` holds: ``"geotiff"`` for ``.tif``/``.tiff``, ``"png"``, otherwise ``"text"``."""
    low = name.lower()
    return GEOTIFF if low.endswith((".tif", ".tiff")) else PNG if low.endswith(".png") else TEXT


def is_html_type(content_type: str | None) -> bool:
    """True when an HTTP ``Content-Type`` says HTML (``text/html``, ``application/xhtml+xml``)."""
    if not content_type:
        return False
    mime = content_type.split(";")[0].strip().lower()
    return mime in ("text/html", "application/xhtml+xml")


def check_file(path: str | Path, kind: str, *, full: bool = True) -> str | None:
    """``None`` when ``path`` is a sound file of ``kind``, else a one-line reason.

    Every kind: not empty and not an HTML page. ``"geotiff"``: opens with rasterio as a GTiff and
    its band data decode (``full``: every pixel of every band, which catches a file cut short
    anywhere; otherwise the first and last block row of each band, a cheap check for files already
    in place). ``"text"``: no NUL byte at its start. ``"png"``: the PNG signature (the image is
    not decoded: figures are informative). ``""``: no check.
    """
    if not kind:
        return None
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError as exc:
        return f"cannot read it back ({exc})"
    if size == 0:
        return "empty file"
    if _HTML_START.match(head) or (head.lstrip()[:1] == b"<" and _HTML_TAG.search(head)):
        return "an HTML page, not the file (the server sent an error or login page)"
    if kind == TEXT:
        return "binary data in a text file" if b"\0" in head else None
    if kind == PNG:
        return None if head.startswith(_PNG_SIGNATURE) and size > 32 else "not a PNG image"
    if kind == GEOTIFF:
        return _check_geotiff(path, full)
    raise ValueError(f"unknown file kind {kind!r}")


def _check_geotiff(path: Path, full: bool) -> str | None:
    import numpy as np
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError
    from rasterio.windows import Window

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                if ds.driver != "GTiff":
                    return f"not a GeoTIFF (GDAL reads it as {ds.driver})"
                if ds.count < 1 or ds.width < 1 or ds.height < 1:
                    return "a GeoTIFF without band data"
                for b in range(1, ds.count + 1):
                    bh = max(1, ds.block_shapes[b - 1][0])
                    if full:
                        itemsize = np.dtype(ds.dtypes[b - 1]).itemsize
                        step = max(bh, _READ_BYTES // max(1, ds.width * itemsize) // bh * bh)
                        starts = list(range(0, ds.height, step))
                    else:  # the first and the last block row
                        step = bh
                        starts = sorted({0, (ds.height - 1) // bh * bh})
                    for r0 in starts:
                        ds.read(b, window=Window(0, r0, ds.width, min(step, ds.height - r0)))
                damage = _deflate_damage(path, ds) if full else None
                if damage:
                    return damage
    except (RasterioError, OSError, ValueError) as exc:
        cause = exc.__cause__ if exc.__cause__ is not None and "previous exception" in str(exc) else exc
        text = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        for name in (f"'{path}' ", str(path), f"{path.name}, ", path.name):  # the reason names the file already
            text = text.replace(name, "")
        text = text[:160]
        return f"not a readable GeoTIFF or truncated ({text})"
    return None


def _deflate_damage(path: Path, ds: Any) -> str | None:
    """Where a deflate-compressed GeoTIFF (``ds``, open) has a block whose zlib stream does not end where its
    length says, or does not inflate to the block's size, a one-line reason; else None. GDAL reads such a block
    without complaint when the bytes after a break happen to inflate (an error page spliced into a resumed
    download, decoded as literal data: garbage values, no error), so every block is inflated here too."""
    import zlib

    import numpy as np

    comp = getattr(ds.compression, "value", None)
    if comp != "DEFLATE":
        return None
    pixel = getattr(ds.interleaving, "value", "PIXEL") == "PIXEL" and ds.count > 1
    tiled = ds.profile.get("tiled", False)
    with path.open("rb") as f:
        for b in [1] if pixel else range(1, ds.count + 1):
            bh, bw = ds.block_shapes[b - 1]
            per_px = np.dtype(ds.dtypes[b - 1]).itemsize * (ds.count if pixel else 1)
            for y in range(-(-ds.height // bh)):
                # a strip image's last strip is short (as libtiff writes it) or, from some writers, padded whole
                sizes = {bh * bw * per_px, (bh if tiled else min(bh, ds.height - y * bh)) * bw * per_px}
                for x in range(-(-ds.width // bw)):
                    off, size = (ds.get_tag_item(f"BLOCK_{k}_{x}_{y}", "TIFF", bidx=b) for k in ("OFFSET", "SIZE"))
                    if not off or not size or int(size) == 0:  # a sparse block: nothing stored
                        continue
                    f.seek(int(off))
                    inflater = zlib.decompressobj()
                    try:
                        got = len(inflater.decompress(f.read(int(size)), max(sizes) + 1))
                    except zlib.error as exc:
                        return f"not a readable GeoTIFF or truncated (block {x},{y} of band {b}: {exc})"
                    if not inflater.eof or got not in sizes:
                        return (f"a damaged GeoTIFF: block {x},{y} of band {b} does not inflate to its size "
                                "(bytes replaced or spliced in; fetch it again)")
    return None


def declared_digests(headers: Mapping[str, str] | None, *, whole_body: bool) -> dict[str, bytes]:
    """Checksums of the whole file a server declared in a response's headers: ``Repr-Digest``
    (RFC 9530, ``sha-256=:base64:``), ``Digest`` (RFC 3230, ``SHA-256=base64``) and, only when the
    response body is the whole file (``whole_body``), ``Content-MD5`` (RFC 1864). Returns hashlib
    names -> digest bytes; unknown algorithms and malformed values are ignored."""
    out: dict[str, bytes] = {}
    if headers is None:
        return out
    fields = [(headers.get("Repr-Digest") or "", True), (headers.get("Digest") or "", False)]
    for text, structured in fields:
        for item in text.split(","):
            name, sep, value = item.strip().partition("=")
            algo = _ALGORITHMS.get(name.strip().lower())
            value = value.strip()
            if structured:
                value = value.strip(":") if value.startswith(":") and value.endswith(":") else ""
            if sep and algo and value:
                with contextlib.suppress(binascii.Error, ValueError):
                    out[algo] = base64.b64decode(value, validate=True)
    md5 = (headers.get("Content-MD5") or "").strip()
    if whole_body and md5:
        with contextlib.suppress(binascii.Error, ValueError):
            out.setdefault("md5", base64.b64decode(md5, validate=True))
    return out


def digest_problem(path: Path, declared: Mapping[str, bytes]) -> str | None:
    """None when ``path`` matches every declared checksum (or none was declared); else what is wrong."""
    for algo, want in declared.items():
        h = hashlib.new(algo)
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        if h.digest() != want:
            return f"its {algo} checksum differs from the one the server declared"
    return None
