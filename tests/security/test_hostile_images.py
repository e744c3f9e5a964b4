"""Hostile and unusual images through every way a picture gets in: the camera's presigned flow (slot, PUT to S3,
confirm), the camera's direct upload, and a farmer's diary photo.

Every input is generated here, in memory. For each one and each path the contract is: either a 4xx with a stable
``code`` and a human reason (never a 5xx), or the upload is accepted and the worker's service ends the capture
``done`` or ``failed`` with a reason; in both cases within 1 s of CPU (the wall clock, noisy on shared cores, only
guards against hangs), within a bounded growth of the process's peak memory (the API runs in this process through
TestClient, and so does the worker's service), and the next normal photo still goes through. An accepted diary
photo must also not break the season's PDF, which embeds it. ``test_worker_survives_bytes_that_skipped_the_api``
stores every input as a capture directly, so the worker's own decoder is tested even where the API refuses first
(defence in depth).

The tables pin today's outcome per path: a change of behaviour (a bomb that starts being decoded, a format that
starts being refused) shows up as a failing id here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import io
import resource
import struct
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import helpers
import numpy as np
import pytest
from factories import make_tenant
from helpers import Enqueued, presigned_upload, rice_photos
from sqlalchemy import func, select

from cropwatch.captures.ingest import direct_upload
from cropwatch.core.enums import CaptureStatus, ModelTask, Role
from cropwatch.core.orm import Camera, Capture, DiaryEntry, Plot
from cropwatch.core.security import new_token, token_hash
from cropwatch.core.settings import Settings
from cropwatch.core.timeutil import utcnow
from cropwatch.worker.pipeline import CaptureProcessor, Outcome

MB = 1024 * 1024
SECONDS_PER_ITEM = 1.0  # CPU seconds this process (API + worker, all threads) may spend on one item
#: the wall clock only guards against hangs: on 2 shared cores (SeaweedFS, other test runs) a 170-byte upload refused
#: from its header took 1.3 s of wall clock for 0.1 s of CPU, and a 19 MB one ~1.5 s (moving the bytes through the
#: multipart parser and S3), so it gets 3 s plus 1 s per 10 MB
WALL_SECONDS_PER_ITEM = 3.0
TRANSFER_BYTES_PER_SECOND = 10 * MB
MEMORY_BUDGET = 200 * MB  # growth of the process's peak RSS while one item is uploaded and processed

# The decoder's and the API's refusals do not depend on the SQL dialect (the same rows are written either way); a
# refused or failed capture on PostgreSQL is covered by tests/api/test_ingest.py and tests/test_processing.py.
pytestmark = pytest.mark.sqlite_only


# ------------------------------------------------------------------------------------------------ generators
def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _zeros_deflated(n: int, piece: int = 1 << 20) -> bytes:
    """zlib stream of ``n`` zero bytes, compressed piecewise (never holds ``n`` bytes in memory)."""
    z, zero, out = zlib.compressobj(9), bytes(piece), []
    for _ in range(n // piece):
        out.append(z.compress(zero))
    out.append(z.compress(bytes(n % piece)))
    out.append(z.flush())
    return b"".join(out)


def _png(
    width: int,
    height: int,
    idat: bytes,
    *,
    bit_depth: int = 8,
    color_type: int = 2,
    before_idat: bytes = b"",
    interlace: int = 0,
) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + before_idat + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _photo(w: int = 64, h: int = 48) -> np.ndarray:
    """A small deterministic BGR picture (gradients and noise, so it compresses like a photo)."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) * 127 // max(w + h - 2, 1)], -1)
    return np.clip(img + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)


def _encode(ext: str, img: np.ndarray, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, img, params or [])
    assert ok, ext
    return buf.tobytes()


def small_jpeg(w: int = 64, h: int = 48) -> bytes:
    return _encode(".jpg", _photo(w, h), [cv2.IMWRITE_JPEG_QUALITY, 90])


def small_png(w: int = 64, h: int = 48) -> bytes:
    return _encode(".png", _photo(w, h))


def _jpeg_set_size(data: bytes, width: int, height: int, *, sof: int = 0xC0) -> bytes:
    i = data.index(bytes([0xFF, sof]))
    return data[: i + 5] + struct.pack(">HH", height, width) + data[i + 9 :]


def _jpeg_insert_after_soi(data: bytes, segments: bytes) -> bytes:
    return data[:2] + segments + data[2:]


def _app1_exif(tiff: bytes) -> bytes:
    body = b"Exif\x00\x00" + tiff
    assert len(body) + 2 <= 0xFFFF, len(body)
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def _ifd(entries: list[tuple[int, int, int, int]], next_ifd: int) -> bytes:
    """A little-endian TIFF IFD: (tag, type, count, value/offset) entries."""
    out = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        out += struct.pack("<HHII", tag, typ, count, value)
    return out + struct.pack("<I", next_ifd)


