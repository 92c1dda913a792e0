"""aiortc adapters: answer an offer, tap raw Opus payloads, send pre-encoded packets.

Inbound audio is taken straight from the RTP receiver, before aiortc's own jitter buffer
and decoder thread (see MEDIA_NOTES.md: that buffer stalls on one lost packet and its
frame queue grows without bound when nobody calls ``recv()``). This wraps the receiver's
private ``_handle_rtp_packet``; aiortc is pinned to 1.16.0 for that reason.

Outbound audio is a track whose ``recv()`` returns ``av.Packet`` objects: aiortc's sender
then only packetizes them, so one Opus encode of a mix can go to many listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import struct
from collections.abc import Callable
from typing import Any

import av
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
    clock,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.rtcrtpreceiver import RTCRtpReceiver, StreamStatistics
from aiortc.rtp import RtpPacket

from audio.constants import SAMPLE_RATE, TIME_BASE

# 5 packets = 100 ms: a listener that falls further behind loses its oldest audio
# rather than accumulating delay (or memory).
OUTBOUND_QUEUE_PACKETS = 5

# (sequence number, Opus payload, RFC 6464 level as (vad, -dBov) or None)
PayloadSink = Callable[[int, bytes, "tuple[bool, int] | None"], None]


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


def tap_receiver(receiver: RTCRtpReceiver, sink: PayloadSink) -> None:
    """Route the receiver's RTP payloads to ``sink`` and bypass aiortc's decode path.

    aiortc's own handler would feed its jitter buffer and decoder thread, whose output
    queue nobody drains; replacing it keeps both empty. RTCP receiver statistics are
    still kept so the sender gets honest receiver reports.
    """
    stats: dict[int, StreamStatistics] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        if not receiver._enabled:
            return
        stream = stats.get(packet.ssrc)
        if stream is None:
            stream = stats[packet.ssrc] = StreamStatistics(SAMPLE_RATE)
        stream.add(packet)
        if packet.payload:
            sink(packet.sequence_number, packet.payload, packet.extensions.audio_level)

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]


def fast_receive(transceiver: RTCRtpTransceiver, sink: PayloadSink) -> int:
    """Take SRTP audio straight from the ICE sockets to ``sink``, past aiortc's receive path.

    aiortc hands every datagram through a STUN parse attempt, an asyncio queue, a task
    wake-up, its RTP parser and router (~50 µs a packet measured here); this unprotects and
    parses the 12-byte header and the RFC 6464 level in the datagram callback (~10 µs).
    DTLS, RTCP and STUN still take aiortc's way. Install after ICE gathering (the answer);
    returns how many sockets were hooked. Private aiortc/aioice attributes: aiortc is pinned.
    """
    receiver = transceiver.receiver
    dtls = receiver.transport
    connection = dtls.transport._connection
    # aiortc's receiver reports (RTCP RR: loss, jitter) still count these packets.
    stats: dict[int, StreamStatistics] = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
    opus_pt = transceiver._codecs[0].payloadType if transceiver._codecs else None
    level_id = audio_level_extension_id(transceiver)
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
            ):
                if receiver._enabled:
                    try:
                        packet = dtls._rx_srtp.unprotect(data)
                    except Exception:  # pylibsrtp.Error: forged, replayed or corrupt
                        return
                    _deliver_rtp(packet, opus_pt, level_id, sink)
                    _count(stats, packet)
                return
            original(data, addr)

        protocol.datagram_received = datagram_received  # type: ignore[method-assign, assignment]
        hooked += 1
    return hooked


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


def _deliver_rtp(
    packet: bytes, opus_pt: int | None, level_id: int | None, sink: PayloadSink
) -> None:
    first = packet[0]
    if packet[1] & 0x7F != opus_pt:
        return
    seq = (packet[2] << 8) | packet[3]
    pos = 12 + 4 * (first & 0x0F)
    level: tuple[bool, int] | None = None
    if first & 0x10:  # header extension
        if len(packet) < pos + 4:
            return
        profile = (packet[pos] << 8) | packet[pos + 1]
        end = pos + 4 + 4 * ((packet[pos + 2] << 8) | packet[pos + 3])
        if profile == 0xBEDE and level_id is not None:  # RFC 8285 one-byte elements
            i = pos + 4
            while i < end and i < len(packet):
                b = packet[i]
                if b == 0:
                    i += 1
                    continue
                ext_id, size = b >> 4, (b & 0x0F) + 1
                if ext_id == 15:
                    break
                if ext_id == level_id and i + 1 < len(packet):
                    v = packet[i + 1]
                    level = (bool(v & 0x80), v & 0x7F)
                i += 1 + size
        pos = end
    stop = len(packet) - (packet[-1] if first & 0x20 else 0)  # padding
    if stop > pos:
        sink(seq, packet[pos:stop], level)


class Outgoing:
    """One tick's encoded frame for one or many listeners (built once, shared)."""

    __slots__ = ("_packet", "ntp", "payload", "pts", "tick")

    def __init__(self, tick: int, payload: bytes, pts: int, ntp: int = 0) -> None:
        self.tick = tick
        self.payload = payload
        self.pts = pts
        self.ntp = ntp  # the tick's NTP time, for RTCP sender reports
        self._packet: av.Packet | None = None

    @property
    def packet(self) -> av.Packet:
        if self._packet is None:
            self._packet = make_packet(self.payload, self.pts)
        return self._packet


