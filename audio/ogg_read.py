"""Reading Ogg Opus back into packets, incrementally (a relayed stream, a recording).

`OggPacketReader.feed(data)` takes bytes as they come and returns the whole packets they
complete, with the header packets (OpusHead, OpusTags) told apart. Pages are checked (capture
pattern, version, CRC); a bad page raises `OggError`. Pure: no I/O.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from audio.ogg import ogg_crc

_HEADER = struct.Struct("<4sBBqIIIB")
_CRC_AT = 22
MAX_BUFFER = 1 << 20  # more than any page (27 + 255 + 255 * 255 bytes) can need


class OggError(ValueError):
    """Bytes that are not an Ogg stream."""


@dataclass(frozen=True, slots=True)
class OggPage:
    flags: int
    granule: int
    serial: int
    sequence: int
    lacing: bytes
    body: bytes

    @property
    def bos(self) -> bool:
        return bool(self.flags & 0x02)

    @property
    def eos(self) -> bool:
        return bool(self.flags & 0x04)


class OggPacketReader:
    """Ogg pages in, packets out. ``eos``: the stream's last page was read."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._partial = b""  # a packet continued on the next page
        self.pages = 0
        self.eos = False
        self.head: bytes | None = None  # OpusHead
        self.tags: bytes | None = None  # OpusTags

    def feed(self, data: bytes) -> list[bytes]:
        """The audio packets ``data`` completes (header packets are kept aside)."""
        self._buffer += data
        if len(self._buffer) > MAX_BUFFER:
            raise OggError("no Ogg page boundary found")
        out: list[bytes] = []
        while True:
            page = self._next_page()
            if page is None:
                return out
            for packet in self._packets(page):
                if self.head is None:
                    if not packet.startswith(b"OpusHead"):
                        raise OggError("the stream does not start with OpusHead")
                    self.head = packet
                elif self.tags is None:
                    self.tags = packet
                else:
                    out.append(packet)
            if page.eos:
                self.eos = True

    def _next_page(self) -> OggPage | None:
        buf = self._buffer
        if len(buf) < _HEADER.size:
            return None
        capture, version, flags, granule, serial, sequence, crc, n = _HEADER.unpack_from(buf)
        if capture != b"OggS" or version != 0:
            raise OggError("not an Ogg page")
        start = _HEADER.size
        if len(buf) < start + n:
            return None
        lacing = bytes(buf[start:start + n])
        end = start + n + sum(lacing)
        if len(buf) < end:
            return None
        raw = bytes(buf[:end])
        del buf[:end]
        if ogg_crc(raw[:_CRC_AT] + b"\0\0\0\0" + raw[_CRC_AT + 4:]) != crc:
            raise OggError("bad page CRC")
        self.pages += 1
        return OggPage(flags, granule, serial, sequence, lacing, raw[start + n:])

    def _packets(self, page: OggPage) -> list[bytes]:
        packets: list[bytes] = []
        pos = 0
        current = self._partial if page.flags & 0x01 else b""
        for size in page.lacing:
            current += page.body[pos:pos + size]
            pos += size
            if size < 255:
                packets.append(current)
                current = b""
        self._partial = current
        return packets
