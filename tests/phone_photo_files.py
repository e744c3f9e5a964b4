"""Phone photos built in memory, with the structure phones write: an Ultra HDR JPEG (a primary with an APP2 MPF
segment and XMP ``hdrgm`` + GContainer directory, its gain-map JPEG appended after the primary's EOI; Pillow's MPO
writer makes the real MPF structure) and Motion Photos (a primary whose XMP declares the MP4 appended after it)."""

from __future__ import annotations

import io
import struct

from PIL import Image

NS = (
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:Container="http://ns.google.com/photos/1.0/container/" '
    'xmlns:Item="http://ns.google.com/photos/1.0/container/item/" '
    'xmlns:hdrgm="http://ns.adobe.com/hdr-gain-map/1.0/" '
    'xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"'
)


def picture(width: int, height: int, seed: int = 0) -> Image.Image:
    """A small RGB picture with gradients (compresses like a photo, not like a flat colour)."""
    img = Image.linear_gradient("L").resize((width, height))
    return Image.merge("RGB", (img, img.rotate(90 + seed), img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


def jpeg(width: int = 64, height: int = 48, *, xmp: bytes | None = None, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    picture(width, height, seed).save(buf, format="JPEG", quality=90, **({"xmp": xmp} if xmp else {}))
    return buf.getvalue()


def xmp(items: list[tuple[str, str, int]], attributes: str = "") -> bytes:
    """An XMP packet: a Container:Directory of (semantic, mime, length) items, the primary first."""
    li = "".join(
        f'<rdf:li rdf:parseType="Resource"><Container:Item Item:Semantic="{s}" Item:Mime="{m}"'
        + (f' Item:Length="{n}"' if s != "Primary" else "")
        + ' Item:Padding="0"/></rdf:li>'
        for s, m, n in items
    )
    return (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {NS}><rdf:Description rdf:about="" {attributes}>'
        f"<Container:Directory><rdf:Seq>{li}</rdf:Seq></Container:Directory></rdf:Description></rdf:RDF>"
        "</x:xmpmeta>"
    ).encode()


def mp4(payload: int = 300) -> bytes:
    """A minimal MP4: an ``ftyp`` box, then an ``mdat`` box of ``payload`` bytes."""
    ftyp = b"isom" + struct.pack(">I", 0x200) + b"isomiso2mp41"
    return (
        struct.pack(">I", 8 + len(ftyp))
        + b"ftyp"
        + ftyp
        + struct.pack(">I", 8 + payload)
        + b"mdat"
        + bytes(range(256)) * (payload // 256)
        + bytes(payload % 256)
    )


def _mpo(primary: Image.Image, gain_map: Image.Image, packet: bytes) -> bytes:
    buf = io.BytesIO()
    primary.save(buf, format="MPO", save_all=True, append_images=[gain_map], xmp=packet, quality=90)
    return buf.getvalue()


def primary_length(data: bytes) -> int:
    """Where the primary ends: just past the first EOI after its first scan."""
    return data.index(b"\xff\xd9", data.index(b"\xff\xda")) + 2


def ultra_hdr(width: int = 64, height: int = 48, *, video: bytes = b"") -> tuple[bytes, int]:
    """(an Ultra HDR JPEG, the primary's length): the gain map (a quarter-size JPEG) after the primary, declared by
    MPF and by XMP (hdrgm:Version, directory Primary + GainMap of its length); ``video``: a Motion Photo too."""
    primary, gain_map = picture(width, height), picture(max(width // 4, 1), max(height // 4, 1), seed=1).convert("L")
    length = 0
    for _ in range(5):  # the gain map carries the same XMP, whose length field has as many digits as the length
        items = [("Primary", "image/jpeg", 0), ("GainMap", "image/jpeg", length)]
        if video:
            items.append(("MotionPhoto", "video/mp4", len(video)))
        motion = 'GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1"' if video else ""
        data = _mpo(primary, gain_map, xmp(items, f'hdrgm:Version="1.0" {motion}'))
        end = primary_length(data)
        if len(data) - end == length:
            return data + video, end
        length = len(data) - end
    raise AssertionError("the gain map's length did not settle")


def motion_photo(
    width: int = 64, height: int = 48, video: bytes | None = None, *, declared: int | None = None, flag: str = "1"
) -> tuple[bytes, int]:
    """(a Motion Photo, the primary's length): XMP Camera:MotionPhoto with a directory item of the video's length
    (``declared``: another length; ``flag``: another MotionPhoto value)."""
    video = mp4() if video is None else video
    length = len(video) if declared is None else declared
    packet = xmp(
        [("Primary", "image/jpeg", 0), ("MotionPhoto", "video/mp4", length)],
        f'GCamera:MotionPhoto="{flag}" GCamera:MotionPhotoVersion="1" GCamera:MotionPhotoPresentationTimestampUs="0"',
    )
    primary = jpeg(width, height, xmp=packet)
    return primary + video, len(primary)


def micro_video(
    width: int = 64, height: int = 48, video: bytes | None = None, *, declared: int | None = None
) -> tuple[bytes, int]:
    """(an older Motion Photo, the primary's length): GCamera:MicroVideo with MicroVideoOffset (the video's length
    unless ``declared``), no directory."""
    video = mp4() if video is None else video
    offset = len(video) if declared is None else declared
    packet = (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF {NS}><rdf:Description rdf:about="" '
        f'GCamera:MicroVideo="1" GCamera:MicroVideoVersion="1" GCamera:MicroVideoOffset="{offset}" '
        'GCamera:MicroVideoPresentationTimestampUs="0"/></rdf:RDF></x:xmpmeta>'
    ).encode()
    primary = jpeg(width, height, xmp=packet)
    return primary + video, len(primary)


def multi_picture(width: int = 64, height: int = 48) -> tuple[bytes, int]:
    """(a two-picture MPO as a stereo camera writes it, the primary's length): MPF alone, no XMP."""
    buf = io.BytesIO()
    picture(width, height).save(buf, format="MPO", save_all=True, append_images=[picture(width, height, 2)])
    data = buf.getvalue()
    return data, primary_length(data)


def mp_entry_at(data: bytes, index: int) -> int:
    """Offset in ``data`` of MP entry ``index`` (16 bytes: attribute, size, offset, two dependent entries) of the
    primary's MPF segment, as Pillow writes it (little-endian TIFF)."""
    tiff = data.index(b"MPF\x00") + 4
    assert data[tiff : tiff + 4] == b"II*\x00"
    (ifd,) = struct.unpack_from("<I", data, tiff + 4)
    (count,) = struct.unpack_from("<H", data, tiff + ifd)
    for k in range(count):
        tag, _, _, value = struct.unpack_from("<HHII", data, tiff + ifd + 2 + 12 * k)
        if tag == 0xB002:
            return tiff + value + 16 * index
    raise AssertionError("no MP entries")


def with_mp_entry(data: bytes, index: int, *, size: int = 0, offset: int = 0) -> bytes:
    """``data`` with MP entry ``index``'s size and offset moved by ``size`` / ``offset`` bytes."""
    at = mp_entry_at(data, index)
    old_size, old_offset = struct.unpack_from("<II", data, at + 4)
    return data[: at + 4] + struct.pack("<II", old_size + size, old_offset + offset) + data[at + 12 :]
