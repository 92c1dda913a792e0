"""Outbound audio without aiortc's per-packet send path: ``DirectSender`` builds each
listener's RTP packet, protects it with the DTLS transport's SRTP session and sends it on the
selected ICE pair's socket, inside the room's tick; ``send_staged`` sends a tick's packets
back to back."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from aiortc import RTCRtpTransceiver
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import (
    RtcpByePacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
)

from media.rtp import RTP_HEADER
from media.tracks import IdleTrack, Outgoing

SRTP_MAX_TRAILER_LEN = 144  # libsrtp's bound on what protect() appends
RTCP_INTERVAL = 5.0  # seconds between a listener stream's sender reports, on average
_PACK_HEADER = RTP_HEADER.pack_into
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
    no task wake-up, no awaits (~16-19 µs per listener-packet against 41-52 µs through
    RTCRtpSender, measured with bench/fanout.py). aiortc's sender stays up with an IdleTrack
    for RTCP; its packet/octet counters and timestamps are kept here so its sender reports are
    true.
    Private aiortc/aioice attributes: aiortc is pinned (pyproject.toml).
    """

    __slots__ = (
        "_dtls", "_nominated", "_pair", "_pt", "_route", "_rtcp_ignored", "_sender", "_seq",
        "_srtp", "_ssrc", "_ts0", "listen_only", "live", "track",
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
        # The peer only receives: its RTCP carries nothing but its reports on this stream.
        self.listen_only = transceiver.currentDirection == "sendonly"
        self._rtcp_ignored = False
        # aiortc's sender starts its RTCP loop through this attribute once connected (later
        # than now: the answer is not out yet): ours reports at RFC 3550's interval.
        sender._run_rtcp = lambda: _run_rtcp(sender)  # type: ignore[method-assign]

    def deliver(self, out: Outgoing) -> None:
        self.send(out.payload, out.pts, out.ntp)

    def send(self, payload: bytes, pts: int, ntp: int, extension: bytes = b"") -> None:
        """Send one packet. ``extension``: a ready RTP header-extension block (RFC 8285,
        e.g. from ``audio_level_extension``), or none."""
        staged = self.stage(payload, pts, ntp, extension)
        if staged is not None:
            send_staged([staged])

    def stage(self, payload: bytes, pts: int, ntp: int, extension: bytes = b"") -> Staged | None:
        """Build and protect one packet, the next in this sender's sequence at ``pts``; the
        ``sendto`` is left to ``send_staged``.

        The protected packet is a view of this connection's SRTP buffer: valid until
        anything else protects on that session, so stage and send in one go (a tick's
        listeners: all staged, then all sent, which keeps the system calls out of the
        Python loop's way: a system call between two listeners' Python leaves its caches
        cold). None: not sendable (not connected yet, or closing)."""
        staged = self.stage_at(payload, self._seq, (self._ts0 + pts) & 0xFFFFFFFF, ntp,
                               extension)
        if staged is not None:
            self._seq = (self._seq + 1) & 0xFFFF
        return staged

    def send_at(self, payload: bytes, seq: int, timestamp: int, ntp: int,
                extension: bytes = b"") -> bool:
        """Send one packet with the given RTP sequence number and timestamp now (a relay
        maps its source's numbers to this leg's own); False: not sent."""
        staged = self.stage_at(payload, seq, timestamp, ntp, extension)
        if staged is None:
            return False
        try:
            staged[1](staged[2], staged[3])
        except (AttributeError, OSError):
            self._unsent(staged[4])
            return False
        return True

    def stage_at(self, payload: bytes, seq: int, timestamp: int, ntp: int,
                 extension: bytes = b"") -> Staged | None:
        """``stage`` with the RTP sequence number and timestamp given."""
        dtls = self._dtls
        pair = self._nominated.get(1)
        if dtls._state is not _CONNECTED or pair is None or not self.live:
            return None
        route = self._route
        if route is None or pair is not self._pair or dtls._tx_srtp is not self._srtp:
            # First packet, or ICE picked another pair, or DTLS re-keyed: look things up.
            try:
                route = _Route(dtls._tx_srtp, pair.protocol.transport, pair.remote_addr)
            except AttributeError:  # the pair's protocol lost its transport: closing
                return None
            self._pair = pair
            self._srtp = dtls._tx_srtp
            self._route = route
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
                header = RTP_HEADER.pack(0x90 if extension else 0x80, self._pt, seq,
                                          timestamp, self._ssrc)
                data = route.protect(header + extension + payload)
        except (AttributeError, ValueError):
            return None
        sender: Any = self._sender
        sender._RTCRtpSender__ntp_timestamp = ntp
        sender._RTCRtpSender__rtp_timestamp = timestamp
        sender._RTCRtpSender__octet_count += len(payload)
        sender._RTCRtpSender__packet_count += 1
        return (self, route.sendto, data, route.addr, len(payload))

    def endpoint(self) -> Endpoint | None:
        """Where and how this listener's packets go now, for a batched sender (media/fanout.py)
        that builds, protects and sends them itself: None while not sendable (connecting,
        closing, or SRTP/the socket not as expected)."""
        dtls = self._dtls
        pair = self._nominated.get(1)
        if dtls._state is not _CONNECTED or pair is None or not self.live:
            return None
        srtp = dtls._tx_srtp
        try:
            sock = pair.protocol.transport._sock
            fd = sock.fileno()
            address = int(_ffi_address(srtp._srtp[0]))
        except (AttributeError, TypeError, IndexError, ImportError):
            return None
        if fd < 0:
            return None
        host, port = pair.remote_addr[0], pair.remote_addr[1]
        return Endpoint(pair, srtp, sock, fd, address, str(host), int(port), self._ssrc,
                        self._pt, self._ts0)

    def ignore_rtcp(self) -> None:
        """Drop the RTCP a listen-only peer sends (its receiver reports) at the ICE sockets,
        unread. aiortc would take each through a STUN parse attempt, a queue, a task wake-up,
        SRTCP and its parser (~50 µs, about once a second per listener) for statistics that
        nothing here reads. DTLS, STUN (consent) and anything else still go aiortc's way."""
        if self._rtcp_ignored or not self.listen_only:
            return
        self._rtcp_ignored = True
        protocols: list[Any] = list(self._dtls.transport._connection._protocols)
        for protocol in protocols:
            original = protocol.datagram_received

            def datagram_received(data: bytes, addr: Any, original: Any = original) -> None:
                if len(data) > 1 and 127 < data[0] < 192 and 191 < data[1] < 224:
                    return  # RTCP (RFC 5761 demultiplexing)
                original(data, addr)

            protocol.datagram_received = datagram_received

    @property
    def seq(self) -> int:
        """The next packet's RTP sequence number."""
        return self._seq

    def sent_elsewhere(self, seq: int, packets: int, octets: int, pts: int | None,
                       ntp: int) -> None:
        """A batched sender sent ``packets`` for this listener: the sequence goes on at
        ``seq``, and aiortc's counters and timestamps (its RTCP sender reports) follow
        (the timestamps of the tick at ``pts``; None: left as they are)."""
        self._seq = seq & 0xFFFF
        sender: Any = self._sender
        if pts is not None:
            sender._RTCRtpSender__ntp_timestamp = ntp
            sender._RTCRtpSender__rtp_timestamp = (self._ts0 + pts) & 0xFFFFFFFF
        sender._RTCRtpSender__octet_count += octets
        sender._RTCRtpSender__packet_count += packets

    def _unsent(self, payload_bytes: int) -> None:
        # The socket refused a staged packet: take it back out of aiortc's sender counters.
        sender: Any = self._sender
        sender._RTCRtpSender__octet_count -= payload_bytes
        sender._RTCRtpSender__packet_count -= 1

    def stop(self) -> None:
        self.live = False
        self.track.stop()


async def _run_rtcp(sender: Any, interval: float = RTCP_INTERVAL) -> None:
    """aiortc's ``RTCRtpSender._run_rtcp`` (a sender report and the CNAME, then a BYE when
    stopped) at RFC 3550's minimum interval, 5 s varied over [0.5, 1.5] of it, instead of
    aiortc's 1 s: a listener-only stream's reports serve statistics only, and a room's
    hundreds of listeners' reports are the largest part of its per-listener cost after the
    packets themselves."""
    sender._RTCRtpSender__rtcp_started.set()
    try:
        while True:
            await asyncio.sleep(interval * (0.5 + random.random()))
            ntp = sender._RTCRtpSender__ntp_timestamp
            packets: list[Any] = [RtcpSrPacket(ssrc=sender._ssrc, sender_info=RtcpSenderInfo(
                ntp_timestamp=ntp,
                rtp_timestamp=sender._RTCRtpSender__rtp_timestamp,
                packet_count=sender._RTCRtpSender__packet_count & 0xFFFFFFFF,
                octet_count=sender._RTCRtpSender__octet_count & 0xFFFFFFFF))]
            # What aiortc's round-trip estimate reads back from the receiver's reports.
            sender._RTCRtpSender__lsr = (ntp >> 16) & 0xFFFFFFFF
            sender._RTCRtpSender__lsr_time = time.time()
            cname = sender._RTCRtpSender__cname
            if cname is not None:
                packets.append(RtcpSdesPacket(chunks=[
                    RtcpSourceInfo(ssrc=sender._ssrc, items=[(1, cname.encode("utf8"))])]))
            await sender._send_rtcp(packets)
    except asyncio.CancelledError:
        pass
    await sender._send_rtcp([RtcpByePacket(sources=[sender._ssrc])])
    sender._RTCRtpSender__rtcp_exited.set()


# (sender, sendto, protected packet, address, payload bytes): see DirectSender.stage.
Staged = tuple[DirectSender, Callable[..., Any], Any, Any, int]


class Endpoint(NamedTuple):
    """A connected listener's route: the ICE pair and its socket, the SRTP session (and the
    address of its libsrtp context), the remote address and the RTP stream's constants."""

    pair: Any
    srtp: Any
    sock: Any
    fd: int
    srtp_address: int
    host: str
    port: int
    ssrc: int
    pt: int
    ts0: int


def _ffi_address(pointer: Any) -> int:
    from pylibsrtp._binding import ffi

    return int(ffi.cast("uintptr_t", pointer))


def send_staged(staged: list[Staged]) -> None:
    """The ``sendto`` of staged packets, back to back. A socket that refuses one (closing,
    or its buffer full: live audio drops rather than queues) loses that packet only."""
    for sender, sendto, data, addr, size in staged:
        try:
            sendto(data, addr)
        except (AttributeError, OSError):
            sender._unsent(size)