class PacketTrack(MediaStreamTrack):
    """An outbound audio track fed with encoded Opus packets by the room clock.

    The queue is bounded: when the sender falls behind, the oldest packet is dropped.
    Items carry the tick number so latency probes can tell which tick went out when.
    """

    kind = "audio"

    def __init__(self, maxsize: int = OUTBOUND_QUEUE_PACKETS) -> None:
        super().__init__()
        self._queue: asyncio.Queue[tuple[int, av.Packet] | None] = asyncio.Queue(maxsize)
        self.dropped = 0
        self.sent = 0
        self.on_sent: Callable[[int], None] | None = None

    def deliver(self, out: Outgoing) -> None:
        self.push(out.tick, out.packet)

    def push(self, tick: int, packet: av.Packet) -> None:
        if self.readyState != "live":
            return
        if self._queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait((tick, packet))

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        item = await self._queue.get()
        if item is None:
            raise MediaStreamError
        tick, packet = item
        self.sent += 1
        if self.on_sent is not None:
            self.on_sent(tick)
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            # Wake a pending recv() so the sender loop ends.
            while True:
                try:
                    self._queue.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    self._queue.get_nowait()
        super().stop()


def make_packet(payload: bytes, pts: int) -> av.Packet:
    # aiortc's sender stops for good on a packet without int pts and time_base.
    packet = av.Packet(payload)
    packet.pts = pts
    packet.time_base = TIME_BASE
    return packet


