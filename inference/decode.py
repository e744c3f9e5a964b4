"""Safe image decoding: size, magic bytes, header dimensions and file completeness are checked BEFORE any pixel is
decoded, so a decompression bomb, a truncated upload or a polyglot is refused in microseconds.

Rules (all raise :class:`ImageRejected` with a stable ``code``):

* ``empty`` - no bytes; ``too_large`` - more than ``max_bytes``;
* ``not_an_image`` - no known image signature (text, HTML, ZIP...); ``unsupported_format`` - an image format that is
  not JPEG / PNG / WebP (GIF, BMP, TIFF, HEIC/AVIF, animated WebP);
* ``too_many_pixels`` - header width x height above ``max_pixels`` (checked from the header, never by decoding);
* ``corrupt`` - unreadable header, zero size, a file cut short (JPEG without its EOI marker after the scan data, PNG
  without IEND, WebP shorter than its RIFF size), bytes after the end of the image (a polyglot, also Samsung/"motion
  photo" trailers: pass ``allow_trailing_data=True`` to accept those), a progressive JPEG with an absurd number of
  scans (CPU bomb), or OpenCV failing to decode.

OpenCV's own cap ``OPENCV_IO_MAX_IMAGE_PIXELS`` is read once when cv2 loads; this module sets it (from
``CROPWATCH_MAX_IMAGE_PIXELS`` or 40 MP) if cv2 has not been imported yet, as a second line of defence.
"""

from __future__ import annotations

import os
import struct
import sys

DEFAULT_MAX_PIXELS = 40_000_000
if "cv2" not in sys.modules:  # the cap is read at cv2's load time only
    os.environ.setdefault(
        "OPENCV_IO_MAX_IMAGE_PIXELS", os.environ.get("CROPWATCH_MAX_IMAGE_PIXELS", str(DEFAULT_MAX_PIXELS))
    )

import cv2  # noqa: E402
import numpy as np  # noqa: E402

MAX_JPEG_SCANS = 64  # progressive JPEGs use ~10; thousands of tiny scans is a known CPU bomb
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# SOFn markers carry the frame size; C4 (DHT), C8 (JPG), CC (DAC) share the range but are not frames
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_OTHER_IMAGES = (  # recognised, refused as unsupported rather than "not an image"
    (0, b"GIF87a"), (0, b"GIF89a"), (0, b"II*\x00"), (0, b"MM\x00*"), (4, b"ftyp"), (0, b"\x00\x00\x00\x0cjP  "),
    (0, b"8BPS"), (0, b"\x00\x00\x01\x00"), (0, b"qoif"), (0, b"\xff\x0a"),
)


class ImageRejected(ValueError):
    """An upload that will not be decoded. ``code``: empty | too_large | not_an_image | unsupported_format |
    too_many_pixels | corrupt; ``message``: for humans."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message

    def __repr__(self) -> str:
        return f"ImageRejected({self.code!r}, {self.message!r})"


def sniff_format(data: bytes) -> str | None:
    """'jpeg' | 'png' | 'webp' from the magic bytes, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == _PNG_SIG:
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _other_image(data: bytes) -> bool:
    if data[:2] == b"BM" and len(data) >= 26 and data[6:10] == b"\x00\x00\x00\x00":  # BMP: reserved fields zero
        return True
    return any(data[off : off + len(sig)] == sig for off, sig in _OTHER_IMAGES)


def _corrupt(message: str) -> ImageRejected:
    return ImageRejected("corrupt", message)


def _jpeg_header(data: bytes) -> tuple[int, int, int]:
    """(width, height, offset of the first SOS marker), walking the marker segments from SOI."""
    n, i, size = len(data), 2, None
    while i < n:
        if data[i] != 0xFF:
            raise _corrupt(f"JPEG: expected a marker at byte {i}")
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            break
        marker = data[i]
        i += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            continue
        if marker == 0xD9:
            raise _corrupt("JPEG: end of image before any scan data")
        if i + 2 > n:
            break
        (length,) = struct.unpack_from(">H", data, i)
        if length < 2:
            raise _corrupt("JPEG: bad segment length")
        if marker in _JPEG_SOF and size is None:
            if i + 7 > n:
                break
            h, w = struct.unpack_from(">HH", data, i + 3)
            size = (w, h)
        if marker == 0xDA:
            if size is None:
                raise _corrupt("JPEG: scan data before the frame header")
            return size[0], size[1], i - 2
        i += length
    raise _corrupt("JPEG: file ends inside the headers (truncated)")


