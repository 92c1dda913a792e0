"""audio.ogg: Ogg Opus pages for pre-encoded packets, read back by an independent page
parser and decoded by PyAV (FFmpeg), whole streams and a late joiner's."""

from __future__ import annotations

import io
import random
import struct
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from av.audio.resampler import AudioResampler

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.ogg import (
    PRE_SKIP,
    SILENCE_PACKET,
    OggOpusPacket,
    OggOpusStream,
    ogg_crc,
    opus_head,
    opus_tags,
    write_ogg_opus,
)
from audio.opus import OpusDecoder, OpusEncoder
from audio.sources import ToneSource, tone_levels


def reference_crc(data: bytes) -> int:
    """The Ogg CRC bit by bit, as the Ogg specification states it."""
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


@dataclass(frozen=True)
class Page:
    flags: int
    granule: int
    serial: int
    seq: int
    body: bytes


def parse_pages(data: bytes) -> list[Page]:
    """Split an Ogg stream into pages, checking capture pattern, lacing and CRC."""
    pages = []
    pos = 0
    while pos < len(data):
        assert data[pos : pos + 4] == b"OggS", f"no page at byte {pos}"
        _, version, flags, granule, serial, seq, crc, n = struct.unpack_from(
            "<4sBBqIIIB", data, pos
        )
        lacing = data[pos + 27 : pos + 27 + n]
        size = sum(lacing)
        end = pos + 27 + n + size
        page = bytearray(data[pos:end])
        page[22:26] = b"\0\0\0\0"
        assert reference_crc(bytes(page)) == crc, f"bad CRC on page {seq}"
        assert version == 0 and lacing[-1] < 255  # one whole packet per page
        pages.append(Page(flags, granule, serial, seq, data[pos + 27 + n : end]))
        pos = end
    return pages


def decode_ogg(source: str | Path | bytes) -> npt.NDArray[np.int16]:
    """Decode with PyAV to 48 kHz mono int16."""
    opened = av.open(io.BytesIO(source) if isinstance(source, bytes) else str(source), "r")
    resampler = AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    chunks = []
    with opened as container:
        assert container.streams.audio[0].codec_context.name in ("opus", "libopus")
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.int16)


def tone_packets(freq: float, frames: int) -> list[bytes]:
    source = ToneSource(freq, 0.4)
    with OpusEncoder() as encoder:
        return [encoder.encode(source.read()) for _ in range(frames)]


@pytest.fixture(scope="module")
def packets() -> list[bytes]:
    return tone_packets(440, 100)  # 2 s


# --- the CRC ----------------------------------------------------------------------------


def test_crc_matches_the_bitwise_definition() -> None:
    rng = random.Random(7)
    for size in (0, 1, 2, 27, 100, 1000):
        data = bytes(rng.randrange(256) for _ in range(size))
        assert ogg_crc(data) == reference_crc(data)
        cut = size // 3
        assert ogg_crc(data[cut:], ogg_crc(data[:cut])) == reference_crc(data)
    assert reference_crc(b"OggS") != 0  # the reference is not trivially zero


# --- header packets ---------------------------------------------------------------------


def test_opus_head_and_tags_layout() -> None:
    head = opus_head()
    assert head[:8] == b"OpusHead" and len(head) == 19
    version, channels, pre_skip, rate, gain, family = struct.unpack("<BBHIhB", head[8:])
    assert (version, channels, pre_skip, rate, gain, family) == (1, 1, PRE_SKIP, 48000, 0, 0)
    tags = opus_tags("vr", {"TITLE": "Évening"})
    assert tags == (b"OpusTags" + struct.pack("<I", 2) + b"vr" + struct.pack("<I", 1)
                    + struct.pack("<I", len("TITLE=Évening".encode())) + "TITLE=Évening".encode())
    with pytest.raises(ValueError):
        opus_head(channels=3)


# --- a whole file -----------------------------------------------------------------------