class IdleTrack(MediaStreamTrack):
    """Parks aiortc's RTP sender loop (a DirectSender sends in its place); its RTCP runs on."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> av.Packet:
        await asyncio.shield(self._ended)
        raise MediaStreamError

    def stop(self) -> None:
        if not self._ended.done():
            self._ended.set_result(None)
        super().stop()


_RTP_HEADER = struct.Struct("!BBHII")
SRTP_MAX_TRAILER_LEN = 144  # libsrtp's bound on what protect() appends
_PACK_HEADER = _RTP_HEADER.pack_into
_CONNECTED = DtlsState.CONNECTED


class _Route:
    """What sending on one ICE pair with one SRTP session needs, looked up once per pair or
    key change. Fast when pylibsrtp's internals are as expected: the packet is assembled in
    place in the session's own libsrtp buffer (no header, packet or protected-copy
    allocation), protected by a direct libsrtp call and handed to the pair's raw socket as
    a memoryview of that buffer (pylibsrtp's ``protect()`` and asyncio's ``sendto`` add
    ~3 µs of Python a packet)."""

    __slots__ = ("addr", "buffer", "cdata", "fast", "length", "protect", "room", "sendto",
                 "srtp", "view")

    def __init__(self, session: Any, transport: Any, addr: Any) -> None:
        self.addr = addr
        self.fast = False
        # The raw socket: a UDP socket whose buffer is full drops the packet
        # (BlockingIOError), as live audio should; asyncio would queue it.
        sock = getattr(transport, "_sock", None)
        self.sendto: Callable[..., Any] = sock.sendto if sock is not None else transport.sendto
        self.protect: Callable[..., Any] = session.protect
        try:
            from pylibsrtp._binding import ffi, lib

            self.srtp = session._srtp[0]
            self.cdata = session._cdata
            self.buffer = session._buffer
            self.view = memoryview(self.buffer)
            self.room = len(self.buffer) - SRTP_MAX_TRAILER_LEN
            self.length = ffi.new("int *")
            self.protect = lib.srtp_protect
            self.fast = sock is not None
        except (ImportError, AttributeError, TypeError, IndexError):
            self.protect = session.protect


class DirectSender:
    """Sends pre-encoded Opus to one listener without aiortc's per-packet send path.

    Per packet: a 12-byte RTP header (the SSRC and payload type aiortc negotiated), SRTP
    protect on the DTLS transport's session, ``sendto`` on the selected ICE pair's socket:
    no task wake-up, no awaits (MEDIA_NOTES "C2": ~16-19 µs per listener-packet against
    41-52 µs through RTCRtpSender). aiortc's sender stays up with an IdleTrack for RTCP;
    its packet/octet counters and timestamps are kept here so its sender reports are true.
    Private aiortc/aioice attributes: aiortc is pinned (pyproject).
    """

    __slots__ = (
        "_dtls", "_nominated", "_pair", "_pt", "_route", "_sender", "_seq", "_srtp",
        "_ssrc", "_ts0", "dropped", "live", "sent", "track",
    )

    def __init__(self, transceiver: RTCRtpTransceiver, track: IdleTrack) -> None:
        sender = transceiver.sender
        self._sender = sender
        self._dtls = sender.transport
        # aioice's nominated pairs by component: the same dict for the connection's life.
        self._nominated: dict[int, Any] = self._dtls.transport._connection._nominated
        self._ssrc = sender._ssrc
        self._pt = int(transceiver._codecs[0].payloadType or 0)
        self._seq = random.randrange(1 << 16)
        self._ts0 = random.randrange(1 << 32)
        self.track = track
        self._srtp: Any = None  # the DTLS transport's SRTP session, once keyed
        self._pair: Any = None  # the selected ICE pair
        self._route: _Route | None = None  # how to send on that pair with that session
        self.live = True
        self.sent = 0
        self.dropped = 0

    def deliver(self, out: Outgoing) -> None:
        self.send(out.payload, out.pts, out.ntp)

    def send(self, payload: bytes, pts: int, ntp: int, extension: bytes = b"") -> None:
        """Send one packet. ``extension``: a ready RTP header-extension block (RFC 8285,
        e.g. from ``audio_level_extension``), or none."""
        staged = self.stage(payload, pts, ntp, extension)
        if staged is not None:
            send_staged([staged])

    def stage(self, payload: bytes, pts: int, ntp: int, extension: bytes = b"") -> Staged | None:
        """Build and protect one packet; the ``sendto`` is left to ``send_staged``.

        The protected packet is a view of this connection's SRTP buffer: valid until
        anything else protects on that session, so stage and send in one go (a tick's
        listeners: all staged, then all sent, which keeps the system calls out of the
        Python loop's way: a system call between two listeners' Python leaves its caches
        cold). None: not sendable (not connected yet, or closing); counted as dropped."""
        dtls = self._dtls
        pair = self._nominated.get(1)
        if dtls._state is not _CONNECTED or pair is None or not self.live:
            self.dropped += 1
            return None
        route = self._route
        if route is None or pair is not self._pair or dtls._tx_srtp is not self._srtp:
            # First packet, or ICE picked another pair, or DTLS re-keyed: look things up.
            try:
                route = _Route(dtls._tx_srtp, pair.protocol.transport, pair.remote_addr)
            except AttributeError:  # the pair's protocol lost its transport: closing
                self.dropped += 1
                return None
            self._pair = pair
            self._srtp = dtls._tx_srtp
            self._route = route
        timestamp = (self._ts0 + pts) & 0xFFFFFFFF
        seq = self._seq
        self._seq = (seq + 1) & 0xFFFF
        try:
            if route.fast:
                buffer = route.buffer
                _PACK_HEADER(buffer, 0, 0x90 if extension else 0x80, self._pt, seq,
                             timestamp, self._ssrc)
                n = 12
                if extension:
                    n += len(extension)
                    buffer[12:n] = extension
                end = n + len(payload)
                if end > route.room:
                    raise ValueError("packet is too long")
                buffer[n:end] = payload
                length = route.length
                length[0] = end
                if route.protect(route.srtp, route.cdata, length):
                    raise ValueError("srtp_protect failed")
                data: Any = route.view[: length[0]]
            else:
                header = _RTP_HEADER.pack(0x90 if extension else 0x80, self._pt, seq,
                                          timestamp, self._ssrc)
                data = route.protect(header + extension + payload)
        except (AttributeError, ValueError):
            self.dropped += 1
            return None
        self.sent += 1
        sender: Any = self._sender
        sender._RTCRtpSender__ntp_timestamp = ntp
        sender._RTCRtpSender__rtp_timestamp = timestamp
        sender._RTCRtpSender__octet_count += len(payload)
        sender._RTCRtpSender__packet_count += 1
        return (self, route.sendto, data, route.addr, len(payload))

    def _unsent(self, payload_bytes: int) -> None:
        # The socket refused a staged packet: take it back out of the counters.
        self.sent -= 1
        self.dropped += 1
        sender: Any = self._sender
        sender._RTCRtpSender__octet_count -= payload_bytes
        sender._RTCRtpSender__packet_count -= 1

    def stop(self) -> None:
        self.live = False
        self.track.stop()


# (sender, sendto, protected packet, address, payload bytes): see DirectSender.stage.
Staged = tuple[DirectSender, Callable[..., Any], Any, Any, int]


def send_staged(staged: list[Staged]) -> None:
    """The ``sendto`` of staged packets, back to back. A socket that refuses one (closing,
    or its buffer full: live audio drops rather than queues) loses that packet only."""
    for sender, sendto, data, addr, size in staged:
        try:
            sendto(data, addr)
        except (AttributeError, OSError):
            sender._unsent(size)


AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def audio_level_extension_id(transceiver: RTCRtpTransceiver) -> int | None:
    """The negotiated one-byte header-extension id of RFC 6464 audio levels, if any."""
    for ext in transceiver._headerExtensions:
        if ext.uri == AUDIO_LEVEL_URI:
            return int(ext.id)
    return None


def audio_level_extension(ext_id: int, dbov: int, vad: bool = False) -> bytes:
    """An RFC 8285 one-byte-header extension block carrying an RFC 6464 level (-dBov)."""
    level = min(127, max(0, dbov)) | (0x80 if vad else 0)
    return bytes((0xBE, 0xDE, 0, 1, (ext_id << 4) & 0xF0, level, 0, 0))


def ntp_now() -> int:
    return int(clock.current_ntp_time())


class AnsweredPeer:
    """One member's peer connection as answered by the server."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        sends_to_peer: bool,
        receives_from_peer: bool,
        transceiver: RTCRtpTransceiver,
    ) -> None:
        self.pc = pc
        self.transceiver = transceiver
        self.sends_to_peer = sends_to_peer
        self.receives_from_peer = receives_from_peer

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.pc.close()


