"""The private aiortc internals media/aiortc_hooks.py leans on are still there and still
behave (this fails first when aiortc moves), and its frame buffer's own rules."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from aiortc.codecs import depayload
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket, RtpPacket

from media.aiortc_hooks import (
    PINNED_AIORTC,
    FrameJitterBuffer,
    aiortc_version,
    on_keyframe_request,
    tap_audio,
    tap_video,
)
from media.answer import new_peer_connection
from media.call_peer import vp8_capabilities

VP8_PT = 97


def test_aiortc_is_the_pinned_version() -> None:
    assert aiortc_version() == PINNED_AIORTC


def test_the_receive_path_still_goes_through_the_hooked_attributes() -> None:
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    assert "self.__jitter_buffer.add(packet)" in handle
    assert "self.__remote_streams[packet.ssrc].add(packet)" in handle
    assert "depayload(codec, packet.payload)" in handle
    assert "RTCP_PSFB_PLI" in inspect.getsource(RTCRtpReceiver._send_rtcp_pli)
    rtcp = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "RTCP_PSFB_FIR" in rtcp and "self._send_keyframe()" in rtcp
    assert "self.__encoder.pack(data)" in inspect.getsource(RTCRtpSender._next_encoded_frame)


async def test_keyframe_requests_land_in_the_hook() -> None:
    pc = new_peer_connection()
    try:
        sender: Any = pc.addTransceiver("video", direction="sendrecv").sender
        asked: list[int] = []
        on_keyframe_request(sender, lambda: asked.append(1))
        for fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            await sender._handle_rtcp_packet(
                RtcpPsfbPacket(fmt=fmt, ssrc=1, media_ssrc=sender._ssrc))
        assert asked == [1, 1]
    finally:
        await pc.close()


async def test_the_receivers_buffers_are_where_the_hooks_put_things() -> None:
    pc = new_peer_connection()
    try:
        video: Any = pc.addTransceiver("video").receiver
        frames = FrameJitterBuffer(lambda *a: None, lambda: None)
        tap_video(video, frames)
        assert video._RTCRtpReceiver__jitter_buffer is frames
        audio: Any = pc.addTransceiver("audio").receiver
        got: list[tuple[Any, ...]] = []
        tap_audio(audio, lambda *fields: got.append(fields))
        packet = RtpPacket(payload_type=111, sequence_number=5, timestamp=960, ssrc=7,
                           payload=b"opus")
        packet.extensions.audio_level = (True, 30)
        await audio._handle_rtp_packet(packet, arrival_time_ms=0)
        assert got == [(5, 960, 7, b"opus", (True, 30))]
        assert audio._RTCRtpReceiver__remote_streams[7].packets_received == 1
    finally:
        await pc.close()


def test_vp8_is_the_video_codec_offered() -> None:
    assert [c.mimeType for c in vp8_capabilities()] == ["video/VP8", "video/rtx"]


# --- FrameJitterBuffer: whole frames out as soon as their last packet is in -------------------

def vp8_packets(frame: bytes, seq: int, timestamp: int) -> list[RtpPacket]:
    """A frame packetized as aiortc's sender does, depayloaded as its receiver does."""
    payloads = Vp8Encoder._packetize(frame, picture_id=1)
    packets = []
    for i, payload in enumerate(payloads):
        packet = RtpPacket(payload_type=VP8_PT, sequence_number=(seq + i) & 0xFFFF,
                           timestamp=timestamp, ssrc=42, payload=payload)
        packet.marker = int(i == len(payloads) - 1)
        packet._data = depayload(_vp8_codec(), payload)  # type: ignore[attr-defined]
        packets.append(packet)
    return packets


def _vp8_codec() -> Any:
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    return RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=VP8_PT)


class Collect:
    def __init__(self) -> None:
        self.frames: list[tuple[bytes, int, int, bool]] = []
        self.losses = 0
        self.buffer = FrameJitterBuffer(self.frame, self.loss)

    def frame(self, data: bytes, timestamp: int, ssrc: int, keyframe: bool) -> None:
        self.frames.append((data, timestamp, ssrc, keyframe))

    def loss(self) -> None:
        self.losses += 1

    def add(self, packets: list[RtpPacket]) -> None:
        for packet in packets:
            assert self.buffer.add(packet) == (False, None)  # aiortc's own PLI stays off


KEY = b"\x10" + bytes(3000)  # frame tag bit 0 clear: a keyframe, three packets' worth
DELTA = b"\x11" + bytes(500)


def test_a_frame_comes_out_with_its_last_packet() -> None:
    got = Collect()
    first = vp8_packets(KEY, 100, 9000)
    assert len(first) == 3
    got.add(first[:2])
    assert got.frames == []
    got.add(first[2:])
    assert got.frames == [(KEY, 9000, 42, True)]
    got.add(vp8_packets(DELTA, 103, 12000))
    assert got.frames[1] == (DELTA, 12000, 42, False) and got.losses == 0


def test_reordered_packets_and_a_wrapping_sequence() -> None:
    got = Collect()
    packets = vp8_packets(KEY, 65534, 9000) + vp8_packets(DELTA, 1, 12000)
    got.add([packets[0], packets[2], packets[1], packets[3]])
    assert [f[0] for f in got.frames] == [KEY, DELTA]


def test_a_frame_without_its_start_is_a_loss() -> None:
    got = Collect()
    got.add(vp8_packets(KEY, 10, 9000)[1:])  # joined mid-frame
    assert got.frames == [] and got.losses == 1
    got.add(vp8_packets(DELTA, 13, 12000))
    assert [f[0] for f in got.frames] == [DELTA]


@pytest.mark.parametrize("marker", [True, False])
def test_a_frame_whose_marker_was_not_set_ends_at_the_next(marker: bool) -> None:
    got = Collect()
    first = vp8_packets(DELTA, 10, 9000)
    first[-1].marker = int(marker)
    got.add(first)
    assert len(got.frames) == int(marker)
    got.add(vp8_packets(DELTA, 11, 12000))
    assert [f[1] for f in got.frames] == [9000, 12000]


def test_padding_between_frames_is_no_loss() -> None:
    got = Collect()
    got.add(vp8_packets(DELTA, 10, 9000))
    padding = RtpPacket(payload_type=VP8_PT, sequence_number=11, timestamp=9000, ssrc=42,
                        payload=b"")
    padding._data = b""  # type: ignore[attr-defined]
    got.add([padding])
    got.add(vp8_packets(KEY, 12, 12000))
    assert [f[0] for f in got.frames] == [DELTA, KEY] and got.losses == 0
