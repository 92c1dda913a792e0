"""Ogg Opus (RFC 7845) for pre-encoded 20 ms Opus packets, one packet per page.

A live room feeds one packet per tick to many listeners and recorders, each an Ogg stream
of its own (own serial, page sequence and granule, starting with its own header pages),
so a listener who joins late starts on a page boundary with a valid stream. The part of a
page that is the same for every stream (segment table and packet) is laid out once per
tick by `OggOpusPacket`; a stream then only packs its 27-byte page header and finishes the
CRC over the shared part.

The Ogg CRC (polynomial 0x04C11DB7, not reflected, initial value and final xor 0) is
computed by zlib's reflected CRC-32 over bit-reversed bytes: the same value, in C.
Pure: no I/O.
"""

from __future__ import annotations

import secrets
import struct
import zlib
from collections.abc import Iterable, Mapping
from typing import BinaryIO

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE

PRE_SKIP = 312
"""Samples the decoder drops at the start (libopus's encoder lookahead at 48 kHz)."""
SILENCE_PACKET = b"\xf8\xff\xfe"
"""A 20 ms CELT packet that decodes to digital silence: for gaps and the closing page."""
MAX_PACKET = 255 * 255 - 1  # one page's segment table can carry no more

_FLAG_BOS = 0x02
_FLAG_EOS = 0x04
_HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, seq, crc, n
_CRC_AT = 22  # offset of the CRC field in the page header
_REVERSE_BITS = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))
_START = 0xFFFFFFFF  # zlib's start value for a register of 0


def _bitrev32(value: int) -> int:
    return int.from_bytes(value.to_bytes(4, "little").translate(_REVERSE_BITS), "big")


def ogg_crc(data: bytes, crc: int = 0) -> int:
    """The Ogg page CRC of `data`, continuing from `crc` (the CRC of what came before)."""
    reflected = zlib.crc32(data.translate(_REVERSE_BITS), _bitrev32(crc) ^ _START)
    return _bitrev32(reflected ^ 0xFFFFFFFF)


def _lacing(size: int) -> bytes:
    if not 0 <= size <= MAX_PACKET:
        raise ValueError(f"an Ogg packet on one page is at most {MAX_PACKET} bytes, got {size}")
    full, rest = divmod(size, 255)
    return b"\xff" * full + bytes((rest,))


def opus_head(channels: int = 1, pre_skip: int = PRE_SKIP, input_rate: int = SAMPLE_RATE) -> bytes:
    """The identification header (RFC 7845 §5.1), channel mapping family 0."""
    if channels not in (1, 2):
        raise ValueError("channel mapping family 0 carries 1 or 2 channels")
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, input_rate, 0, 0)


def opus_tags(vendor: str = "voiceroom", comments: Mapping[str, str] | None = None) -> bytes:
    """The comment header (RFC 7845 §5.2): vendor string and KEY=value comments."""
    encoded = [f"{key}={value}".encode() for key, value in (comments or {}).items()]
    vendor_bytes = vendor.encode()
    out = [b"OpusTags", struct.pack("<I", len(vendor_bytes)), vendor_bytes]
    out.append(struct.pack("<I", len(encoded)))
    for comment in encoded:
        out += [struct.pack("<I", len(comment)), comment]
    return b"".join(out)


class OggOpusPacket:
    """One Opus packet laid out as the shared tail of an Ogg page (segment table, data).

    Build it once per tick and hand it to every stream.
    """

    __slots__ = ("n_segments", "packet", "samples", "tail", "tail_reversed")

    def __init__(self, packet: bytes, samples: int = FRAME_SAMPLES) -> None:
        if not packet:
            raise ValueError("an Opus packet has at least its TOC byte")
        lacing = _lacing(len(packet))
        self.packet = bytes(packet)
        self.samples = samples
        self.n_segments = len(lacing)
        self.tail = lacing + self.packet
        self.tail_reversed = self.tail.translate(_REVERSE_BITS)  # the CRC's input, once

    @classmethod
    def run(cls, packet: bytes, count: int, samples: int = FRAME_SAMPLES) -> OggOpusPacket:
        """``count`` copies of a small ``packet`` on one page (a run of silence in a
        recording): at most 255 of them, one lacing value each."""
        if not 1 <= count <= 255 or not 0 < len(packet) < 255:
            raise ValueError("a run is 1 to 255 packets of 1 to 254 bytes")
        out = cls(packet, samples)
        out.n_segments = count
        out.samples = samples * count
        out.tail = bytes((len(packet),)) * count + packet * count
        out.tail_reversed = out.tail.translate(_REVERSE_BITS)
        return out