def test_file_decodes_to_the_tone_with_the_right_length(
    packets: list[bytes], tmp_path: Path
) -> None:
    path = tmp_path / "tone.ogg"
    with path.open("wb") as out:
        stream = write_ogg_opus(out, packets, serial=1234, comments={"TITLE": "room r-1"})
    assert stream.ended and stream.granule == len(packets) * FRAME_SAMPLES

    pages = parse_pages(path.read_bytes())
    assert len(pages) == 2 + len(packets)
    assert [p.seq for p in pages] == list(range(len(pages)))
    assert {p.serial for p in pages} == {1234}
    assert pages[0].flags == 0x02 and pages[0].body == opus_head()
    assert pages[1].flags == 0 and pages[1].body[:8] == b"OpusTags"
    assert [p.granule for p in pages[:2]] == [0, 0]
    assert [p.granule for p in pages[2:]] == [FRAME_SAMPLES * (i + 1) for i in range(100)]
    assert [p.body for p in pages[2:]] == packets
    assert all(p.flags == 0 for p in pages[2:-1]) and pages[-1].flags == 0x04

    with av.open(str(path)) as container:
        assert container.streams.audio[0].duration is not None
        tags = {**container.metadata, **container.streams.audio[0].metadata}
        assert tags.get("TITLE", tags.get("title")) == "room r-1"
    pcm = decode_ogg(path)
    assert len(pcm) == len(packets) * FRAME_SAMPLES - PRE_SKIP  # pre-skip trimmed
    levels = tone_levels(pcm[FRAME_SAMPLES * 5 :], [440, 880, 1500])
    assert levels[440] > -15  # 0.4 of full scale is about -8 dB
    assert levels[440] - max(levels[880], levels[1500]) > 30


def test_stream_closed_by_end_and_silence_packet(packets: list[bytes]) -> None:
    stream = OggOpusStream(serial=5)
    shared = [OggOpusPacket(p) for p in packets[:20]]
    data = stream.header() + b"".join(stream.page(p) for p in shared) + stream.end()
    assert stream.end() == b""  # closing twice writes nothing
    pages = parse_pages(data)
    assert pages[-1].flags == 0x04 and pages[-1].body == SILENCE_PACKET
    assert pages[-1].granule == 21 * FRAME_SAMPLES
    assert len(decode_ogg(data)) == 21 * FRAME_SAMPLES - PRE_SKIP
    with OpusDecoder() as decoder:
        assert not decoder.decode(SILENCE_PACKET).any()  # digital silence


def test_an_empty_stream_is_still_a_valid_stream() -> None:
    data = OggOpusStream(serial=6).end()
    pages = parse_pages(data)
    assert [p.flags for p in pages] == [0x02, 0, 0x04]
    assert len(decode_ogg(data)) == FRAME_SAMPLES - PRE_SKIP


# --- many streams, one packet layout per tick --------------------------------------------


def test_late_joiner_gets_its_own_valid_stream(packets: list[bytes]) -> None:
    first, late = OggOpusStream(serial=1), OggOpusStream(serial=2)
    out_first, out_late = [first.header()], []
    for tick, packet in enumerate(packets):
        shared = OggOpusPacket(packet)  # built once, used by every stream
        if tick == 60:
            out_late.append(late.header())
        out_first.append(first.page(shared))
        if tick >= 60:
            out_late.append(late.page(shared))
    out_first.append(first.end())
    out_late.append(late.end())

    late_pages = parse_pages(b"".join(out_late))
    assert [p.seq for p in late_pages] == list(range(len(late_pages)))
    assert late_pages[2].granule == FRAME_SAMPLES  # its own clock, not the room's
    assert late_pages[2].body == packets[60]
    # Same packet, two streams: the pages differ only in their headers.
    page_first, page_late = out_first[61], out_late[1]
    assert page_first[27:] == page_late[27:] and page_first[:22] != page_late[:22]

    pcm = decode_ogg(b"".join(out_late))
    assert len(pcm) == (len(packets) - 60 + 1) * FRAME_SAMPLES - PRE_SKIP
    levels = tone_levels(pcm[FRAME_SAMPLES * 3 : -FRAME_SAMPLES * 2], [440, 1500])
    assert levels[440] > -15 and levels[440] - levels[1500] > 30
    assert len(decode_ogg(b"".join(out_first))) == 101 * FRAME_SAMPLES - PRE_SKIP


def test_large_packets_lace_over_several_segments() -> None:
    for size in (254, 255, 256, 510, 1275):
        packet = bytes([0xFC]) + bytes(size - 1)
        stream = OggOpusStream(serial=9)
        data = stream.header() + stream.page(OggOpusPacket(packet), last=True)
        assert parse_pages(data)[2].body == packet


def test_misuse_is_refused() -> None:
    stream = OggOpusStream()
    assert 0 <= stream.serial < 2**32
    packet = OggOpusPacket(SILENCE_PACKET)
    with pytest.raises(RuntimeError):
        stream.page(packet)  # before the header
    stream.header()
    with pytest.raises(RuntimeError):
        stream.header()
    stream.page(packet, last=True)
    with pytest.raises(RuntimeError):
        stream.page(packet)  # after EOS
    with pytest.raises(ValueError):
        OggOpusPacket(b"")
    with pytest.raises(ValueError):
        OggOpusPacket(bytes(255 * 255))
