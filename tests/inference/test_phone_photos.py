"""Phone photos with declared appended data (Ultra HDR gain maps, Motion Photo videos) are kept as their primary
image; anything appended that the photo does not declare exactly is still refused as a polyglot."""

from __future__ import annotations

import io
import zipfile

import phone_photo_files as pf
import pytest
from PIL import Image

from inference.decode import ImageRejected, check_complete, decode_image, image_dimensions, primary_image
from inference.phone_photos import declared_trailer

HTML = b"<!doctype html><html><body><script>fetch('/api/v1/auth/me')</script></body></html>"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("payload.sh", "#!/bin/sh\necho pwned\n")
    return buf.getvalue()


PHONE_PHOTOS = {
    "ultra-hdr": (lambda: pf.ultra_hdr(320, 240), "gain_map"),
    "ultra-hdr-motion-photo": (lambda: pf.ultra_hdr(320, 240, video=pf.mp4(5000)), "motion_photo"),
    "motion-photo": (lambda: pf.motion_photo(320, 240), "motion_photo"),
    "motion-photo-micro-video": (lambda: pf.micro_video(320, 240), "motion_photo"),
    "mpo-two-pictures": (lambda: pf.multi_picture(320, 240), "multi_picture"),
}


@pytest.mark.parametrize("name", PHONE_PHOTOS)
def test_declared_appended_data_is_trimmed_to_the_primary(name):
    build, kind = PHONE_PHOTOS[name]
    data, end = build()
    assert len(data) > end  # there is something after the primary's EOI
    assert declared_trailer(data, end) == kind
    kept = primary_image("jpeg", data)
    assert kept == data[:end] and kept.endswith(b"\xff\xd9")
    assert image_dimensions(kept) == (320, 240)
    check_complete("jpeg", data)  # no longer refused
    assert decode_image(data).shape == (240, 320, 3)  # the worker's decoder takes it too
    with Image.open(io.BytesIO(kept)) as im:  # what the PDF export does with a diary photo
        im.load()
        assert im.size == (320, 240)


def test_the_test_files_have_a_real_mpf_structure():
    """Pillow's own MPF reader finds the gain map where ours does (the builder is not just agreeing with itself).
    Pillow opens an Ultra HDR file as a plain JPEG (it does not read gain maps), so its MPF reader is asked
    directly."""
    data, end = pf.ultra_hdr(320, 240)
    with Image.open(io.BytesIO(data)) as im:
        entries = im._getmp()[0xB002]
        assert len(entries) == 2 and entries[0]["DataOffset"] == 0
        assert data.index(b"MPF\x00") + 4 + entries[1]["DataOffset"] == end
        assert end + entries[1]["Size"] == len(data)
    assert b"hdrgm:Version" in data[:end] and b'Item:Semantic="GainMap"' in data[:end]


def test_padding_after_the_declared_data_is_harmless():
    data, end = pf.ultra_hdr()
    assert primary_image("jpeg", data + bytes(64)) == data[:end]


def test_a_plain_jpeg_is_kept_as_it_is():
    data = pf.jpeg()
    assert primary_image("jpeg", data) is data
    assert primary_image("jpeg", data + bytes(10)) == data + bytes(10)  # padding was always accepted, and kept


def _ultra_hdr_with_gain_map(replacement: bytes) -> bytes:
    data, end = pf.ultra_hdr()
    assert len(replacement) <= len(data) - end
    return data[:end] + replacement.ljust(len(data) - end, b" ")


def _ultra_hdr_xmp_length_off_by_one() -> bytes:
    """The directory's gain-map length one byte short (same number of digits), the MPF still right."""
    data, end = pf.ultra_hdr()
    old = f'Item:Length="{len(data) - end}"'.encode()
    new = f'Item:Length="{len(data) - end - 1}"'.encode()
    assert len(old) == len(new) and old in data[:end]
    return data.replace(old, new, 1)