def _page(flags: int, granule: int, serial: int, sequence: int, packet: OggOpusPacket) -> bytes:
    header = _HEADER.pack(b"OggS", 0, flags, granule, serial, sequence, 0, packet.n_segments)
    # zlib's CRC-32 chained over header and shared tail, both bit-reversed; the raw
    # register, read big-endian and bit-reversed per byte, is the Ogg CRC little-endian.
    raw = zlib.crc32(packet.tail_reversed, zlib.crc32(header.translate(_REVERSE_BITS), _START))
    crc = (raw ^ 0xFFFFFFFF).to_bytes(4, "big").translate(_REVERSE_BITS)
    return b"".join((header[:_CRC_AT], crc, header[_CRC_AT + 4 :], packet.tail))


class OggOpusStream:
    """One listener's (or one file's) Ogg Opus stream of 20 ms packets.

    `header()` first (two pages), then `page(packet)` per packet; `page(..., last=True)`
    or `end()` closes the stream with the EOS flag. The granule position counts 48 kHz
    samples from this stream's own start, pre-skip included (RFC 7845 §4).
    """

    __slots__ = ("_header", "channels", "ended", "granule", "sequence", "serial")

    def __init__(
        self,
        serial: int | None = None,
        *,
        channels: int = 1,
        pre_skip: int = PRE_SKIP,
        vendor: str = "voiceroom",
        comments: Mapping[str, str] | None = None,
    ) -> None:
        self.serial = secrets.randbits(32) if serial is None else serial & 0xFFFFFFFF
        self.channels = channels
        self.granule = 0
        self.sequence = 0
        self.ended = False
        self._header = (opus_head(channels, pre_skip), opus_tags(vendor, comments))

    def header(self) -> bytes:
        """The OpusHead page (BOS) and the OpusTags page: the first bytes of the stream."""
        if self.sequence:
            raise RuntimeError("the header pages were already written")
        head, tags = self._header
        # Header pages carry granule 0 (RFC 7845 §3).
        first = _page(_FLAG_BOS, 0, self.serial, 0, OggOpusPacket(head, 0))
        second = _page(0, 0, self.serial, 1, OggOpusPacket(tags, 0))
        self.sequence = 2
        return first + second

    def page(self, packet: OggOpusPacket, last: bool = False) -> bytes:
        """A page carrying `packet`; with `last`, the stream's final (EOS) page."""
        if self.sequence < 2 or self.ended:
            raise RuntimeError("the stream has ended" if self.ended else "write header() first")
        self.granule += packet.samples
        out = _page(_FLAG_EOS if last else 0, self.granule, self.serial, self.sequence, packet)
        self.sequence += 1
        self.ended = last
        return out

    def end(self) -> bytes:
        """Close the stream: an EOS page carrying 20 ms of silence (b"" if already closed)."""
        if self.ended:
            return b""
        prefix = self.header() if self.sequence < 2 else b""
        return prefix + self.page(_SILENCE, last=True)

    @property
    def seconds(self) -> float:
        """Audio written so far, in seconds (pre-skip not subtracted)."""
        return self.granule / SAMPLE_RATE


_SILENCE = OggOpusPacket(SILENCE_PACKET)


def write_ogg_opus(
    out: BinaryIO,
    packets: Iterable[bytes],
    serial: int | None = None,
    comments: Mapping[str, str] | None = None,
) -> OggOpusStream:
    """Write `packets` (20 ms Opus packets) as one whole Ogg Opus stream to `out`."""
    stream = OggOpusStream(serial, comments=comments)
    out.write(stream.header())
    previous: bytes | None = None
    for packet in packets:
        # One packet held back, so the last one goes out on the EOS page.
        if previous is not None:
            out.write(stream.page(OggOpusPacket(previous)))
        previous = packet
    out.write(stream.page(OggOpusPacket(previous), last=True) if previous else stream.end())
    return stream
