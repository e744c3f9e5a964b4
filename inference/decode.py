"""Safe image decoding: size, magic bytes, header dimensions and file completeness are checked BEFORE any pixel is
decoded, so a decompression bomb, a truncated upload or a polyglot is refused in microseconds.

Rules (all raise :class:`ImageRejected` with a stable ``code``):

* ``empty`` - no bytes; ``too_large`` - more than ``max_bytes``;
* ``not_an_image`` - no known image signature (text, HTML, SVG, PDF, ZIP...); ``unsupported_format`` - an image format
  that is not JPEG / PNG / WebP (GIF, BMP, TIFF, HEIC/AVIF, animated WebP, animated PNG);
* ``too_many_pixels`` - header width x height above ``max_pixels`` (checked from the header, never by decoding);
* ``corrupt`` - unreadable header, zero size, a file cut short (JPEG without its EOI marker after the scan data, PNG
  without IEND, WebP shorter than its RIFF size), bytes after the end of the image (a polyglot; pass
  ``allow_trailing_data=True`` to accept them) unless the photo declares them exactly (an Ultra HDR gain map, a
  Motion Photo video: :mod:`inference.phone_photos`; only the primary image is decoded and
  :func:`primary_image` gives the bytes to keep), a progressive JPEG with an absurd number of
  scans (CPU bomb), a JPEG with a second frame header (the first may be small and the second huge: decoders disagree
  on which one counts), a PNG with thousands of chunks before its pixel data or whose compressed metadata (colour
  profile, text) inflates past 1 MiB, or OpenCV failing to decode.

:func:`check_format`, :func:`image_dimensions` and :func:`check_complete` (or :func:`primary_image`, which also
trims a phone photo's declared appended data) are the pre-decoding checks on their own (the API refuses uploads with
them without decoding anything).

OpenCV's own cap ``OPENCV_IO_MAX_IMAGE_PIXELS`` is read once when cv2 loads; this module sets it (from
``CROPWATCH_MAX_IMAGE_PIXELS`` or 40 MP) if cv2 has not been imported yet, as a second line of defence.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from dataclasses import dataclass

DEFAULT_MAX_PIXELS = 40_000_000
if "cv2" not in sys.modules:  # the cap is read at cv2's load time only
    os.environ.setdefault(
        "OPENCV_IO_MAX_IMAGE_PIXELS", os.environ.get("CROPWATCH_MAX_IMAGE_PIXELS", str(DEFAULT_MAX_PIXELS))
    )

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from inference.phone_photos import declared_trailer  # noqa: E402

MAX_JPEG_SCANS = 64  # progressive JPEGs use ~10; thousands of tiny scans is a known CPU bomb
MAX_PNG_CHUNKS_BEFORE_IDAT = 1024  # a real PNG has a dozen (IHDR, PLTE, tRNS, gAMA, iCCP, pHYs, tEXt, eXIf...)
MAX_PNG_CHUNKS = 65536  # ~2500 IDATs of 8 KiB make a 20 MiB PNG
MAX_PNG_METADATA = 1 << 20  # inflated iCCP + zTXt + iTXt; an sRGB / Display P3 profile is 0.5-4 KiB
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
# SOFn markers carry the frame size; C4 (DHT), C8 (JPG), CC (DAC) share the range but are not frames
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_OTHER_IMAGES = (  # recognised, refused as unsupported rather than "not an image"
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"II*\x00"),
    (0, b"MM\x00*"),
    (4, b"ftyp"),
    (0, b"\x00\x00\x00\x0cjP  "),
    (0, b"8BPS"),
    (0, b"\x00\x00\x01\x00"),
    (0, b"qoif"),
    (0, b"\xff\x0a"),
)


class ImageRejected(ValueError):
    """An upload that will not be decoded. ``code``: empty | too_large | not_an_image | unsupported_format |
    too_many_pixels | corrupt; ``message``: for humans; ``detail``: a finer reason where one helps the uploader
    (``truncated``, ``trailing_data``), else None."""

    def __init__(self, code: str, message: str, detail: str | None = None):
        super().__init__(message)
        self.code, self.message, self.detail = code, message, detail

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


def check_format(data: bytes) -> str:
    """'jpeg' | 'png' | 'webp', or :class:`ImageRejected` ``unsupported_format`` (a known image format we do not take:
    GIF, TIFF, BMP, HEIC...) or ``not_an_image`` (anything else: HTML, SVG, PDF, ZIP...)."""
    fmt = sniff_format(data)
    if fmt is not None:
        return fmt
    if _other_image(data):
        raise ImageRejected("unsupported_format", "only JPEG, PNG and WebP images are accepted")
    raise ImageRejected("not_an_image", "the file is not an image (no JPEG, PNG or WebP signature)")


def _corrupt(message: str, detail: str | None = None) -> ImageRejected:
    return ImageRejected("corrupt", message, detail)


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
        if marker in _JPEG_SOF:
            if size is not None:  # libjpeg refuses it, PIL takes the last one: refuse before anyone decodes
                raise _corrupt("JPEG: more than one frame header")
            if i + 7 > n:
                break
            h, w = struct.unpack_from(">HH", data, i + 3)
            size = (w, h)
        if marker == 0xDA:
            if size is None:
                raise _corrupt("JPEG: scan data before the frame header")
            return size[0], size[1], i - 2
        i += length
    raise _corrupt("JPEG: file ends inside the headers (truncated)", "truncated")


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


def _png_size(data: bytes) -> tuple[int, int]:
    """IHDR's size; walks the chunks up to the first IDAT to refuse animated PNGs (acTL), as animated WebP is."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise _corrupt("PNG: IHDR chunk missing")
    w, h = struct.unpack_from(">II", data, 16)
    i, n = 8, len(data)
    for _ in range(MAX_PNG_CHUNKS_BEFORE_IDAT):
        if i + 8 > n:
            return w, h  # cut short before its pixel data: check_complete / the decoder say so
        (length,) = struct.unpack_from(">I", data, i)
        kind = data[i + 4 : i + 8]
        if kind == b"IDAT":
            return w, h
        if kind == b"acTL":
            raise ImageRejected("unsupported_format", "animated PNG (APNG) is not supported; send a still image")
        i += 12 + length
    raise _corrupt(f"PNG: more than {MAX_PNG_CHUNKS_BEFORE_IDAT} chunks before the image data")