def _motion_photo_with(video: bytes, **kw) -> bytes:
    return pf.motion_photo(video=video, **kw)[0]


def _xmp_with_a_dtd() -> bytes:
    video = pf.mp4()
    packet = pf.xmp(
        [("Primary", "image/jpeg", 0), ("MotionPhoto", "video/mp4", len(video))], 'GCamera:MotionPhoto="1"'
    ).replace(b"<x:xmpmeta", b'<!DOCTYPE x [<!ENTITY a "1">]><x:xmpmeta', 1)
    return pf.jpeg(xmp=packet) + video


UNDECLARED = {
    # what was refused before and still is
    "jpeg+html": lambda: pf.jpeg() + HTML,
    "jpeg+zip": lambda: pf.jpeg() + _zip(),
    # something more after what is declared
    "ultra-hdr+html": lambda: pf.ultra_hdr()[0] + HTML,
    "motion-photo+zip": lambda: pf.motion_photo()[0] + _zip(),
    "micro-video+html": lambda: pf.micro_video()[0] + HTML,
    # MPF entries that do not match the bytes after the primary
    "mpf-offset-one-byte-late": lambda: pf.with_mp_entry(pf.ultra_hdr()[0], 1, offset=1),
    "mpf-offset-one-byte-early": lambda: pf.with_mp_entry(pf.ultra_hdr()[0], 1, offset=-1),
    "mpf-size-one-byte-short": lambda: pf.with_mp_entry(pf.ultra_hdr()[0], 1, size=-1),
    "mpf-size-past-the-file": lambda: pf.with_mp_entry(pf.ultra_hdr()[0], 1, size=1000),
    "mpf-first-entry-not-the-primary": lambda: pf.with_mp_entry(pf.ultra_hdr()[0], 0, offset=8),
    "mpf-and-xmp-disagree": _ultra_hdr_xmp_length_off_by_one,
    "mpo-offset-one-byte-late": lambda: pf.with_mp_entry(pf.multi_picture()[0], 1, offset=1),  # MPF alone
    "mpo-size-one-byte-short": lambda: pf.with_mp_entry(pf.multi_picture()[0], 1, size=-1),
    "mpo-size-one-byte-long": lambda: pf.with_mp_entry(pf.multi_picture()[0], 1, size=1),
    # declared lengths, but not what they declare
    "gain-map-that-is-html": lambda: _ultra_hdr_with_gain_map(HTML),
    "gain-map-that-is-a-zip": lambda: _ultra_hdr_with_gain_map(_zip()),
    "motion-video-that-is-html": lambda: _motion_photo_with(HTML),
    "motion-video-box-sizes-wrong": lambda: _motion_photo_with(pf.mp4()[:-1] + b"\x00\x00"),
    # XMP lengths that do not match
    "motion-length-one-more": lambda: _motion_photo_with(pf.mp4(), declared=len(pf.mp4()) + 1),
    "motion-length-one-less": lambda: _motion_photo_with(pf.mp4(), declared=len(pf.mp4()) - 1),
    "motion-photo-flag-off": lambda: _motion_photo_with(pf.mp4(), flag="0"),
    "micro-video-offset-too-long": lambda: pf.micro_video(declared=len(pf.mp4()) + 8)[0],
    "micro-video-offset-too-short": lambda: pf.micro_video(declared=len(pf.mp4()) - 8)[0],
    "xmp-with-a-dtd": _xmp_with_a_dtd,
}


@pytest.mark.parametrize("name", UNDECLARED)
def test_undeclared_appended_data_is_still_refused(name):
    data = UNDECLARED[name]()
    for check in (
        lambda: check_complete("jpeg", data),
        lambda: primary_image("jpeg", data),
        lambda: decode_image(data),
    ):
        with pytest.raises(ImageRejected) as err:
            check()
        assert (err.value.code, err.value.detail) == ("corrupt", "trailing_data")