def _webp_size(data: bytes) -> tuple[int, int]:
    if len(data) < 30:
        raise _corrupt("WebP: header truncated")
    fourcc, p = data[12:16], 20
    if fourcc == b"VP8 ":
        if data[p + 3 : p + 6] != b"\x9d\x01\x2a":
            raise _corrupt("WebP: bad VP8 start code")
        w, h = struct.unpack_from("<HH", data, p + 6)
        return w & 0x3FFF, h & 0x3FFF
    if fourcc == b"VP8L":
        if data[p] != 0x2F:
            raise _corrupt("WebP: bad VP8L signature")
        (bits,) = struct.unpack_from("<I", data, p + 1)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if fourcc == b"VP8X":
        if data[p] & 0x02:
            raise ImageRejected("unsupported_format", "animated WebP is not supported; send a still image")
        w = int.from_bytes(data[p + 4 : p + 7], "little") + 1
        h = int.from_bytes(data[p + 7 : p + 10], "little") + 1
        return w, h
    raise _corrupt(f"WebP: unknown chunk {fourcc!r}")


def image_dimensions(data: bytes) -> tuple[int, int]:
    """(width, height) read from the JPEG SOF / PNG IHDR / WebP VP8* header, without decoding any pixels."""
    fmt = sniff_format(data)
    if fmt == "jpeg":
        w, h, _ = _jpeg_header(data)
    elif fmt == "png":
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise _corrupt("PNG: IHDR chunk missing")
        w, h = struct.unpack_from(">II", data, 16)
    elif fmt == "webp":
        w, h = _webp_size(data)
    else:
        raise ImageRejected("not_an_image", "not a JPEG, PNG or WebP file")
    if w <= 0 or h <= 0:
        raise _corrupt(f"{fmt.upper()}: the header declares a {w}x{h} image")
    return w, h


def _check_complete(fmt: str, data: bytes, allow_trailing: bool) -> None:
    """Refuse files cut short and, unless allowed, bytes after the image's end (polyglots, appended archives)."""
    n = len(data)
    if fmt == "jpeg":
        _, _, sos = _jpeg_header(data)
        end = data.find(b"\xff\xd9", sos)  # inside scan data 0xFF is stuffed, so the first FFD9 is the EOI
        if end < 0:
            raise _corrupt("JPEG: no end-of-image marker (truncated upload?)")
        if data.count(b"\xff\xda", sos, end) > MAX_JPEG_SCANS:
            raise _corrupt(f"JPEG: more than {MAX_JPEG_SCANS} scans")
        end += 2
    elif fmt == "png":
        if data.endswith(_PNG_IEND):
            return
        end = data.rfind(_PNG_IEND)
        if end < 0:
            raise _corrupt("PNG: no IEND chunk (truncated upload?)")
        end += len(_PNG_IEND)
    else:
        (riff,) = struct.unpack_from("<I", data, 4)
        end = riff + 8
        if n < end:
            raise _corrupt("WebP: shorter than its RIFF size (truncated upload?)")
    trailing = data[end:]
    if trailing and not allow_trailing and trailing.strip(b"\x00\xff"):  # zero/FF padding is harmless
        raise _corrupt(f"{len(trailing)} bytes after the end of the {fmt.upper()} image (appended data)")


def decode_image(
    data: bytes | bytearray | memoryview,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = None,
    allow_trailing_data: bool = False,
) -> np.ndarray:
    """Decode an upload to a BGR uint8 (H, W, 3) array, or raise :class:`ImageRejected`.

    EXIF orientation is applied (as browsers and Ultralytics' ``imread`` do), so width and height may be swapped
    relative to the header.
    """
    if data is None or len(data) == 0:
        raise ImageRejected("empty", "the file is empty")
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageRejected("too_large", f"the file has {len(data)} bytes, more than the {max_bytes} allowed")
    if isinstance(data, memoryview):
        data = data.tobytes()
    fmt = sniff_format(data)
    if fmt is None:
        if _other_image(data):
            raise ImageRejected("unsupported_format", "only JPEG, PNG and WebP images are accepted")
        raise ImageRejected("not_an_image", "the file is not an image (no JPEG, PNG or WebP signature)")
    w, h = image_dimensions(data)
    if w * h > max_pixels:
        raise ImageRejected("too_many_pixels", f"{w}x{h} is {w * h} pixels, more than the {max_pixels} allowed")
    _check_complete(fmt, data, allow_trailing_data)
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as e:
        if "MAX_IMAGE_PIXELS" in str(e):
            raise ImageRejected("too_many_pixels", f"{w}x{h} is over OpenCV's pixel limit") from e
        raise _corrupt(f"{fmt.upper()}: OpenCV could not decode it") from e
    if img is None:
        raise _corrupt(f"{fmt.upper()}: OpenCV could not decode it")
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or sorted(img.shape[:2]) != sorted((w, h)):
        raise _corrupt(f"decoded {img.shape} {img.dtype} does not match the {w}x{h} header")
    return img