# ---------------------------------------------------------------------------------------------- bombs
def bomb_png():
    """A 110 KB PNG whose real pixel data inflates to 112 MB of 1-bit rows: 30000 x 30000 px (900 Mpx, 2.7 GB as
    BGR)."""
    w = h = 30000
    return _png(w, h, _zeros_deflated(h * (1 + w // 8)), bit_depth=1, color_type=0), "field.png", "image/png"


def bomb_png_at_cap():
    """A 4 KB PNG that decodes to 36 Mpx (just under the 40 Mpx cap): allowed, and memory must stay bounded."""
    w = h = 6000
    return _png(w, h, _zeros_deflated(h * (1 + w // 8)), bit_depth=1, color_type=0), "big.png", "image/png"


def bomb_jpeg():
    """A 1 KB JPEG whose frame header says 60000 x 60000 (libjpeg would allocate and fill 10 GB)."""
    return _jpeg_set_size(small_jpeg(16, 16), 60000, 60000), "trap.jpg", "image/jpeg"


def bomb_webp():
    """A lossless WebP (VP8L) re-labelled 16384 x 16384 (268 Mpx, 1 GB RGBA)."""
    data = bytearray(_encode(".webp", _photo(16, 16), [cv2.IMWRITE_WEBP_QUALITY, 101]))
    assert data[12:16] == b"VP8L"
    bits = struct.unpack_from("<I", data, 21)[0]
    bits = (bits & ~0xFFFFFFF) | (16383) | (16383 << 14)
    struct.pack_into("<I", data, 21, bits)
    return bytes(data), "trap.webp", "image/webp"


def bomb_webp_canvas():
    """An extended WebP (VP8X) whose canvas is 16 M x 16 M, wrapping a small lossy frame."""
    inner = _encode(".webp", _photo(16, 16), [cv2.IMWRITE_WEBP_QUALITY, 80])
    assert inner[12:16] == b"VP8 "
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4) + (2**24 - 1).to_bytes(3, "little") * 2
    body = b"WEBP" + vp8x + inner[12:]
    return b"RIFF" + struct.pack("<I", len(body)) + body, "trap.webp", "image/webp"


def bomb_gif():
    """A 62-byte GIF declaring a 65535 x 65535 screen and frame (4 Gpx), sent as trap.jpg / image/jpeg."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("P", (16, 16), 0).save(buf, "GIF")
    data = bytearray(buf.getvalue())
    struct.pack_into("<HH", data, 6, 65535, 65535)  # logical screen
    i = data.index(b"\x2c")  # image descriptor
    struct.pack_into("<HH", data, i + 5, 65535, 65535)
    return bytes(data), "trap.jpg", "image/jpeg"


def bomb_tiff():
    """A 10 KB TIFF declaring 100000 x 100000 px (10 GB) in one deflated strip."""
    w = h = 100000
    strip = _zeros_deflated(10 * 1024 * 1024)
    entries = [
        (256, 4, 1, w),
        (257, 4, 1, h),
        (258, 3, 1, 8),
        (259, 3, 1, 8),
        (262, 3, 1, 1),
        (273, 4, 1, 0),
        (277, 3, 1, 1),
        (278, 4, 1, h),
        (279, 4, 1, len(strip)),
    ]
    ifd_off = 8
    strip_off = ifd_off + 2 + 12 * len(entries) + 4
    entries[5] = (273, 4, 1, strip_off)
    data = b"II*\x00" + struct.pack("<I", ifd_off) + _ifd(entries, 0) + strip
    return data, "trap.tif", "image/tiff"


def header_png_2g():
    """A PNG IHDR of 2147483647 x 2147483647 (the PNG maximum; 4.6e18 px) on 100 bytes."""
    return _png(2**31 - 1, 2**31 - 1, zlib.compress(b"\0" * 64)), "a.png", "image/png"


def header_jpeg_zero_height():
    """A JPEG frame header of 64 x 0 (a height 'defined later by DNL' that never comes)."""
    return _jpeg_set_size(small_jpeg(64, 48), 64, 0), "a.jpg", "image/jpeg"


def jpeg_two_frames():
    """A 16 x 16 JPEG followed, before its scan, by a second frame header saying 60000 x 60000."""
    data = small_jpeg(16, 16)
    i = data.index(b"\xff\xc0")
    (length,) = struct.unpack_from(">H", data, i + 2)
    sof = bytearray(data[i : i + 2 + length])
    struct.pack_into(">HH", sof, 5, 60000, 60000)
    j = data.index(b"\xff\xda")
    return data[:j] + bytes(sof) + data[j:], "a.jpg", "image/jpeg"


def jpeg_many_scans():
    """A progressive JPEG of 16 x 16 with 2000 scans (a known libjpeg CPU bomb pattern)."""
    data = _encode(".jpg", _photo(16, 16), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    j = data.index(b"\xff\xda")
    end = data.rindex(b"\xff\xd9")
    nxt = data.index(b"\xff\xda", j + 2)  # the first scan, up to the second one
    return data[:j] + data[j:nxt] * 2000 + data[nxt:end] + b"\xff\xd9", "a.jpg", "image/jpeg"


# --------------------------------------------------------------------------------------- truncated / empty
def truncated_jpeg():
    """A real JPEG cut after a third of its bytes (headers and part of the scan are there)."""
    data = small_jpeg(640, 480)
    return data[: len(data) // 3], "a.jpg", "image/jpeg"


def truncated_jpeg_headers():
    """A JPEG cut inside its headers (before any scan data)."""
    data = small_jpeg(640, 480)
    return data[: data.index(b"\xff\xda") - 20], "a.jpg", "image/jpeg"


def truncated_png():
    """A real PNG cut in the middle of its pixel data."""
    data = small_png(640, 480)
    return data[: len(data) // 2], "a.png", "image/png"


def empty():
    return b"", "a.jpg", "image/jpeg"


# ------------------------------------------------------------------------------------------- polyglots
def polyglot_jpeg_html():
    """A valid JPEG with an HTML page (and a script) appended: a browser sniffing it could render it."""
    html = b"<!doctype html><html><body><script>fetch('/api/v1/auth/me')</script></body></html>"
    return small_jpeg() + html, "a.jpg", "image/jpeg"


def polyglot_jpeg_zip():
    """A valid JPEG with a ZIP archive appended (opens as both; a classic smuggling format)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("payload.sh", "#!/bin/sh\necho pwned\n")
    return small_jpeg() + buf.getvalue(), "a.jpg", "image/jpeg"


def polyglot_png_html():
    """A valid PNG, then an HTML page, then a copy of the IEND chunk so the file still *ends* like a PNG."""
    html = b"<html><script>alert(document.cookie)</script></html>"
    return small_png() + html + _chunk(b"IEND", b""), "a.png", "image/png"


def html_in_jpeg_comment():
    """A valid, complete JPEG whose COM segment is an HTML page (legal JPEG: must be served as an image only)."""
    html = b"<html><script>alert(document.cookie)</script></html>"
    com = b"\xff\xfe" + struct.pack(">H", len(html) + 2) + html
    return _jpeg_insert_after_soi(small_jpeg(), com), "a.jpg", "image/jpeg"


def svg_script():
    svg = (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        b"<script>alert(document.domain)</script><rect width='100' height='100'/></svg>"
    )
    return svg, "a.svg", "image/svg+xml"


def svg_named_jpg():
    data, _, _ = svg_script()
    return data, "a.jpg", "image/jpeg"


# ------------------------------------------------------------------------------- wrong name / content type
def png_named_jpg():
    """Legitimate PNG bytes called .jpg with image/jpeg: the bytes decide, not the name."""
    return small_png(), "a.jpg", "image/jpeg"


def pdf_named_jpg():
    pdf = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R/OpenAction<</S/JavaScript/JS(app.alert(1))>>>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    return pdf, "a.jpg", "image/jpeg"


# ---------------------------------------------------------------------------------------------- EXIF
def exif_many_entries():
    """A JPEG whose EXIF IFD0 has 5000 entries (the APP1 limit is 64 KB), all orientation tags."""
    n = 5000
    tiff = b"II*\x00" + struct.pack("<I", 8) + _ifd([(0x0112, 3, 1, 6)] * n, 0)
    return _jpeg_insert_after_soi(small_jpeg(), _app1_exif(tiff)), "a.jpg", "image/jpeg"


def exif_loop():
    """EXIF whose IFD chain and sub-IFD pointers loop back to themselves (a naive parser never ends)."""
    entries = [(0x0112, 3, 1, 1), (0x8769, 4, 1, 8), (0x8825, 4, 1, 8), (0xA005, 4, 1, 8)]
    tiff = b"II*\x00" + struct.pack("<I", 8) + _ifd(entries, 8)
    return _jpeg_insert_after_soi(small_jpeg(), _app1_exif(tiff)), "a.jpg", "image/jpeg"


def exif_huge():
    """A JPEG carrying 300 EXIF segments of 64 KB each (19 MB of metadata around a 64 x 48 picture), whose
    entries point at counts of 2^32 - 1 values past the end."""
    entries = [(0x010F, 2, 0xFFFFFFFF, 8), (0x0112, 3, 1, 6), (0x927C, 7, 0xFFFFFFFF, 0)]
    tiff = b"II*\x00" + struct.pack("<I", 8) + _ifd(entries, 0)
    seg = _app1_exif(tiff + b"\0" * (65533 - 6 - len(tiff)))
    return _jpeg_insert_after_soi(small_jpeg(), seg * 300), "a.jpg", "image/jpeg"


def png_iccp_bomb():
    """A PNG whose iCCP colour profile inflates to 100 MB."""
    iccp = _chunk(b"iCCP", b"icc\x00\x00" + _zeros_deflated(100 * 1024 * 1024))
    img = _photo(64, 48)[:, :, ::-1]
    raw = b"".join(b"\0" + row.tobytes() for row in img)
    return _png(64, 48, zlib.compress(raw), before_idat=iccp), "a.png", "image/png"


# -------------------------------------------------------------------------------------- legit but unusual
def png_16bit():
    """A 16-bit-per-channel RGB PNG (legitimate; scientific cameras write these)."""
    img = _photo(64, 48).astype(np.uint16) * 257
    return _encode(".png", img), "a.png", "image/png"


def jpeg_cmyk():
    """A CMYK JPEG (Adobe APP14, inverted), as print workflows write them."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(_photo(64, 48)[:, :, ::-1]).convert("CMYK").save(buf, "JPEG", quality=90)
    return buf.getvalue(), "a.jpg", "image/jpeg"


def gif_animated():
    from PIL import Image

    frames = [Image.new("P", (32, 32), c) for c in (1, 2, 3)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue(), "a.gif", "image/gif"


def png_animated():
    """An APNG (acTL + fcTL) whose second frame claims to be 60000 x 60000 at offset 2^31."""
    img = _photo(32, 32)[:, :, ::-1]
    raw = zlib.compress(b"".join(b"\0" + row.tobytes() for row in img))
    actl = _chunk(b"acTL", struct.pack(">II", 2, 0))
    fctl0 = _chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 32, 32, 0, 0, 1, 10, 0, 0))
    fctl1 = _chunk(b"fcTL", struct.pack(">IIIIIHHBB", 1, 60000, 60000, 2**31, 2**31, 1, 10, 0, 0))
    fdat = _chunk(b"fdAT", struct.pack(">I", 2) + raw)
    ihdr = struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + actl
        + fctl0
        + _chunk(b"IDAT", raw)
        + fctl1
        + fdat
        + _chunk(b"IEND", b"")
    )
    return data, "a.png", "image/png"


def webp_animated():
    """An extended WebP with the animation flag (ANIM/ANMF chunks)."""
    inner = _encode(".webp", _photo(16, 16), [cv2.IMWRITE_WEBP_QUALITY, 80])[12:]
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes([0x02, 0, 0, 0]) + (15).to_bytes(3, "little") * 2
    anim = b"ANIM" + struct.pack("<I", 6) + bytes(4) + struct.pack("<H", 0)
    frame = bytes(6) + (15).to_bytes(3, "little") * 2 + (100).to_bytes(3, "little") + b"\x00" + inner
    anmf = b"ANMF" + struct.pack("<I", len(frame)) + frame + (b"\0" if len(frame) % 2 else b"")
    body = b"WEBP" + vp8x + anim + anmf
    return b"RIFF" + struct.pack("<I", len(body)) + body, "a.webp", "image/webp"


def tiny_1x1():
    """A legitimate 1 x 1 PNG (scaled up 640 times by the detector)."""
    return _encode(".png", np.full((1, 1, 3), 90, np.uint8)), "a.png", "image/png"


def wide_20000x1():
    """A legitimate 20000 x 1 PNG (letterboxed to 640 x 0.03 px by the detector)."""
    row = np.tile(_photo(200, 1), (1, 100, 1))
    return _encode(".png", row), "a.png", "image/png"


def tall_1x20000():
    """A legitimate 1 x 20000 JPEG."""
    col = np.tile(_photo(1, 200), (100, 1, 1))
    return _encode(".jpg", col), "a.jpg", "image/jpeg"


# ------------------------------------------------------------------------------------------------- the tables
@dataclass(frozen=True)
class Case:
    """``camera``: expected outcome of both camera paths (``"<status> <code>"`` for a refusal, ``"done"``, or
    ``"failed <reason code>"`` once the worker had it); ``diary``: the diary upload's (``"201"`` or a refusal);
    ``worker``: what the worker's service makes of the bytes when they reach it without the API's check."""

    id: str
    generate: Callable[[], tuple[bytes, str, str]]
    camera: str
    diary: str
    worker: str
    memory: int = MEMORY_BUDGET

    def make(self) -> tuple[bytes, str, str]:
        """(bytes, file name, content type); generated once per run (the PNG bomb takes 0.3 s to deflate)."""
        return _generated(self.generate)


@functools.cache
def _generated(generate: Callable[[], tuple[bytes, str, str]]) -> tuple[bytes, str, str]:
    return generate()


# a few shorthands for the tables
PIXELS, CORRUPT, NOT_IMAGE = "422 image_too_many_pixels", "422 image_corrupt", "415 image_not_an_image"
UNSUPPORTED, TRAILING = "415 image_unsupported_format", "422 image_trailing_data"
W_PIXELS, W_CORRUPT, W_UNSUPPORTED, W_NOT_IMAGE = (
    "failed too_many_pixels",
    "failed corrupt",
    "failed unsupported_format",
    "failed not_an_image",
)

CASES = [
    # decompression bombs: tiny files, gigantic pixel counts
    Case("bomb-png-30000x30000", bomb_png, PIXELS, PIXELS, W_PIXELS),
    # under the 40 Mpx cap, so it is decoded: OpenCV decodes into its own buffer and the binding copies it into
    # numpy, 2 x 3 bytes per pixel at the peak (~216 MB here, ~240 MB at the cap) - the pixel cap bounds it
    Case("bomb-png-6000x6000-under-cap", bomb_png_at_cap, "done", "201", "done", memory=2 * 3 * 6000 * 6000 + 48 * MB),
    Case("bomb-jpeg-60000x60000", bomb_jpeg, PIXELS, PIXELS, W_PIXELS),
    Case("bomb-webp-vp8l-16384x16384", bomb_webp, PIXELS, PIXELS, W_PIXELS),
    Case("bomb-webp-vp8x-canvas-16M", bomb_webp_canvas, PIXELS, PIXELS, W_PIXELS),
    Case("bomb-gif-65535x65535", bomb_gif, UNSUPPORTED, UNSUPPORTED, W_UNSUPPORTED),
    Case("bomb-tiff-100000x100000", bomb_tiff, UNSUPPORTED, UNSUPPORTED, W_UNSUPPORTED),
    # lying headers
    Case("header-png-2^31x2^31", header_png_2g, PIXELS, PIXELS, W_PIXELS),
    Case("header-jpeg-height-0", header_jpeg_zero_height, CORRUPT, CORRUPT, W_CORRUPT),
    Case("jpeg-second-frame-60000x60000", jpeg_two_frames, CORRUPT, CORRUPT, W_CORRUPT),
    Case("jpeg-2000-scans", jpeg_many_scans, "failed corrupt", CORRUPT, W_CORRUPT),
    # cut short, empty
    Case("truncated-jpeg", truncated_jpeg, "failed corrupt", CORRUPT, W_CORRUPT),
    Case("truncated-jpeg-in-headers", truncated_jpeg_headers, CORRUPT, CORRUPT, W_CORRUPT),
    Case("truncated-png", truncated_png, "failed corrupt", CORRUPT, W_CORRUPT),
    Case("zero-bytes", empty, "422 image_empty", "422 image_empty", "failed empty"),
    # polyglots and active content
    Case("polyglot-jpeg+html", polyglot_jpeg_html, "failed corrupt", TRAILING, W_CORRUPT),
    Case("polyglot-jpeg+zip", polyglot_jpeg_zip, "failed corrupt", TRAILING, W_CORRUPT),
    Case("polyglot-png+html+IEND", polyglot_png_html, "failed corrupt", TRAILING, W_CORRUPT),
    Case("html-in-jpeg-comment", html_in_jpeg_comment, "done", "201", "done"),
    Case("svg-with-script", svg_script, NOT_IMAGE, NOT_IMAGE, W_NOT_IMAGE),
    Case("svg-named-jpg", svg_named_jpg, NOT_IMAGE, NOT_IMAGE, W_NOT_IMAGE),
    # wrong name / content type
    Case("png-named-jpg", png_named_jpg, "done", "201", "done"),
    Case("pdf-named-jpg", pdf_named_jpg, NOT_IMAGE, NOT_IMAGE, W_NOT_IMAGE),
    # EXIF and metadata bombs
    Case("exif-5000-entries", exif_many_entries, "done", "201", "done"),
    Case("exif-ifd-loops", exif_loop, "done", "201", "done"),
    Case("exif-300-segments-19MB", exif_huge, "done", "201", "done"),
    Case("png-iccp-inflates-100MB", png_iccp_bomb, "failed corrupt", CORRUPT, W_CORRUPT),
    # legitimate but unusual
    Case("png-16-bit", png_16bit, "done", "201", "done"),
    Case("jpeg-cmyk", jpeg_cmyk, "done", "201", "done"),
    Case("gif-animated", gif_animated, UNSUPPORTED, UNSUPPORTED, W_UNSUPPORTED),
    Case("apng-hostile-frame", png_animated, UNSUPPORTED, UNSUPPORTED, W_UNSUPPORTED),
    Case("webp-animated", webp_animated, UNSUPPORTED, UNSUPPORTED, W_UNSUPPORTED),
    Case("png-1x1", tiny_1x1, "done", "201", "done"),
    Case("png-20000x1", wide_20000x1, "done", "201", "done"),
    Case("jpeg-1x20000", tall_1x20000, "done", "201", "done"),
]
IDS = [c.id for c in CASES]
assert len(set(IDS)) == len(IDS) >= 15


# ------------------------------------------------------------------------------------------------ fixtures
# The root fixtures (``settings``, ``storage``, ``sessions``, ``models_registered``) and tests/api's (``client``,
# ``enqueued``, ``tenant_a``), re-declared here per module (so only for this file): ~140 items share one database,
# bucket, app, cooperative and loaded model, and each item gets a plot and a camera of its own. With the
# function-scoped originals the set-up alone took 1-6 s an item (migrations, a bucket, four argon2 password hashes,
# uploading and loading the models), about 8 minutes for the tables. Same servers (the session's SeaweedFS and
# Redis), same settings, same app factory; ``presigned_upload`` and ``Enqueued`` come from tests/helpers.py.


@pytest.fixture(scope="module", params=helpers.DB_BACKENDS)
def db_url(request, tmp_path_factory):
    from cropwatch.core.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'cropwatch.db'}"
        upgrade(url)
        yield url
        return
    import sqlalchemy as sa

    from cropwatch.core.db import engine_for

    admin, name, url = helpers.pg_database()
    upgrade(url)
    yield url
    engine_for(url).dispose()
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module")
def settings(tmp_path_factory, db_url, s3_server, redis_url):
    s = Settings(
        _env_file=None,
        environment="test",
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=db_url,
        broker_url=redis_url,
        s3_endpoint=s3_server.endpoint,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
        s3_bucket=f"cw-{uuid.uuid4().hex[:12]}",
        max_attempts=3,
        onnx_threads=1,
        detect_conf=0.25,  # the production threshold: these tests time the worker
    )
    yield s
    helpers.drop_bucket(s3_server, s.s3_bucket)


@pytest.fixture(scope="module")
def storage(settings):
    from cropwatch.core.storage import Storage

    s = Storage(settings)
    s.ensure_bucket()
    return s


@pytest.fixture(scope="module")
def sessions(settings):
    from cropwatch.core.db import session_factory

    return session_factory(settings.db_url)


@pytest.fixture(scope="module")
def models_registered(sessions, storage):
    from models import registry

    with sessions.begin() as s:
        return {v.task.value: v.id for v in registry.bootstrap(s, storage)}


@pytest.fixture(scope="module")
def enqueued():
    return Enqueued()


@pytest.fixture(scope="module")
def client(settings, storage, enqueued):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(settings, enqueue=enqueued.append)) as c:
        yield c


@pytest.fixture(scope="module")
def _cooperative(sessions):
    with sessions.begin() as s:
        return make_tenant(s, f"h{uuid.uuid4().hex[:10]}")


@pytest.fixture
def tenant_a(sessions, _cooperative):
    """The module's cooperative (its users) with a plot and a camera of this test's own: captures, diary entries and
    S3 keys of one test never meet another's (the database and bucket are shared by the module)."""
    with sessions.begin() as s:
        first = s.get(Plot, _cooperative.plot_id)
        plot = Plot(
            cooperative_id=first.cooperative_id,
            farm_id=first.farm_id,
            name=f"Lô {uuid.uuid4().hex[:6]}",
            crop=first.crop,
        )
        s.add(plot)
        s.flush()
        token = new_token("cam")
        camera = Camera(
            cooperative_id=plot.cooperative_id,
            plot_id=plot.id,
            name=f"cam {plot.id}",
            token_hash=token_hash(token),
            model_task=ModelTask.pest,
        )
        s.add(camera)
        s.flush()
        return dataclasses.replace(_cooperative, plot_id=plot.id, camera_id=camera.id, camera_token=token)


# ---------------------------------------------------------------------------------------------- measurement
def _proc_status(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _proc_status("VmHWM") is not None
    except OSError:
        return False


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


class Measure:
    """Wall time, CPU time of this process (all threads: the app runs in TestClient's thread) and growth of the peak
    RSS over a block. Memory is exact on Linux (VmHWM reset first); elsewhere ``ru_maxrss``, which only sees growth
    above the highest peak so far (a lower bound)."""

    def __enter__(self) -> "Measure":
        import gc

        gc.collect(1)  # the young generations only: the module froze the rest (see _frozen_heap)
        self.exact = _reset_peak_rss()
        self.base = _proc_status("VmRSS") if self.exact else _maxrss()
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0
        peak = _proc_status("VmHWM") if self.exact else _maxrss()
        self.growth = max(0, peak - self.base)

    def __iadd__(self, other: "Measure") -> "Measure":
        """Two steps of one item: the times add up, the peak is the higher one."""
        self.seconds += other.seconds
        self.cpu += other.cpu
        self.growth = max(self.growth, other.growth)
        return self

    def check(self, what: str, case: Case, size: int, *, cpu_per_byte: bool = False) -> None:
        """``cpu_per_byte``: work that reads every byte (the PDF export) gets the transfer allowance in CPU too."""
        cpu = SECONDS_PER_ITEM + (size / TRANSFER_BYTES_PER_SECOND if cpu_per_byte else 0)
        assert self.cpu < cpu, f"{what}: {self.cpu:.2f} s of CPU"
        wall = WALL_SECONDS_PER_ITEM + size / TRANSFER_BYTES_PER_SECOND
        assert self.seconds < wall, f"{what}: {self.seconds:.2f} s (budget {wall:.2f} s for {size} bytes)"
        assert self.growth < case.memory, f"{what}: peak RSS grew by {self.growth / MB:.0f} MB"

    def __str__(self) -> str:
        return f"{self.seconds * 1000:5.0f} ms wall {self.cpu * 1000:5.0f} ms cpu {self.growth / MB:4.0f} MB"


# ------------------------------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module", autouse=True)
def _frozen_heap():
    """One full collection for the module, then the surviving objects are frozen out of the collector: late in the
    suite the process holds ~3 GB of objects and a full ``gc.collect()`` per measurement took ~10 s (py-spy), which
    was most of each case's time and made every later collection inside a timed block a risk."""
    import gc

    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="module")
def worker(settings, sessions, storage, models_registered):
    """The worker's service (production threshold, see conftest), its model loaded before anything is timed."""
    w = CaptureProcessor(settings, sessions, storage)
    with sessions() as s:
        w.models.get(s, ModelTask.pest)
    return w


def _refusal(resp) -> str:
    body = resp.json()
    assert body.get("code") and body.get("detail"), f"a refusal without a code and a reason: {resp.text}"
    return f"{resp.status_code} {body['code']}"


def _camera_upload(client, tenant, path: str, data: bytes, filename: str, content_type: str):
    """(response, capture id or None) through the direct POST or the presigned slot -> PUT -> confirm."""
    if path == "direct":
        resp = client.post(
            "/api/v1/ingest/upload", headers=tenant.camera_auth, files={"file": (filename, data, content_type)}
        )
        return resp, (resp.json()["capture"]["id"] if resp.status_code < 300 else None)
    resp = presigned_upload(client, tenant.camera_auth, data)
    return resp, (resp.json()["id"] if resp.status_code < 300 else None)


def _finished(sessions, capture_id: int, result) -> str:
    """The capture's end state as '<done|failed> [code]', checking the worker left a reason on a failure."""
    with sessions() as s:
        cap = s.get(Capture, capture_id)
        assert result.outcome in (Outcome.done, Outcome.failed), (result, cap.error)
        assert cap.status == (CaptureStatus.done if result.outcome == Outcome.done else CaptureStatus.failed)
        if cap.status == CaptureStatus.done:
            return "done"
        assert cap.error and ":" in cap.error, f"failed without a reason: {cap.error!r}"
        return f"failed {cap.error.split(':', 1)[0]}"


def _normal_photo() -> bytes:
    return rice_photos(1)[0].read_bytes()


def _count(sessions, model, **where) -> int:
    with sessions() as s:
        q = select(func.count(model.id))
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return s.scalar(q)


# --------------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("path", ["presigned", "direct"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_camera_upload_of_hostile_image(case, path, client, tenant_a, sessions, storage, enqueued, worker):
    data, filename, content_type = case.make()
    queued = len(enqueued)
    with Measure() as m:
        resp, capture_id = _camera_upload(client, tenant_a, path, data, filename, content_type)
    assert resp.status_code < 500, resp.text
    if capture_id is None:
        assert 400 <= resp.status_code < 500
        outcome = _refusal(resp)
    else:
        with Measure() as processing:
            outcome = _finished(sessions, capture_id, worker.process(capture_id))
        m += processing
    print(f"\nOUTCOME {case.id:34s} {path:9s} {outcome:34s} {m}")
    m.check(f"{case.id} via {path}", case, len(data))
    assert outcome == case.camera
    coop = tenant_a.cooperative_id
    if capture_id is None:  # a refusal leaves nothing behind and queues nothing
        assert _count(sessions, Capture, camera_id=tenant_a.camera_id) == 0 and enqueued[queued:] == []
        mine = f"{coop}/{tenant_a.camera_id}/"
        assert storage.list_keys(f"raw/{mine}") == [] and storage.list_keys(f"incoming/{mine}") == []
    else:
        assert enqueued[queued:] == [capture_id]
    # the API and the worker go on: the next normal photo is stored and processed
    resp, normal_id = _camera_upload(client, tenant_a, path, _normal_photo(), "trap.jpg", "image/jpeg")
    assert resp.status_code in (200, 201), resp.text
    assert worker.process(normal_id).outcome == Outcome.done


def test_content_type_comes_from_the_bytes_not_the_name(client, tenant_a, sessions):
    data, filename, content_type = png_named_jpg()
    resp, capture_id = _camera_upload(client, tenant_a, "direct", data, filename, content_type)
    assert resp.status_code == 201, resp.text
    with sessions() as s:
        assert s.get(Capture, capture_id).content_type == "image/png"  # what S3 serves it as, too


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_diary_photo_of_hostile_image(case, client, tenant_a, sessions, storage):
    data, filename, content_type = case.make()
    form = {"plot_id": tenant_a.plot_id, "type": "observation", "title": "ảnh thử"}
    with Measure() as m:
        resp = client.post(
            "/api/v1/diary",
            headers=tenant_a.auth(Role.member),
            data=form,
            files=[("photos", (filename, data, content_type))],
        )
    assert resp.status_code < 500, resp.text
    outcome = str(resp.status_code) if resp.status_code == 201 else _refusal(resp)
    print(f"\nOUTCOME {case.id:34s} {'diary':9s} {outcome:34s} {m}")
    m.check(f"{case.id} via diary", case, len(data))
    assert outcome == case.diary
    if resp.status_code == 201:
        [key] = resp.json()["photo_keys"]
        assert storage.get_bytes(key) == data
        # the season's PDF embeds the photo: an accepted photo must not break the export
        today = dt.date.today()
        with Measure() as m:
            pdf = client.get(
                "/api/v1/diary/export",
                headers=tenant_a.auth(Role.member),
                params={
                    "plot_id": tenant_a.plot_id,
                    "since": str(today - dt.timedelta(days=2)),
                    "until": str(today + dt.timedelta(days=2)),
                    "format": "pdf",
                },
            )
        print(f"OUTCOME {case.id:34s} {'diary-pdf':9s} {pdf.status_code!s:34s} {m}")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text[:300]
        m.check(f"{case.id}: the diary's PDF", case, len(data), cpu_per_byte=True)
    else:
        assert _count(sessions, DiaryEntry, plot_id=tenant_a.plot_id) == 0
        assert storage.list_keys(f"diary/{tenant_a.cooperative_id}/{tenant_a.plot_id}/") == []
    ok = client.post(
        "/api/v1/diary",
        headers=tenant_a.auth(Role.member),
        data=form,
        files=[("photos", ("leaf.jpg", _normal_photo(), "image/jpeg"))],
    )
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_worker_survives_bytes_that_skipped_the_api(case, worker, tenant_a, sessions, storage):
    """The same bytes stored as a capture without the API's header check (an older API, a bug, a restored
    bucket): the worker's safe decoder has the last word, and the worker goes on."""
    data, _, _ = case.make()
    key = f"raw/{tenant_a.cooperative_id}/{tenant_a.camera_id}/bypass/{uuid.uuid4().hex}"
    storage.put_bytes(key, data)
    with sessions.begin() as s:
        cap = Capture(
            cooperative_id=tenant_a.cooperative_id,
            camera_id=tenant_a.camera_id,
            plot_id=tenant_a.plot_id,
            object_key=key,
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            captured_at=utcnow(),
            status=CaptureStatus.stored,
        )
        s.add(cap)
        s.flush()
        capture_id = cap.id
    with Measure() as m:
        outcome = _finished(sessions, capture_id, worker.process(capture_id))
    print(f"\nOUTCOME {case.id:34s} {'worker':9s} {outcome:34s} {m}")
    m.check(f"{case.id} in the worker", case, len(data))
    assert outcome == case.worker
    with sessions() as s:
        normal, _ = direct_upload(
            s,
            storage,
            worker.settings,
            camera=s.get(Camera, tenant_a.camera_id),
            data=_normal_photo(),
            captured_at=utcnow(),
        )
        normal_id = normal.id
    assert worker.process(normal_id).outcome == Outcome.done
