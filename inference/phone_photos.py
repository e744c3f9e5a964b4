"""Phone photos that carry more than one picture in one JPEG file: what follows the primary image's end-of-image
marker is accepted only where the photo itself declares it, byte for byte.

Recent phones shoot these by default:

* **Ultra HDR** (Android 14+): a gain-map JPEG appended after the primary, declared by an APP2 ``MPF`` segment
  (CIPA DC-007 Multi-Picture Format: one MP entry per image with its size and its offset from the segment's TIFF
  header, the first entry being the primary at offset 0) and by XMP (``hdrgm:Version`` and a GContainer
  ``Container:Directory`` listing the primary, then the gain map with its ``Item:Length``);
* **Motion Photo** (Google, and phones following its format): an MP4 appended after the primary (and after its gain
  map, if any), declared by XMP ``Camera:MotionPhoto="1"`` with a directory item ``Item:Semantic="MotionPhoto"`` and
  its ``Item:Length``, or by the older ``GCamera:MicroVideo="1"`` with ``GCamera:MicroVideoOffset`` (the video is the
  file's last N bytes);
* other multi-picture JPEGs (stereo MPO cameras): secondary JPEGs declared by the MP entries alone.

:func:`declared_trailer` says whether the bytes after the primary are exactly such declared pieces: each one where its
declaration puts it, looking like what it is declared to be (a JPEG from SOI to EOI; an MP4 whose top-level boxes,
``ftyp`` first, fill its length), with nothing but zero/0xFF padding between or after them, and every declaration the
photo makes agreeing with the others (an MPF entry and a directory item describe the same bytes). Anything else is
undeclared: the caller refuses it as appended data, as before.

Only the primary's own headers are read (its first standard XMP segment; Extended XMP is not followed), every offset
is checked against the file, and an XMP packet with a DTD is not parsed (XMP never has one, so no entity expands).
"""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_NS_CAMERA = "http://ns.google.com/photos/1.0/camera/"  # written with the prefix Camera or GCamera
_NS_CONTAINER = "http://ns.google.com/photos/1.0/container/"
_NS_ITEM = "http://ns.google.com/photos/1.0/container/item/"
_NS_HDRGM = "http://ns.adobe.com/hdr-gain-map/1.0/"
_NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_MP_ENTRY_TAG = 0xB002
_KINDS = {"image/jpeg": "jpeg", "video/mp4": "mp4", "video/quicktime": "mp4"}
_NUMBER = re.compile(r"^[0-9]{1,12}$")
MAX_MP4_BOXES = 4096  # top-level boxes of the appended video (ftyp, mdat, moov... a handful in practice)


class Undeclared(ValueError):
    """A declaration that cannot be read or does not describe the file."""


@dataclass(frozen=True)
class Piece:
    """One declared appended item: ``length`` bytes from ``start`` (offsets in the whole file); kind jpeg | mp4."""

    start: int
    length: int
    kind: str

    @property
    def end(self) -> int:
        return self.start + self.length


