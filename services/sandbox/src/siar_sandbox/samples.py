"""Sample media served at ``/_sandbox/media/<name>``, built in memory (no binary file is kept in
the repository): posts can carry media by URL with no internet.

- ``poster.png``: a 64x64 RGB PNG (zlib + CRC-checked chunks);
- ``photo.jpg``: a 64x48 baseline JFIF JPEG (YCbCr 4:4:4, real DCT and Huffman coding);
- ``clip.mp4``: a 2-second 64x48 MP4 (``ftyp``, ``moov`` before ``mdat``) whose one video
  track holds four JPEG frames (ISO 14496-1 object type 0x6C, i.e. Motion JPEG in MP4);
- ``loop.gif``: a looping 2-second 64x48 GIF89a animation of four frames (LZW-coded).

Each file is generated once per process, on first use."""

from __future__ import annotations

import functools
import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MEDIA_PATH = "/_sandbox/media/"


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    content_type: str
    kind: str  # "image" | "video"
    width: int
    height: int
    duration: float | None
    data: bytes

    def to_json(self, base: str = "") -> dict[str, object]:
        return {
            "name": self.name,
            "url": f"{base}{MEDIA_PATH}{self.name}",
            "content_type": self.content_type,
            "kind": self.kind,
            "size": len(self.data),
            "width": self.width,
            "height": self.height,
            "duration": self.duration,
        }


Pixel = Callable[[int, int], tuple[int, int, int]]


# --------------------------------------------------------------------------- GIF


