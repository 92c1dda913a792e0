"""media building blocks without a network: RTP parsing of the fast inbound path, the
bounded packet track, the audio-level extension."""

from __future__ import annotations

import struct

import pytest
from aiortc.mediastreams import MediaStreamError

from media.rtp import audio_level_extension, deliver_rtp
from media.tracks import OUTBOUND_QUEUE_PACKETS, PacketTrack, make_packet

OPUS_PT = 111
LEVEL_ID = 1


def rtp(seq: int, payload: bytes, *, pt: int = OPUS_PT, csrcs: int = 0, ext: bytes = b"",
        padding: int = 0) -> bytes:
    first = 0x80 | (0x10 if ext else 0) | (0x20 if padding else 0) | csrcs
    header = struct.pack("!BBHII", first, pt, seq, 960 * seq, 0x1234)
    header += b"\x00\x00\x00\x07" * csrcs
    pad = b"\x00" * (padding - 1) + bytes([padding]) if padding else b""
    return header + ext + payload + pad


def deliver(packet: bytes, level_id: int | None = LEVEL_ID) -> list[tuple[int, bytes, object]]:
    got: list[tuple[int, bytes, object]] = []
    deliver_rtp(packet, OPUS_PT, level_id, lambda s, p, lv: got.append((s, p, lv)))
    return got


def test_plain_packet() -> None:
    assert deliver(rtp(65535, b"opus")) == [(65535, b"opus", None)]


def test_level_extension_csrcs_and_padding_are_understood() -> None:
    ext = audio_level_extension(LEVEL_ID, 42, vad=True)
    assert deliver(rtp(7, b"abc", csrcs=2, ext=ext, padding=3)) == [(7, b"abc", (True, 42))]


def test_other_extensions_are_skipped_and_level_found_after_them() -> None:
    # mid (id 3, 2 bytes "a0") then the level (id 1), one-byte header form, padded to 4n.
    body = bytes([(3 << 4) | 1]) + b"a0" + bytes([(LEVEL_ID << 4), 0x7F]) + b"\x00\x00\x00"
    ext = b"\xbe\xde" + struct.pack("!H", len(body) // 4) + body
    assert deliver(rtp(9, b"xyz", ext=ext)) == [(9, b"xyz", (False, 127))]


def test_foreign_payload_type_and_truncated_packets_are_dropped() -> None:
    assert deliver(rtp(1, b"vp8", pt=96)) == []
    ext = audio_level_extension(LEVEL_ID, 10)
    assert deliver(rtp(1, b"", ext=ext)) == []  # no payload left
    assert deliver(rtp(1, b"x", ext=ext)[:14]) == []  # extension cut off


def test_unknown_level_id_reads_no_level() -> None:
    ext = audio_level_extension(5, 10)
    assert deliver(rtp(3, b"p", ext=ext), level_id=None) == [(3, b"p", None)]


async def test_packet_track_is_bounded_and_drops_the_oldest() -> None:
    track = PacketTrack()
    for tick in range(OUTBOUND_QUEUE_PACKETS + 3):
        track.push(make_packet(b"p%d" % tick, tick * 960))
    assert track.dropped == 3
    first = await track.recv()
    assert bytes(first) == b"p3" and first.pts == 3 * 960 and first.time_base.denominator == 48000
    track.stop()
    track.push(make_packet(b"late", 0))  # ignored once stopped
    with pytest.raises(MediaStreamError):
        await track.recv()


def test_staged_packets_go_out_back_to_back_and_a_refused_one_is_counted() -> None:
    import socket

    from media.sender import send_staged

    class Counted:  # stands in for DirectSender's bookkeeping of a refused packet
        def __init__(self) -> None:
            self.unsent: list[int] = []

        def _unsent(self, size: int) -> None:
            self.unsent.append(size)

    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.close()
    a, b = Counted(), Counted()
    addr = receiver.getsockname()
    data = bytearray(b"\x80protected")
    try:
        send_staged([
            (a, sender.sendto, memoryview(data)[:5], addr, 3),  # type: ignore[list-item]
            (b, closed.sendto, b"lost", addr, 4),  # type: ignore[list-item]
            (a, sender.sendto, b"second", addr, 6),  # type: ignore[list-item]
        ])
        assert receiver.recv(100) == b"\x80prot"
        assert receiver.recv(100) == b"second"
        assert a.unsent == [] and b.unsent == [4]
    finally:
        receiver.close()
        sender.close()