async def answer_offer(
    sdp: str,
    *,
    outbound: Callable[[], MediaStreamTrack],
    inbound: PayloadSink,
    announce_address: str | None = None,
    on_state: Callable[[RTCPeerConnection], Any] | None = None,
    fast_inbound: bool = True,
) -> tuple[AnsweredPeer, str]:
    """Answer a full (non-trickle) offer with one Opus audio stream each way at most.

    ``outbound()`` is called only when the peer wants to receive audio. Returns the peer
    and the answer SDP (ICE candidates included). Raises ``ValueError`` for an offer that
    cannot be answered (bad SDP, no audio, no Opus); the connection is closed then.
    """
    pc = new_peer_connection()
    # Created before the offer is applied, so Opus-only preferences drive the negotiation.
    audio = pc.addTransceiver("audio", direction="sendrecv")
    prefer_opus(audio)
    tap_receiver(audio.receiver, inbound)
    if on_state is not None:
        pc.on("connectionstatechange", lambda: on_state(pc))
    try:
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
    except asyncio.CancelledError:
        # Stopped mid-answer (the server stops, the member went): the connection is nobody's
        # yet, so close it here or its ICE sockets outlive it.
        await asyncio.shield(pc.close())
        raise
    except Exception as exc:
        await pc.close()
        if isinstance(exc, ValueError):
            raise
        raise ValueError(f"cannot answer offer: {exc}") from exc
    local = pc.localDescription.sdp
    if announce_address:
        local = announce_host_candidates(local, announce_address)
    # Naming from the server's side: "sends_to_peer" = we send; "receives_from_peer" = we hear.
    peer = AnsweredPeer(
        pc, sends_to_peer=peer_receives, receives_from_peer=peer_sends, transceiver=audio
    )
    return peer, local