def gif(width: int, height: int, frames: list[list[int]], palette: list[tuple[int, int, int]],
        frame_ms: int) -> bytes:
    """A looping GIF89a of frames given as palette indices (at most four colours). The LZW
    stream sends a clear code before every second pixel, so codes stay 3 bits wide: large, but
    any decoder reads it, and no compressor is needed."""
    colours = (palette + [(0, 0, 0)] * 4)[:4]
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF1, 0, 0))  # 4-colour table
    out += b"".join(bytes(c) for c in colours)
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    for indices in frames:
        out += b"\x21\xf9\x04\x04" + struct.pack("<H", frame_ms // 10) + b"\x00\x00"
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
        clear, end = 4, 5
        codes: list[int] = []
        for i, index in enumerate(indices):
            if i % 2 == 0:
                codes.append(clear)
            codes.append(index)
        codes.append(end)
        bits = bytearray()
        acc = nbits = 0
        for code in codes:
            acc |= code << nbits
            nbits += 3
            while nbits >= 8:
                bits.append(acc & 0xFF)
                acc >>= 8
                nbits -= 8
        if nbits:
            bits.append(acc & 0xFF)
        out += b"\x02"  # LZW minimum code size
        for start in range(0, len(bits), 255):
            block = bits[start:start + 255]
            out += bytes([len(block)]) + block
        out += b"\x00"
    return bytes(out + b"\x3b")


def _gif_frame(index: int, width: int, height: int) -> list[int]:
    # A yellow block walking across a blue field.
    return [2 if 16 * index <= x < 16 * index + 16 else (1 if y > height // 2 else 0)
            for y in range(height) for x in range(width)]


# --------------------------------------------------------------------------- PNG


def png(width: int, height: int, pixel: Pixel) -> bytes:
    """An 8-bit RGB PNG, every scanline with filter type 0."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    raw = bytearray()
    for y in range(height):
        raw.append(0)
        for x in range(width):
            raw.extend(pixel(x, y))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------- JPEG

# ITU-T T.81 Annex K, table K.1 (luminance), used for all three components.
_QUANT = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
# Zigzag scan order: index k -> position row*8+col in the block.
_ZIGZAG = tuple(
    r * 8 + c
    for r, c in sorted(
        ((r, c) for r in range(8) for c in range(8)),
        key=lambda rc: (rc[0] + rc[1], rc[0] if (rc[0] + rc[1]) % 2 else -rc[0]),
    )
)
_COS = tuple(
    tuple(
        (math.sqrt(0.5) if u == 0 else 1.0) * math.cos((2 * x + 1) * u * math.pi / 16) / 2
        for x in range(8)
    )
    for u in range(8)
)


def _dct(block: list[float]) -> list[float]:
    """The 8x8 forward DCT of T.81 A.3.3, computed separably (rows, then columns)."""
    rows = [
        [sum(_COS[u][x] * block[y * 8 + x] for x in range(8)) for u in range(8)] for y in range(8)
    ]
    return [sum(_COS[v][y] * rows[y][u] for y in range(8)) for v in range(8) for u in range(8)]


def _magnitude(value: int) -> tuple[int, int]:
    """(category, extra bits) of a DC difference or AC coefficient (T.81 F.1.2.1)."""
    size = abs(value).bit_length()
    bits = value if value >= 0 else value + (1 << size) - 1
    return size, bits


class _Bits:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.count = 0

    def write(self, code: int, length: int) -> None:
        self.acc = (self.acc << length) | code
        self.count += length
        while self.count >= 8:
            self.count -= 8
            byte = (self.acc >> self.count) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:
                self.out.append(0x00)  # byte stuffing
        self.acc &= (1 << self.count) - 1

    def flush(self) -> bytes:
        if self.count:
            self.write((1 << (8 - self.count)) - 1, 8 - self.count)  # pad with 1-bits
        return bytes(self.out)


def _table(symbols: set[int]) -> tuple[bytes, dict[int, tuple[int, int]]]:
    """A canonical Huffman table giving every used symbol a code of one length L, with
    n < 2**L so that no code is all 1-bits (T.81 C): the DHT counts and values, and the codes."""
    ordered = sorted(symbols)
    length = max(1, len(ordered).bit_length())
    counts = [0] * 16
    counts[length - 1] = len(ordered)
    spec = bytes(counts) + bytes(ordered)
    return spec, {symbol: (code, length) for code, symbol in enumerate(ordered)}


def jpeg(width: int, height: int, pixel: Pixel) -> bytes:
    """A baseline sequential JFIF JPEG, three components without subsampling, interleaved."""
    if width % 8 or height % 8:
        raise ValueError("width and height must be multiples of 8")
    planes: list[list[float]] = [[], [], []]
    for y in range(height):
        for x in range(width):
            r, g, b = pixel(x, y)
            planes[0].append(0.299 * r + 0.587 * g + 0.114 * b - 128)
            planes[1].append(-0.168736 * r - 0.331264 * g + 0.5 * b)
            planes[2].append(0.5 * r - 0.418688 * g - 0.081312 * b)
    # Quantised coefficients in zigzag order, MCU by MCU (Y, Cb, Cr).
    mcus: list[list[list[int]]] = []
    for by in range(0, height, 8):
        for bx in range(0, width, 8):
            mcu = []
            for plane in planes:
                block = [plane[(by + r) * width + bx + c] for r in range(8) for c in range(8)]
                coefficients = _dct(block)
                mcu.append([round(coefficients[i] / _QUANT[i]) for i in _ZIGZAG])
            mcus.append(mcu)
    # First pass: the symbols (run/size pairs) each table needs.
    dc_symbols: set[int] = set()
    ac_symbols: set[int] = set()
    coded: list[tuple[int, int, int, int]] = []  # (table 0=DC 1=AC, symbol, bits, size)
    previous = [0, 0, 0]
    for mcu in mcus:
        for component, zz in enumerate(mcu):
            size, bits = _magnitude(zz[0] - previous[component])
            previous[component] = zz[0]
            dc_symbols.add(size)
            coded.append((0, size, bits, size))
            run = 0
            last = max((i for i in range(1, 64) if zz[i]), default=0)
            for i in range(1, last + 1):
                if zz[i] == 0:
                    run += 1
                    continue
                while run > 15:
                    ac_symbols.add(0xF0)
                    coded.append((1, 0xF0, 0, 0))
                    run -= 16
                size, bits = _magnitude(zz[i])
                symbol = (run << 4) | size
                ac_symbols.add(symbol)
                coded.append((1, symbol, bits, size))
                run = 0
            if last < 63:
                ac_symbols.add(0x00)  # EOB
                coded.append((1, 0x00, 0, 0))
    dc_spec, dc_codes = _table(dc_symbols)
    ac_spec, ac_codes = _table(ac_symbols)
    # Second pass: the entropy-coded segment.
    writer = _Bits()
    for table, symbol, bits, size in coded:
        code, length = (dc_codes if table == 0 else ac_codes)[symbol]
        writer.write(code, length)
        if size:
            writer.write(bits, size)
    scan = writer.flush()

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    jfif = b"JFIF\x00" + struct.pack(">BBBHHBB", 1, 1, 0, 1, 1, 0, 0)
    dqt = b"\x00" + bytes(_QUANT[i] for i in _ZIGZAG)
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"".join(
        struct.pack(">BBB", cid, 0x11, 0) for cid in (1, 2, 3)
    )
    dht = b"\x00" + dc_spec + b"\x10" + ac_spec
    sos = b"\x03" + b"".join(struct.pack(">BB", cid, 0x00) for cid in (1, 2, 3)) + b"\x00\x3f\x00"
    return (
        b"\xff\xd8"
        + segment(0xE0, jfif)
        + segment(0xDB, dqt)
        + segment(0xC0, sof)
        + segment(0xC4, dht)
        + segment(0xDA, sos)
        + scan
        + b"\xff\xd9"
    )


# --------------------------------------------------------------------------- MP4


def _box(kind: bytes, *parts: bytes) -> bytes:
    payload = b"".join(parts)
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *parts)


def _descriptor(tag: int, payload: bytes) -> bytes:
    assert len(payload) < 128
    return bytes((tag, len(payload))) + payload


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def mp4(width: int, height: int, frames: list[bytes], frame_ms: int) -> bytes:
    """An ISO BMFF file with one video track of JPEG frames (mp4v sample entry whose esds names
    object type 0x6C), every frame a sync sample, all in one chunk; ``moov`` precedes ``mdat``."""
    timescale = 1000
    duration = frame_ms * len(frames)
    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso2", b"mp41")

    def moov(chunk_offset: int) -> bytes:
        mvhd = _full_box(
            b"mvhd", 0, 0,
            struct.pack(">IIII", 0, 0, timescale, duration),
            struct.pack(">IH", 0x10000, 0x100), bytes(10), _MATRIX, bytes(24),
            struct.pack(">I", 2),
        )  # fmt: skip
        tkhd = _full_box(
            b"tkhd", 0, 0x3,
            struct.pack(">IIIII", 0, 0, 1, 0, duration), bytes(8),
            struct.pack(">hhhH", 0, 0, 0, 0), _MATRIX,
            struct.pack(">II", width << 16, height << 16),
        )  # fmt: skip
        mdhd = _full_box(
            b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, duration, 0x55C4, 0)
        )  # language "und"
        hdlr = _full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\x00")
        vmhd = _full_box(b"vmhd", 0, 1, bytes(8))
        dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1),
                                       _full_box(b"url ", 0, 1)))  # fmt: skip
        decoder_config = _descriptor(
            0x04,
            bytes((0x6C, (0x04 << 2) | 1))  # JPEG, visual stream
            + max(len(f) for f in frames).to_bytes(3, "big")
            + struct.pack(">II", 0, 0),
        )
        es = _descriptor(0x03, struct.pack(">HB", 1, 0) + decoder_config + _descriptor(6, b"\x02"))
        compressor = b"\x04JPEG".ljust(32, b"\x00")
        mp4v = _box(
            b"mp4v",
            bytes(6), struct.pack(">H", 1), bytes(16),
            struct.pack(">HHIII", width, height, 0x480000, 0x480000, 0),
            struct.pack(">H", 1), compressor, struct.pack(">Hh", 0x18, -1),
            _full_box(b"esds", 0, 0, es),
        )  # fmt: skip
        stbl = _box(
            b"stbl",
            _full_box(b"stsd", 0, 0, struct.pack(">I", 1), mp4v),
            _full_box(b"stts", 0, 0, struct.pack(">III", 1, len(frames), frame_ms)),
            _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(frames), 1)),
            _full_box(b"stsz", 0, 0, struct.pack(">II", 0, len(frames)),
                      b"".join(struct.pack(">I", len(f)) for f in frames)),
            _full_box(b"stco", 0, 0, struct.pack(">II", 1, chunk_offset)),
        )  # fmt: skip
        minf = _box(b"minf", vmhd, dinf, stbl)
        trak = _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf))
        return _box(b"moov", mvhd, trak)

    head_size = len(ftyp) + len(moov(0))
    mdat = _box(b"mdat", *frames)
    return ftyp + moov(head_size + 8) + mdat


# --------------------------------------------------------------------------- the samples


def _poster(x: int, y: int) -> tuple[int, int, int]:
    # A teal-to-orange diagonal with a dark "book" in the middle.
    if 20 <= x < 44 and 14 <= y < 50:
        return (40, 30, 90) if x != 31 else (230, 220, 200)
    t = (x + y) / 126
    return (round(20 + 215 * t), round(140 - 40 * t), round(150 - 120 * t))


def _photo(x: int, y: int) -> tuple[int, int, int]:
    # Sky, a horizon and a sun.
    if (x - 46) ** 2 + (y - 14) ** 2 < 64:
        return (250, 210, 60)
    if y < 30:
        return (90 + y * 3, 150 + y * 2, 230)
    return (60, 120 + (x % 16) * 3, 50)


def _frame(index: int) -> Pixel:
    def pixel(x: int, y: int) -> tuple[int, int, int]:
        if 16 * index <= x < 16 * index + 16:
            return (240, 200, 40)
        return (30, 60 + y * 2, 120)

    return pixel


def _build(name: str) -> Sample | None:
    if name == "poster.png":
        return Sample(name, "image/png", "image", 64, 64, None, png(64, 64, _poster))
    if name == "photo.jpg":
        return Sample(name, "image/jpeg", "image", 64, 48, None, jpeg(64, 48, _photo))
    if name == "clip.mp4":
        frames = [jpeg(64, 48, _frame(i)) for i in range(4)]
        return Sample(name, "video/mp4", "video", 64, 48, 2.0, mp4(64, 48, frames, 500))
    if name == "loop.gif":
        palette = [(30, 60, 120), (30, 90, 150), (240, 200, 40)]
        data = gif(64, 48, [_gif_frame(i, 64, 48) for i in range(4)], palette, 500)
        return Sample(name, "image/gif", "image", 64, 48, 2.0, data)
    return None


NAMES = ("poster.png", "photo.jpg", "clip.mp4", "loop.gif")


@functools.cache
def sample(name: str) -> Sample | None:
    """The sample called ``name``, or None for an unknown name."""
    return _build(name) if name in NAMES else None


def from_url(url: str) -> tuple[str, Sample | None] | None:
    """For a URL whose path is ``…/_sandbox/media/<name>`` (any host: the sandbox may be reached
    under several names), the name and its sample (None when unknown); None for other URLs."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    index = path.find(MEDIA_PATH)
    if index < 0:
        return None
    name = unquote(path[index + len(MEDIA_PATH) :])
    return name, sample(name)