def image_dimensions(data: bytes) -> tuple[int, int]:
    """(width, height) read from the JPEG SOF / PNG IHDR / WebP VP8* header, without decoding any pixels."""
    fmt = sniff_format(data)
    if fmt == "jpeg":
        w, h, _ = _jpeg_header(data)
    elif fmt == "png":
        w, h = _png_size(data)
    elif fmt == "webp":
        w, h = _webp_size(data)
    else:
        raise ImageRejected("not_an_image", "not a JPEG, PNG or WebP file")
    if w <= 0 or h <= 0:
        raise _corrupt(f"{fmt.upper()}: the header declares a {w}x{h} image")
    return w, h


def _png_metadata_size(kind: bytes, body: bytes, budget: int) -> int:
    """Bytes a compressed text / colour-profile chunk inflates to, reading at most ``budget + 1`` of them."""
    name_end = body.find(b"\x00", 0, 80)
    if name_end < 0:
        raise _corrupt(f"PNG: {kind.decode()} chunk without its keyword")
    if kind == b"iTXt":
        if len(body) < name_end + 3 or body[name_end + 1] == 0:
            return 0  # uncompressed international text: its length is the chunk's
        start = body.find(b"\x00", body.find(b"\x00", name_end + 3) + 1) + 1  # after language and translated key
        if start <= 0:
            raise _corrupt("PNG: iTXt chunk cut short")
    else:
        start = name_end + 2  # keyword, NUL, compression method
    try:
        inflater = zlib.decompressobj()
        out = inflater.decompress(body[start:], budget + 1)
    except zlib.error as exc:
        raise _corrupt(f"PNG: the compressed {kind.decode()} chunk is damaged ({exc})") from None
    return len(out) + (1 if inflater.unconsumed_tail else 0)


