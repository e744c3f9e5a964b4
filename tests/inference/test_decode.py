from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
import zlib

import cv2
import numpy as np
import pytest

from inference.decode import ImageRejected, decode_image, decode_reduced, image_dimensions, sniff_format

MP = 40_000_000


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_bomb(w: int = 30000, h: int = 30000) -> bytes:
    """Valid signature + IHDR declaring w x h RGB + a tiny IDAT + IEND: 2.7 GB of pixels in ~60 bytes."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def encode(img: np.ndarray, ext: str, params: list[int] | None = None) -> bytes:
    ok, buf = cv2.imencode(ext, img, params or [])
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def jpeg(photo_files) -> bytes:
    return photo_files[0].read_bytes()


@pytest.fixture(scope="module")
def small() -> np.ndarray:
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8), (7, 7), 0)


def rejected(data, code: str, **kwargs) -> ImageRejected:
    kwargs.setdefault("max_pixels", MP)
    t = time.perf_counter()
    with pytest.raises(ImageRejected) as info:
        decode_image(data, **kwargs)
    assert time.perf_counter() - t < 0.5, "rejection must be fast"
    assert info.value.code == code, info.value
    assert info.value.message and str(info.value) == info.value.message
    return info.value


# -- good inputs ----------------------------------------------------------------------------------------------------
def test_real_jpeg_decodes(jpeg):
    img = decode_image(jpeg, max_pixels=MP, max_bytes=len(jpeg))
    assert img.dtype == np.uint8 and img.shape == (640, 640, 3) and img.flags.c_contiguous
    assert image_dimensions(jpeg) == (640, 640)
    np.testing.assert_array_equal(img, cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR))


@pytest.mark.parametrize(
    "ext, params, fmt",
    [
        (".jpg", [], "jpeg"),
        (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], "jpeg"),
        (".png", [], "png"),
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80], "webp"),  # lossy VP8
        (".webp", [cv2.IMWRITE_WEBP_QUALITY, 101], "webp"),  # lossless VP8L
    ],
)
def test_formats_round_trip(small, ext, params, fmt):
    data = encode(small, ext, params)
    assert sniff_format(data) == fmt
    assert image_dimensions(data) == (200, 120)
    img = decode_image(data, max_pixels=MP)
    assert img.shape == small.shape
    if ext == ".png" or 101 in params:
        np.testing.assert_array_equal(img, small)


def test_grayscale_and_alpha_png_become_bgr(small):
    for img in (small[..., 0], cv2.cvtColor(small, cv2.COLOR_BGR2BGRA)):
        assert decode_image(encode(img, ".png"), max_pixels=MP).shape == (120, 200, 3)


def test_trailing_padding_is_accepted(jpeg):
    assert decode_image(jpeg + b"\x00" * 100, max_pixels=MP).shape == (640, 640, 3)


def test_bytearray_and_memoryview(jpeg):
    for data in (bytearray(jpeg), memoryview(jpeg)):
        assert decode_image(data, max_pixels=MP).shape == (640, 640, 3)


# -- bad inputs -----------------------------------------------------------------------------------------------------
def test_empty():
    rejected(b"", "empty")


def test_too_large(jpeg):
    rejected(jpeg, "too_large", max_bytes=len(jpeg) - 1)


@pytest.mark.parametrize(
    "content",
    [
        b"<!DOCTYPE html><html><body>not a photo</body></html>",
        b"hello world\n",
        b"PK\x03\x04" + b"\x00" * 40,  # zip
        b"%PDF-1.7\n",
        b"\xff\xd8",  # two bytes of JPEG magic only
    ],
)
def test_not_an_image(tmp_path, content):
    path = tmp_path / "photo.jpg"  # the name lies
    path.write_bytes(content)
    rejected(path.read_bytes(), "not_an_image")


@pytest.mark.parametrize("ext", [".bmp", ".tiff", ".jp2"])
def test_unsupported_format(small, ext):
    rejected(encode(small, ext), "unsupported_format")


def test_gif_unsupported():
    rejected(b"GIF89a\x10\x00\x10\x00\x80\x00\x00" + b"\x00" * 30, "unsupported_format")


def test_png_bomb_rejected_from_header():
    bomb = png_bomb()
    assert len(bomb) < 100 and image_dimensions(bomb) == (30000, 30000)
    err = rejected(bomb, "too_many_pixels")
    assert "30000x30000" in err.message


def test_jpeg_with_huge_frame_header_rejected(jpeg):
    data = bytearray(jpeg)
    sof = next(i for i in range(2, len(data) - 1) if data[i] == 0xFF and data[i + 1] in (0xC0, 0xC2))
    struct.pack_into(">HH", data, sof + 5, 60000, 60000)
    assert image_dimensions(bytes(data)) == (60000, 60000)
    rejected(bytes(data), "too_many_pixels")


def test_webp_huge_canvas_rejected():
    vp8x = bytes([0, 0, 0, 0]) + (29999).to_bytes(3, "little") + (29999).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    data = b"RIFF" + struct.pack("<I", len(body)) + body
    assert image_dimensions(data) == (30000, 30000)
    rejected(data, "too_many_pixels")


def test_pixel_cap_is_a_parameter(jpeg):
    rejected(jpeg, "too_many_pixels", max_pixels=640 * 640 - 1)
    assert decode_image(jpeg, max_pixels=640 * 640).shape == (640, 640, 3)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_jpeg_is_corrupt(jpeg, keep):
    rejected(jpeg[: int(len(jpeg) * keep)], "corrupt")


def test_jpeg_cut_inside_headers_is_corrupt(jpeg):
    rejected(jpeg[:40], "corrupt")


@pytest.mark.parametrize("ext", [".png", ".webp"])
def test_truncated_png_webp_is_corrupt(small, ext):
    data = encode(small, ext)
    rejected(data[: len(data) // 2], "corrupt")
    rejected(data[:-1], "corrupt")


def test_appended_data_is_corrupt_unless_allowed(jpeg, small):
    polyglot = jpeg + b"PK\x03\x04" + b"payload" * 20
    err = rejected(polyglot, "corrupt")
    assert "after the end" in err.message
    assert decode_image(polyglot, max_pixels=MP, allow_trailing_data=True).shape == (640, 640, 3)
    rejected(encode(small, ".png") + b"<script>", "corrupt")
    rejected(encode(small, ".webp") + b"<script>", "corrupt")


def test_garbage_after_magic_is_corrupt():
    rejected(b"\xff\xd8\xff\xe0" + os.urandom(200), "corrupt")
    rejected(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "corrupt")


def test_zero_sized_header_is_corrupt():
    rejected(png_bomb(0, 10), "corrupt")


def test_jpeg_scan_bomb_is_corrupt(jpeg):
    sos = jpeg.index(b"\xff\xda")
    eoi = jpeg.rindex(b"\xff\xd9")
    scans = jpeg[sos:eoi]
    rejected(jpeg[:sos] + scans * 70 + b"\xff\xd9", "corrupt")


def test_opencv_pixel_cap_is_set_before_cv2_loads(tmp_path, jpeg):
    """Backstop: the env cap read by cv2 at load time comes from CROPWATCH_MAX_IMAGE_PIXELS (default 40 MP)."""
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg)
    code = (
        "import os, sys; from inference.decode import decode_image, ImageRejected\n"
        "print(os.environ['OPENCV_IO_MAX_IMAGE_PIXELS'])\n"
        f"data = open({str(path)!r}, 'rb').read()\n"
        "try: decode_image(data, max_pixels=10**9)\n"
        "except ImageRejected as e: print(e.code)\n"
    )
    env = {**os.environ, "CROPWATCH_MAX_IMAGE_PIXELS": "1000"}
    env.pop("OPENCV_IO_MAX_IMAGE_PIXELS", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1000", "too_many_pixels"]


def test_exif_orientation_is_applied(small):
    """A portrait phone photo stored landscape + EXIF Orientation=6 decodes upright (header dims are swapped)."""
    import io

    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    buf = io.BytesIO()
    Image.fromarray(small[..., ::-1]).save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    data = buf.getvalue()
    assert image_dimensions(data) == (200, 120)
    assert decode_image(data, max_pixels=MP).shape == (200, 120, 3)


# -- decoding near the model's size ---------------------------------------------------------------------------------
def _jpeg(img: np.ndarray, exif_orientation: int | None = None) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    kw = {}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kw["exif"] = exif.tobytes()
    Image.fromarray(img[..., ::-1]).save(buf, "JPEG", quality=92, **kw)
    return buf.getvalue()


def _scene(w: int, h: int) -> np.ndarray:
    img = np.full((h, w, 3), 90, np.uint8)
    cv2.rectangle(img, (w // 4, h // 3), (w // 2, h // 2), (20, 200, 240), -1)
    return img


def test_a_big_jpeg_decodes_straight_near_the_models_side():
    data = _jpeg(_scene(4000, 3000))
    d = decode_reduced(data, long_side=480, max_pixels=MP)
    assert d.image.shape == (375, 500, 3), "1/8: the long side stays at 480 or more"
    assert (d.width, d.height) == (4000, 3000) and d.scale == (8.0, 8.0)
    full = decode_reduced(data, long_side=None, max_pixels=MP)
    assert full.image.shape == (3000, 4000, 3) and full.scale == (1.0, 1.0)
    # the same picture, smaller: the yellow rectangle is where it was, in the photo's own pixels
    ys, xs = np.nonzero(d.image[..., 2] > 200)
    assert abs(xs.min() * d.scale[0] - 1000) <= 16 and abs(ys.min() * d.scale[1] - 1000) <= 16
    assert decode_reduced(data, long_side=1600, max_pixels=MP).scale == (2.0, 2.0)
    assert decode_reduced(_jpeg(_scene(640, 480)), long_side=480, max_pixels=MP).scale == (1.0, 1.0)


def test_a_reduced_decode_keeps_the_exif_turn_and_the_odd_sizes():
    data = _jpeg(_scene(3001, 2003), exif_orientation=6)  # a portrait phone photo stored landscape, odd sizes
    d = decode_reduced(data, long_side=640, max_pixels=MP)
    assert d.image.shape == (751, 501, 3), "1/4 (1/8 would be under 640): ceil(3001 / 4) × ceil(2003 / 4), upright"
    assert (d.width, d.height) == (2003, 3001)
    assert d.scale == (2003 / 501, 3001 / 751)


def test_a_reduced_decode_runs_the_same_checks_first():
    data = _jpeg(_scene(4000, 3000))
    with pytest.raises(ImageRejected) as e:
        decode_reduced(data[: len(data) // 2], long_side=480, max_pixels=MP)
    assert e.value.code == "corrupt"
    with pytest.raises(ImageRejected) as e:
        decode_reduced(data, long_side=480, max_pixels=4000 * 3000 - 1)
    assert e.value.code == "too_many_pixels"


def test_a_big_png_is_kept_at_the_models_side_not_its_own():
    """PNG has no reduced decoding: it decodes whole, then only model-sized pixels are kept for the batch."""
    img = _scene(4000, 3000)
    data = cv2.imencode(".png", img)[1].tobytes()
    d = decode_reduced(data, long_side=480, max_pixels=MP)
    assert d.image.shape == (360, 480, 3) and (d.width, d.height) == (4000, 3000)
    assert d.scale == (4000 / 480, 3000 / 360)
    ys, xs = np.nonzero(d.image[..., 2] > 200)  # the yellow rectangle, mapped back to the photo's own pixels
    assert abs(xs.min() * d.scale[0] - 1000) <= 12 and abs(ys.min() * d.scale[1] - 1000) <= 12
    # under twice the model's side a PNG is left as it is (the letterbox resizes it once, as before)
    small = cv2.imencode(".png", _scene(900, 600))[1].tobytes()
    assert decode_reduced(small, long_side=480, max_pixels=MP).image.shape == (600, 900, 3)
    assert decode_reduced(data, long_side=None, max_pixels=MP).image.shape == (3000, 4000, 3), "windows: every pixel"
