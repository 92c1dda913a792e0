"""audio.ogg_read: Ogg pages back into packets, whatever the pieces the bytes come in."""

from __future__ import annotations

import random

import pytest

from audio.ogg import SILENCE_PACKET, OggOpusPacket, OggOpusStream, write_ogg_opus
from audio.ogg_read import OggError, OggPacketReader


def stream_bytes(packets: list[bytes]) -> bytes:
    import io

    out = io.BytesIO()
    write_ogg_opus(out, packets)
    return out.getvalue()


def test_packets_come_back_whatever_the_pieces() -> None:
    rng = random.Random(7)
    packets = [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 700)))
               for _ in range(40)]
    data = stream_bytes(packets)
    for piece in (1, 7, 300, len(data)):
        reader = OggPacketReader()
        got: list[bytes] = []
        for i in range(0, len(data), piece):
            got += reader.feed(data[i:i + piece])
        assert got == packets and reader.eos
        assert reader.head is not None and reader.head.startswith(b"OpusHead")
        assert reader.tags is not None and reader.tags.startswith(b"OpusTags")


def test_a_run_of_silence_is_many_packets_on_one_page() -> None:
    stream = OggOpusStream()
    data = stream.header() + stream.page(OggOpusPacket.run(SILENCE_PACKET, 200), last=True)
    reader = OggPacketReader()
    assert reader.feed(data) == [SILENCE_PACKET] * 200
    assert reader.pages == 3


def test_bad_bytes_are_refused() -> None:
    data = bytearray(stream_bytes([b"\xf8abc"]))
    data[-2] ^= 0xFF  # inside the last page's body
    with pytest.raises(OggError, match="CRC"):
        OggPacketReader().feed(bytes(data))
    with pytest.raises(OggError, match="not an Ogg page"):
        OggPacketReader().feed(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 40)
    stream = OggOpusStream()
    stream.header()
    body_first = stream.page(OggOpusPacket(b"\xf8xyz"))
    with pytest.raises(OggError, match="OpusHead"):
        OggPacketReader().feed(body_first)
