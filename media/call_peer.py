"""Answering a call party's offer: one aiortc peer connection with one Opus stream each way
and, in a video call, one VP8 stream each way, every one of them at most.

Inbound audio is taken before aiortc's jitter buffer (media.inbound.hook_rtp for the ICE
sockets' fast path; media.aiortc_hooks.tap_audio for aiortc's own path), inbound video as
whole VP8 frames before its decoder (media.aiortc_hooks.FrameJitterBuffer). Outbound audio
goes through a DirectSender (media/relay.py), outbound video through aiortc's RTCRtpSender
fed pre-encoded frames (media/video.py).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from media.aiortc_hooks import (
    FrameJitterBuffer,
    FrameSink,
    on_keyframe_request,
    request_keyframe,
    tap_audio,
    tap_video,
)
from media.answer import (
    announce_host_candidates,
    closed_unless_answered,
    new_peer_connection,
    prefer_opus,
)
from media.inbound import hook_rtp
from media.relay import AudioIn, AudioSend, RelayOut
from media.rtp import audio_level_extension_id
from media.sender import DirectSender
from media.tracks import IdleTrack
from media.video import VideoOut

_VIDEO_SECTION = re.compile(r"^m=video ", re.MULTILINE)


# Makes a leg's outbound audio: the track for aiortc's sender and what sends the packets.
AudioSenderFactory = Callable[[RTCRtpTransceiver], tuple[MediaStreamTrack, AudioSend]]


def direct_audio(transceiver: RTCRtpTransceiver) -> tuple[MediaStreamTrack, AudioSend]:
    """The production way: aiortc's sender parked on an IdleTrack (its RTCP runs on), each
    packet built and sent by a DirectSender (~3x cheaper than aiortc's send path)."""
    idle = IdleTrack()
    return idle, DirectSender(transceiver, idle)


def ask_opus_fec(sdp: str, pt: int) -> str:
    """The answer asks for Opus in-band FEC (``useinbandfec=1``), which aiortc leaves out: a
    browser sends FEC only when the far end asks, and forwarded packets carry it on to the
    other party, whose decoder then rebuilds a lost packet from the next one."""
    fmtp = re.compile(rf"^a=fmtp:{pt} ([^\r\n]*)", re.MULTILINE)
    found = fmtp.search(sdp)
    if found is not None:
        if "useinbandfec=" in found.group(1):
            return sdp
        return fmtp.sub(lambda m: f"a=fmtp:{pt} {m.group(1)};useinbandfec=1", sdp, count=1)
    rtpmap = re.compile(rf"^(a=rtpmap:{pt} opus/48000/2)(\r?\n)", re.MULTILINE | re.IGNORECASE)
    return rtpmap.sub(lambda m: f"{m.group(1)}{m.group(2)}a=fmtp:{pt} minptime=10;"
                      f"useinbandfec=1{m.group(2)}", sdp, count=1)


def vp8_capabilities() -> list[RTCRtpCodecCapability]:
    """VP8 and its retransmissions (RTX): the one video codec a relay that never decodes can
    hand from one party to the other."""
    caps = RTCRtpSender.getCapabilities("video")
    assert caps is not None
    return [c for c in caps.codecs if c.mimeType.lower() in ("video/vp8", "video/rtx")]


@dataclass(eq=False)
class CallPeer:
    """One party's connection as answered by the server. ``audio_out``/``video_out`` are set
    when the party receives that kind; ``video`` when a video stream was negotiated."""

    pc: RTCPeerConnection
    audio: RTCRtpTransceiver
    audio_in: AudioIn
    audio_out: RelayOut | None = None
    video: RTCRtpTransceiver | None = None
    video_frames: FrameJitterBuffer | None = None
    video_out: VideoOut | None = None
    sends_audio: bool = False
    sends_video: bool = False

    def request_keyframe(self) -> None:
        """Ask this party for a keyframe of the video it sends (PLI)."""
        if self.video is None or self.video_frames is None:
            return
        ssrc = self.video_frames.ssrc
        if ssrc is not None:
            request_keyframe(self.video.receiver, ssrc)

    def kill(self) -> None:
        """No more media in or out, at once (the connection is closed later)."""
        self.audio_in.live = False
        if self.audio_out is not None:
            self.audio_out.stop()
        if self.video_out is not None:
            self.video_out.stop()

    async def close(self) -> None:
        self.kill()
        with contextlib.suppress(Exception):
            await self.pc.close()


@dataclass(frozen=True)
class VideoHooks:
    """Where a party's video goes, and where keyframe requests go, in a video call."""

    on_frame: FrameSink  # a whole frame of the party's video
    on_loss: Callable[[], None]  # a frame of it was lost
    keyframe_wanted: Callable[[], None]  # the party asked for a keyframe of what it receives
    want_keyframe: Callable[[], None]  # the track the party receives needs a keyframe


async def answer_call_offer(
    sdp: str,
    *,
    audio_in: AudioIn,
    video: VideoHooks | None,
    announce_address: str | None = None,
    on_state: Callable[[RTCPeerConnection], Any] | None = None,
    audio_sender: AudioSenderFactory = direct_audio,
) -> tuple[CallPeer, str]:
    """Answer a party's full (non-trickle) offer.

    ``audio_in`` gets the party's audio; ``video`` (a video call) the rest. Raises
    ``ValueError`` for an offer that cannot be answered (bad SDP, no audio, no Opus, video
    without VP8); the connection is closed then.
    """
    pc = new_peer_connection()
    # Created before the offer is applied, so the codec preferences drive the negotiation.
    audio = pc.addTransceiver("audio", direction="sendrecv")
    prefer_opus(audio)
    tap_audio(audio.receiver, audio_in.fields)
    vt: RTCRtpTransceiver | None = None
    frames: FrameJitterBuffer | None = None
    # Only when offered: aiortc cannot answer with a transceiver the offer left unmatched.
    if video is not None and _VIDEO_SECTION.search(sdp):
        vt = pc.addTransceiver("video", direction="sendrecv")
        vt.setCodecPreferences(vp8_capabilities())
        frames = FrameJitterBuffer(video.on_frame, video.on_loss)
        tap_video(vt.receiver, frames)
        on_keyframe_request(vt.sender, video.keyframe_wanted)
    if on_state is not None:
        pc.on("connectionstatechange", lambda: on_state(pc))
    peer = CallPeer(pc, audio, audio_in)
    async with closed_unless_answered(pc, stop=peer.kill, close=peer.close):
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        if audio.mid is None:
            raise ValueError("offer has no audio section")
        if vt is not None and vt.mid is None:
            raise ValueError("video section not understood")
        for other in pc.getTransceivers():
            if other is not audio and other is not vt and other.mid is not None:
                other.direction = "inactive"  # one stream of each kind per party
        peer.sends_audio = audio._offerDirection in ("recvonly", "sendrecv")
        if audio._offerDirection in ("sendonly", "sendrecv"):
            track, send = audio_sender(audio)
            audio.sender.replaceTrack(track)
            peer.audio_out = RelayOut(send, audio_level_extension_id(audio))
        else:
            audio.direction = "recvonly" if peer.sends_audio else "inactive"
        if vt is not None and video is not None:
            peer.video = vt
            peer.video_frames = frames
            peer.sends_video = vt._offerDirection in ("recvonly", "sendrecv")
            if vt._offerDirection in ("sendonly", "sendrecv"):
                peer.video_out = VideoOut(video.want_keyframe)
                vt.sender.replaceTrack(peer.video_out)
            else:
                vt.direction = "recvonly" if peer.sends_video else "inactive"
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)  # waits for ICE gathering
        audio_in.pt = audio._codecs[0].payloadType if audio._codecs else None
        audio_in.level_id = audio_level_extension_id(audio)
        if peer.sends_audio and audio_in.pt is not None:
            hook_rtp(audio, audio_in.packet, payload_type=audio_in.pt)
    local = pc.localDescription.sdp
    if audio_in.pt is not None:
        local = ask_opus_fec(local, audio_in.pt)
    if announce_address:
        local = announce_host_candidates(local, announce_address)
    return peer, local