def _png_end(data: bytes) -> int:
    """Offset just past the first IEND chunk, walking the chunks (an IEND copied to the very end of a file does not
    hide what was appended after the real one). Compressed metadata (iCCP, zTXt, iTXt) may inflate to
    ``MAX_PNG_METADATA`` bytes per chunk and in all: a metadata bomb is refused before anything inflates it
    (Pillow, which renders diary photos into PDFs, refuses more than 1 MiB per chunk with an exception)."""
    i, n, metadata = 8, len(data), 0
    for _ in range(MAX_PNG_CHUNKS):
        if i + 12 > n:
            raise _corrupt("PNG: no IEND chunk (truncated upload?)", "truncated")
        (length,) = struct.unpack_from(">I", data, i)
        kind = data[i + 4 : i + 8]
        if kind == b"IEND":
            return i + 12
        if kind in (b"iCCP", b"zTXt", b"iTXt") and i + 8 + length <= n:
            metadata += _png_metadata_size(kind, data[i + 8 : i + 8 + length], MAX_PNG_METADATA - metadata)
            if metadata > MAX_PNG_METADATA:
                raise _corrupt(
                    f"PNG: compressed metadata ({kind.decode()}) inflates to more than "
                    f"{MAX_PNG_METADATA} bytes (a decompression bomb)"
                )
        i += 12 + length
    raise _corrupt(f"PNG: more than {MAX_PNG_CHUNKS} chunks")


def image_end(fmt: str, data: bytes) -> int:
    """Offset just past the image's end (a JPEG's first EOI after its scans, a PNG's IEND chunk, a WebP's RIFF
    size); refuses files cut short (``detail`` ``truncated``), the JPEG scan bomb and the PNG metadata bomb."""
    if fmt == "jpeg":
        _, _, sos = _jpeg_header(data)
        end = data.find(b"\xff\xd9", sos)  # inside scan data 0xFF is stuffed, so the first FFD9 is the EOI
        if end < 0:
            raise _corrupt("JPEG: no end-of-image marker (truncated upload?)", "truncated")
        if data.count(b"\xff\xda", sos, end) > MAX_JPEG_SCANS:
            raise _corrupt(f"JPEG: more than {MAX_JPEG_SCANS} scans")
        return end + 2
    if fmt == "png":
        return _png_end(data)
    (riff,) = struct.unpack_from("<I", data, 4)
    if len(data) < riff + 8:
        raise _corrupt("WebP: shorter than its RIFF size (truncated upload?)", "truncated")
    return riff + 8


def primary_image(fmt: str, data: bytes) -> bytes:
    """The image to keep, after :func:`check_complete`'s checks: ``data`` itself when nothing but zero/0xFF padding
    follows the image; a phone photo's primary JPEG alone (up to and including its EOI) when what follows is a
    gain map or a motion photo video the photo declares exactly (:mod:`inference.phone_photos`); anything else
    after the image is refused (``detail`` ``trailing_data``: a polyglot, an appended archive or page)."""
    end = image_end(fmt, data)
    trailing = data[end:]
    if not trailing.strip(b"\x00\xff"):  # zero/FF padding is harmless
        return data
    if fmt == "jpeg" and declared_trailer(data, end) is not None:
        return data[:end]
    raise _corrupt(f"{len(trailing)} bytes after the end of the {fmt.upper()} image (appended data)", "trailing_data")


def check_complete(fmt: str, data: bytes, *, allow_trailing_data: bool = False) -> None:
    """Refuse files cut short (``detail`` ``truncated``) and, unless allowed, bytes after the image's end that the
    image does not declare (polyglots, appended archives or pages: ``trailing_data``; see :func:`primary_image`),
    plus the JPEG scan bomb and the PNG metadata bomb; ``fmt`` from :func:`sniff_format`."""
    if allow_trailing_data:
        image_end(fmt, data)
    else:
        primary_image(fmt, data)


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
    return decode_reduced(
        data, long_side=None, max_pixels=max_pixels, max_bytes=max_bytes, allow_trailing_data=allow_trailing_data
    ).image


