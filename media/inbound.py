"""Inbound audio: raw Opus payloads taken from a peer connection before aiortc's decode path.

aiortc's own path feeds a jitter buffer that stalls on one lost packet and a decoder thread
whose frame queue grows without bound when nobody calls ``recv()``. These hooks replace it
(private aiortc and aioice attributes: aiortc is pinned in pyproject.toml). ``Inbound`` is what
a room session keeps per speaker: the jitter buffer and decoder those payloads go to.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from aiortc import RTCRtpTransceiver
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtp import RtpPacket

from audio.constants import SAMPLE_RATE
from audio.jitter import JitterBuffer
from audio.opus import OpusDecoder
from media.aiortc_hooks import hook_receiver
from media.rtp import PayloadSink, audio_level_extension_id, deliver_rtp

LEVEL_RING = 64  # levels kept by sequence number, for the packets in the jitter buffer


class Inbound:
    """One speaker's incoming audio on one peer connection (a re-offer makes a new one)."""

    __slots__ = ("active", "decoder", "jitter", "levels", "sounding", "user")

    def __init__(self, user: str) -> None:
        self.user = user
        self.jitter = JitterBuffer()
        self.decoder = OpusDecoder()
        # RFC 6464 level (-dBov) of the packet with sequence number seq, at seq % LEVEL_RING.
        self.levels: list[int | None] = [None] * LEVEL_RING
        self.active = True
        # Whether the decoder made sound last tick: the next packet then ends that sound
        # (Opus frames overlap), so it is decoded even when it says it is silent.
        self.sounding = False

    def reset(self) -> None:
        self.jitter = JitterBuffer()
        self.decoder = OpusDecoder()
        self.sounding = False


def tap_receiver(receiver: RTCRtpReceiver, sink: PayloadSink) -> None:
    """Route the receiver's RTP payloads to ``sink``, past aiortc's jitter buffer and decoder
    thread (``hook_receiver``); empty payloads are dropped."""

    def on_packet(packet: RtpPacket) -> None:
        if packet.payload:
            sink(packet.sequence_number, packet.payload, packet.extensions.audio_level)

    hook_receiver(receiver, on_packet)


def fast_receive(transceiver: RTCRtpTransceiver, sink: PayloadSink) -> int:
    """Take SRTP audio straight from the ICE sockets to ``sink``, past aiortc's receive path.

    aiortc hands every datagram through a STUN parse attempt, an asyncio queue, a task
    wake-up, its RTP parser and router (~50 µs a packet measured here); this unprotects and
    parses the 12-byte header and the RFC 6464 level in the datagram callback (~10 µs).
    DTLS, RTCP and STUN still take aiortc's way. Install after ICE gathering (the answer);
    returns how many sockets were hooked.
    """
    opus_pt = transceiver._codecs[0].payloadType if transceiver._codecs else None
    level_id = audio_level_extension_id(transceiver)

    def deliver(packet: bytes) -> None:
        deliver_rtp(packet, opus_pt, level_id, sink)

    return hook_rtp(transceiver, deliver)


def hook_rtp(
    transceiver: RTCRtpTransceiver,
    on_packet: Callable[[bytes], None],
    payload_type: int | None = None,
) -> int:
    """Hand unprotected RTP packets of the connection to ``on_packet`` in the ICE sockets'
    datagram callback (see ``fast_receive``), counted for the receiver's RTCP reports.

    ``payload_type``: only packets of that type are taken (read from the clear header before
    any work); the others, such as a bundled video stream's, go aiortc's way. None: every
    RTP packet is taken. Returns how many sockets were hooked.
    """
    receiver = transceiver.receiver
    dtls = receiver.transport
    connection = dtls.transport._connection
    # aiortc's receiver reports (RTCP RR: loss, jitter) still count these packets.
    stats: dict[int, StreamStatistics] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
    unprotect = _Unprotect(None)
    hooked = 0
    for protocol in list(connection._protocols):
        original = protocol.datagram_received

        def datagram_received(
            data: bytes, addr: tuple[Any, ...], original: Callable[..., None] = original
        ) -> None:
            # 128..191: RTP or RTCP (RFC 7983); 192..208 in the second byte: RTCP.
            if (
                len(data) > 12
                and 127 < data[0] < 192
                and not 191 < data[1] < 209
                and dtls._rx_srtp is not None
                and (payload_type is None or data[1] & 0x7F == payload_type)
            ):
                if receiver._enabled:
                    nonlocal unprotect
                    if unprotect.session is not dtls._rx_srtp:  # first packet, or re-keyed
                        unprotect = _Unprotect(dtls._rx_srtp)
                    packet = unprotect(data)
                    if packet is None:  # forged, replayed or corrupt
                        return
                    on_packet(packet)
                    _count(stats, packet)
                return
            original(data, addr)

        protocol.datagram_received = datagram_received  # type: ignore[method-assign, assignment]
        hooked += 1
    return hooked


class _Unprotect:
    """SRTP unprotect of one session, straight into its own libsrtp buffer: pylibsrtp's
    ``unprotect()`` allocates a length cell and checks types for every packet (~0.4 µs of
    its ~1.2). Falls back to it when pylibsrtp's internals are not as expected."""

    __slots__ = ("buffer", "cdata", "fast", "length", "session", "srtp", "unprotect")

    def __init__(self, session: Any) -> None:
        self.session = session
        self.fast = False
        if session is None:
            return
        self.unprotect = session.unprotect
        try:
            from pylibsrtp._binding import ffi, lib

            self.srtp = session._srtp[0]
            self.cdata = session._cdata
            self.buffer = session._buffer
            self.length = ffi.new("int *")
            self.unprotect = lib.srtp_unprotect
            self.fast = True
        except (ImportError, AttributeError, TypeError, IndexError):
            pass

    def __call__(self, data: bytes) -> bytes | None:
        if not self.fast:
            try:
                packet: bytes = self.unprotect(data)
            except Exception:  # pylibsrtp.Error
                return None
            return packet
        size = len(data)
        if size > len(self.buffer):
            return None
        self.buffer[0:size] = data
        length = self.length
        length[0] = size
        if self.unprotect(self.srtp, self.cdata, length):
            return None
        return self.buffer[0 : length[0]]


class _RtpHeader:
    """The two fields aiortc's StreamStatistics reads of a packet."""

    __slots__ = ("sequence_number", "timestamp")

    def __init__(self, sequence_number: int, timestamp: int) -> None:
        self.sequence_number = sequence_number
        self.timestamp = timestamp


def _count(stats: dict[int, StreamStatistics], packet: bytes) -> None:
    seq, timestamp, ssrc = struct.unpack_from("!HII", packet, 2)
    stream = stats.get(ssrc)
    if stream is None:
        if len(stats) >= 4:  # one audio stream per connection; never grow on junk SSRCs
            return
        stream = stats[ssrc] = StreamStatistics(SAMPLE_RATE)
    stream.add(_RtpHeader(seq, timestamp))  # type: ignore[arg-type]
