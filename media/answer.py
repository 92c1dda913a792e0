"""Answering a member's offer: one aiortc peer connection, Opus only, one audio stream each
way at most, inbound audio tapped (media/inbound.py) before aiortc's decode path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecCapability

from media.background import Background
from media.inbound import fast_receive, tap_receiver
from media.offer_policy import OfferPolicy, screen_offer
from media.rtp import PayloadSink

log = logging.getLogger(__name__)

def new_peer_connection() -> RTCPeerConnection:
    # No STUN: the default public server times out where the network is closed.
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def opus_capabilities() -> list[RTCRtpCodecCapability]:
    caps = RTCRtpSender.getCapabilities("audio")
    assert caps is not None
    return [c for c in caps.codecs if c.mimeType.lower() == "audio/opus"]


def prefer_opus(transceiver: RTCRtpTransceiver) -> None:
    transceiver.setCodecPreferences(opus_capabilities())


_HOST_CANDIDATE = re.compile(
    r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host.*)$", re.MULTILINE
)
_CONNECTION_LINE = re.compile(r"^c=IN IP[46] [^\s]+", re.MULTILINE)


def announce_host_candidates(sdp: str, address: str) -> str:
    """Rewrite the address of every host candidate (and the c= lines) to ``address``.

    For a server behind NAT or in a container: the addresses it binds are not the ones
    its clients can reach.
    """
    family = "IP6" if ":" in address else "IP4"
    sdp = _HOST_CANDIDATE.sub(lambda m: m.group(1) + address + m.group(3), sdp)
    return _CONNECTION_LINE.sub(f"c=IN {family} {address}", sdp)


class AnsweredPeer:
    """One member's peer connection as answered by the server."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        receives_from_peer: bool,
        transceiver: RTCRtpTransceiver,
    ) -> None:
        self.pc = pc
        self.transceiver = transceiver
        self.receives_from_peer = receives_from_peer
        self._deadline: asyncio.TimerHandle | None = None

    @property
    def connected(self) -> bool:
        """ICE and DTLS are up: media can flow."""
        return bool(self.pc.connectionState == "connected")

    def expect_connection(self, timeout: float) -> None:
        """Close the connection unless it connects within `timeout` seconds: an answered offer
        that never connects must not hold its ICE sockets (and its room's media) for ever."""
        self._deadline = asyncio.get_running_loop().call_later(timeout, self._expired)

    def _expired(self) -> None:
        self._deadline = None
        if self.pc.connectionState not in ("connected", "closed"):
            log.info("closing a media connection that did not connect in time")
            _background(self.close())

    async def close(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        with contextlib.suppress(Exception):
            await self.pc.close()


_closing = Background()


def _background(coro: Any) -> None:
    _closing.track(asyncio.ensure_future(coro))


@contextlib.asynccontextmanager
async def closed_unless_answered(
    pc: RTCPeerConnection,
    *,
    stop: Callable[[], None] | None = None,
    close: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[None]:
    """Around answering an offer on ``pc``: a failure closes the connection and comes out as
    ValueError, a cancellation (the server stops, the party went) closes it too. The
    connection is nobody's yet: unclosed, its ICE sockets would outlive it. ``stop`` cuts
    its media at once first; ``close`` closes it on a failure (default ``pc.close()``)."""
    try:
        yield
    except asyncio.CancelledError:
        if stop is not None:
            stop()
        await asyncio.shield(pc.close())
        raise
    except Exception as exc:
        await (close() if close is not None else pc.close())
        if isinstance(exc, ValueError):
            raise
        raise ValueError(f"cannot answer offer: {exc}") from exc


async def answer_offer(
    sdp: str,
    *,
    outbound: Callable[[], MediaStreamTrack],
    inbound: PayloadSink,
    announce_address: str | None = None,
    on_state: Callable[[RTCPeerConnection], Any] | None = None,
    fast_inbound: bool = True,
    policy: OfferPolicy | None = None,
) -> tuple[AnsweredPeer, str]:
    """Answer a full (non-trickle) offer with one Opus audio stream each way at most.

    The offer is screened first (media.offer_policy: fingerprint, candidates kept). The
    answered connection is closed unless it connects within ``policy.connect_timeout``.
    ``outbound()`` is called only when the peer wants to receive audio. Returns the peer
    and the answer SDP (ICE candidates included). Raises ``ValueError`` for an offer that
    cannot be answered (bad SDP, no fingerprint, no usable candidate, no audio, no Opus);
    the connection is closed then.
    """
    policy = policy if policy is not None else OfferPolicy()
    sdp = screen_offer(sdp, policy)
    pc = new_peer_connection()
    # Created before the offer is applied, so Opus-only preferences drive the negotiation.
    audio = pc.addTransceiver("audio", direction="sendrecv")
    prefer_opus(audio)
    tap_receiver(audio.receiver, inbound)
    if on_state is not None:
        pc.on("connectionstatechange", lambda: on_state(pc))
    async with closed_unless_answered(pc):
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        if audio.mid is None:
            raise ValueError("offer has no audio section")
        for other in pc.getTransceivers():
            if other is not audio:
                # One audio stream per member: anything else is refused.
                other.direction = "inactive"
        peer_sends = audio._offerDirection in ("recvonly", "sendrecv")
        peer_receives = audio._offerDirection in ("sendonly", "sendrecv")
        if peer_receives:
            audio.sender.replaceTrack(outbound())
        else:
            audio.direction = "recvonly"
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)  # waits for ICE gathering
        if peer_sends and fast_inbound:
            fast_receive(audio, inbound)
    local = pc.localDescription.sdp
    if announce_address:
        local = announce_host_candidates(local, announce_address)
    # Naming from the server's side: "receives_from_peer" = we hear the peer.
    peer = AnsweredPeer(
        pc, receives_from_peer=peer_sends, transceiver=audio
    )
    peer.expect_connection(policy.connect_timeout)
    return peer, local