@dataclass(frozen=True)
class Decoded:
    """A decoded photo, maybe at a JPEG reduction: ``image`` (BGR uint8), the photo's own (oriented) ``width`` and
    ``height``, and ``scale`` = (original pixels per decoded pixel along x, along y); (1.0, 1.0) at full size."""

    image: np.ndarray
    width: int
    height: int
    scale: tuple[float, float]


#: libjpeg's DCT scaling: a JPEG decodes straight at 1/2, 1/4 or 1/8 of its size, in a fraction of the time and memory
_REDUCED_FLAGS = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def reduction_for(width: int, height: int, long_side: int | None) -> int:
    """The largest of 1, 2, 4, 8 that keeps the photo's long side at ``long_side`` pixels or more (1 for None)."""
    if not long_side:
        return 1
    longest = max(width, height)
    return max((f for f in (1, 2, 4, 8) if longest / f >= long_side), default=1)


def decode_reduced(
    data: bytes | bytearray | memoryview,
    *,
    long_side: int | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = None,
    allow_trailing_data: bool = False,
) -> Decoded:
    """:func:`decode_image`, but a JPEG whose long side is at least twice ``long_side`` (the detector's input side)
    is decoded straight at 1/2, 1/4 or 1/8 of its size, keeping the long side at ``long_side`` or more: the
    detector would shrink it to that anyway, and a 12 MP photo then costs ~2 MB of pixels instead of 36 MB. The
    same checks run first (nothing is decoded before them). PNG and WebP have no reduced decoding: they decode at
    full size (under ``max_pixels``) and, like a JPEG still at twice ``long_side`` or more after 1/8, are shrunk to
    ``long_side`` at once (:func:`shrink_to`); ``scale`` maps the kept pixels back to the photo's own."""
    if data is None or len(data) == 0:
        raise ImageRejected("empty", "the file is empty")
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageRejected("too_large", f"the file has {len(data)} bytes, more than the {max_bytes} allowed")
    if isinstance(data, memoryview):
        data = data.tobytes()
    fmt = check_format(data)
    w, h = image_dimensions(data)
    if w * h > max_pixels:
        raise ImageRejected("too_many_pixels", f"{w}x{h} is {w * h} pixels, more than the {max_pixels} allowed")
    if allow_trailing_data:
        image_end(fmt, data)
    else:
        data = primary_image(fmt, data)
    f = reduction_for(w, h, long_side) if fmt == "jpeg" else 1
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), _REDUCED_FLAGS.get(f, cv2.IMREAD_COLOR))
    except cv2.error as e:
        if "MAX_IMAGE_PIXELS" in str(e):
            raise ImageRejected("too_many_pixels", f"{w}x{h} is over OpenCV's pixel limit") from e
        raise _corrupt(f"{fmt.upper()}: OpenCV could not decode it") from e
    if img is None:
        raise _corrupt(f"{fmt.upper()}: OpenCV could not decode it")
    rw, rh = -(-w // f), -(-h // f)  # libjpeg rounds a scaled size up
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8 or sorted(img.shape[:2]) != sorted((rw, rh)):
        raise _corrupt(f"decoded {img.shape} {img.dtype} does not match the {w}x{h} header")
    # EXIF orientation may have turned the photo a quarter: its own size follows the decoded one
    ow, oh = (w, h) if (img.shape[1], img.shape[0]) == (rw, rh) else (h, w)
    if long_side and max(img.shape[:2]) >= 2 * long_side:
        img = shrink_to(img, long_side)
    return Decoded(img, ow, oh, (ow / img.shape[1], oh / img.shape[0]))


def shrink_to(img: np.ndarray, long_side: int) -> np.ndarray:
    """``img`` with its long side at ``long_side`` (pixel-area averaging, as the DCT scaling does): what a photo that
    could not be decoded reduced (a PNG, a WebP, a JPEG past 1/8) is kept as until its batch's forward pass, so a
    batch holds model-sized pixels whatever it was sent, and only one full-size decode is alive at a time."""
    h, w = img.shape[:2]
    f = long_side / max(h, w)
    return cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