def _header_segments(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(marker, offset of the payload, payload) of each segment of the primary's headers, up to its first scan."""
    i, n = 2, len(data)
    while i + 4 <= n and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # standalone markers
            i += 2
            continue
        if marker in (0xD9, 0xDA):
            return
        (length,) = struct.unpack_from(">H", data, i + 2)
        if length < 2:
            return
        yield marker, i + 4, data[i + 4 : i + 2 + length]
        i += 2 + length


# ------------------------------------------------------------------------------------------------------------ MPF
def _mp_entries(tiff: bytes) -> list[tuple[int, int]]:
    """[(size, offset)] of the MP entries (tag 0xB002 of the MP index IFD) in an MPF segment's TIFF structure."""
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(tiff[:4])
    if order is None:
        raise Undeclared("MPF: no TIFF header")
    (ifd,) = struct.unpack_from(order + "I", tiff, 4)
    (count,) = struct.unpack_from(order + "H", tiff, ifd)
    for k in range(count):
        tag, _type, size, offset = struct.unpack_from(order + "HHII", tiff, ifd + 2 + 12 * k)
        if tag == _MP_ENTRY_TAG:
            if size == 0 or size % 16 or offset + size > len(tiff):
                raise Undeclared("MPF: bad MP entry table")
            # each entry: attribute (4), size (4), offset (4), two dependent image entries (2 + 2)
            return [struct.unpack_from(order + "4xII4x", tiff, offset + 16 * j) for j in range(size // 16)]
    raise Undeclared("MPF: no MP entries")


def mpf_pieces(data: bytes) -> list[Piece] | None:
    """The secondary images the primary's APP2 MPF segment declares, None without such a segment."""
    for marker, start, body in _header_segments(data):
        if marker == 0xE2 and body.startswith(b"MPF\x00"):
            tiff_start = start + 4  # offsets count from the TIFF header, right after "MPF\0"
            entries = _mp_entries(body[4:])
            if entries[0][1] != 0:
                raise Undeclared("MPF: the first image is not the primary")
            return [Piece(tiff_start + offset, size, "jpeg") for size, offset in entries[1:]]
    return None


# ------------------------------------------------------------------------------------------------------------ XMP
def _xmp(data: bytes) -> ET.Element | None:
    """The primary's XMP packet, parsed; None without one."""
    for marker, _, body in _header_segments(data):
        if marker == 0xE1 and body.startswith(_XMP_HEADER):
            packet = body[len(_XMP_HEADER) :].rstrip(b"\x00 \r\n\t")
            if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
                raise Undeclared("XMP with a DTD")
            try:
                return ET.fromstring(packet)
            except (ET.ParseError, LookupError, ValueError) as exc:  # LookupError: an unknown encoding declared
                raise Undeclared(f"XMP: {exc}") from None
    return None


def _prop(node: ET.Element, ns: str, name: str) -> str | None:
    """An RDF property of ``node``: an attribute, or a child element's text."""
    tag = f"{{{ns}}}{name}"
    if tag in node.attrib:
        return node.attrib[tag].strip()
    child = node.find(tag)
    return (child.text or "").strip() if child is not None else None


def _described(root: ET.Element, ns: str, name: str) -> str | None:
    """A property of any rdf:Description of the packet."""
    for desc in root.iter(f"{{{_NS_RDF}}}Description"):
        value = _prop(desc, ns, name)
        if value is not None:
            return value
    return None


def _number(value: str | None, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if value is None or not _NUMBER.match(value):
        raise Undeclared(f"XMP: {value!r} is not a length")
    return int(value)


def directory_pieces(root: ET.Element, end: int) -> list[Piece]:
    """The items a GContainer directory declares after the primary, laid out one after another from ``end`` (the
    primary's end) with their declared padding; [] without a directory or with the primary alone in it."""
    directory = root.find(f".//{{{_NS_CONTAINER}}}Directory")
    items = list(directory.iter(f"{{{_NS_CONTAINER}}}Item")) if directory is not None else []
    if not items:
        return []
    if _prop(items[0], _NS_ITEM, "Semantic") != "Primary":
        raise Undeclared("XMP: the directory does not start with the primary")
    motion = _described(root, _NS_CAMERA, "MotionPhoto") == "1"
    pos, pieces = end + _number(_prop(items[0], _NS_ITEM, "Padding"), 0), []
    for item in items[1:]:
        kind = _KINDS.get(_prop(item, _NS_ITEM, "Mime") or "")
        semantic = _prop(item, _NS_ITEM, "Semantic")
        if kind is None or semantic == "Primary" or (kind == "mp4") != (motion and semantic == "MotionPhoto"):
            raise Undeclared(f"XMP: a directory item {semantic!r} that is no gain map or motion photo video")
        length = _number(_prop(item, _NS_ITEM, "Length"))
        pieces.append(Piece(pos, length, kind))
        pos += length + _number(_prop(item, _NS_ITEM, "Padding"), 0)
    return pieces


def micro_video(root: ET.Element, size: int) -> Piece | None:
    """Motion Photo v0 / MicroVideo: the last ``GCamera:MicroVideoOffset`` bytes of the file are the video."""
    if _described(root, _NS_CAMERA, "MicroVideo") != "1":
        return None
    length = _number(_described(root, _NS_CAMERA, "MicroVideoOffset"))
    return Piece(size - length, length, "mp4")


# ------------------------------------------------------------------------------------------------------ the layout
def declared_layout(data: bytes, end: int) -> list[Piece]:
    """Every appended piece the photo declares, in file order; :class:`Undeclared` where two declarations disagree."""
    root = _xmp(data)
    images = mpf_pieces(data)
    listed = directory_pieces(root, end) if root is not None else []
    video = micro_video(root, len(data)) if root is not None else None
    if listed:
        if images is not None and [p for p in listed if p.kind == "jpeg"] != images:
            raise Undeclared("the MPF entries and the XMP directory describe different images")
        if video is not None and video not in listed:
            raise Undeclared("MicroVideoOffset and the XMP directory describe different videos")
        return listed
    pieces = sorted(images or [], key=lambda p: p.start)
    return [*pieces, video] if video is not None else pieces


def _is_jpeg(data: bytes, p: Piece) -> bool:
    return data[p.start : p.start + 3] == b"\xff\xd8\xff" and data[p.end - 2 : p.end] == b"\xff\xd9"


def _is_mp4(data: bytes, p: Piece) -> bool:
    """Top-level ISO-BMFF boxes, ``ftyp`` first, fill the piece exactly."""
    if data[p.start + 4 : p.start + 8] != b"ftyp":
        return False
    pos = p.start
    for _ in range(MAX_MP4_BOXES):
        if pos == p.end:
            return True
        if pos + 8 > p.end or not all(32 < b < 127 for b in data[pos + 4 : pos + 8]):
            return False
        (size,) = struct.unpack_from(">I", data, pos)
        if size == 1:  # a 64-bit size after the type
            if pos + 16 > p.end:
                return False
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            if size < 16:
                return False
        elif size == 0:  # the last box, to the end
            size = p.end - pos
        elif size < 8:
            return False
        pos += size
    return False


def _padding(data: bytes, start: int, end: int) -> bool:
    return start <= end and not data[start:end].strip(b"\x00\xff")


def covers(data: bytes, end: int, pieces: list[Piece]) -> bool:
    """The pieces fill the bytes after ``end`` in order, zero/0xFF padding aside, each looking like its kind."""
    pos = end
    for p in pieces:
        if p.length <= 0 or p.end > len(data) or not _padding(data, pos, p.start):
            return False
        if not (_is_jpeg(data, p) if p.kind == "jpeg" else _is_mp4(data, p)):
            return False
        pos = p.end
    return bool(pieces) and _padding(data, pos, len(data))


def declared_trailer(data: bytes, end: int) -> str | None:
    """What the bytes after the primary JPEG's end (``end``, just past its EOI marker) are, when the photo declares
    them exactly: ``motion_photo`` (a video, maybe after a gain map), ``gain_map`` (Ultra HDR) or ``multi_picture``
    (other MPF images); None when they are not declared, or not as declared."""
    try:
        pieces = declared_layout(data, end)
        if not covers(data, end, pieces):
            return None
        root = _xmp(data)
    except (Undeclared, struct.error):
        return None
    if any(p.kind == "mp4" for p in pieces):
        return "motion_photo"
    if root is not None and _described(root, _NS_HDRGM, "Version") is not None:
        return "gain_map"
    return "multi_picture"


def may_declare_trailer(head: bytes) -> bool:
    """Whether a JPEG's first bytes hold a declaration of appended pictures or video (an MPF segment, a Google
    container, camera or gain-map XMP): only then can :func:`declared_trailer` find something to trim, so a reader of
    the header alone knows when the whole file is needed."""
    return b"MPF\x00" in head or b"http://ns.google.com/photos/1.0/" in head or _NS_HDRGM.encode() in head
