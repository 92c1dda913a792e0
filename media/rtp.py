"""RTP header facts the fast paths need: parsing an unprotected packet down to its Opus
payload and RFC 6464 audio level, and building the level's RFC 8285 header extension."""

from __future__ import annotations

import struct
from collections.abc import Callable

from aiortc import RTCRtpTransceiver, clock

# (sequence number, Opus payload, RFC 6464 level as (vad, -dBov) or None)
PayloadSink = Callable[[int, bytes, "tuple[bool, int] | None"], None]

# Version 2, then payload type, sequence number, timestamp, SSRC.
RTP_HEADER = struct.Struct("!BBHII")
_SEQ_TS_SSRC = struct.Struct("!HII").unpack_from
AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


# (sequence number, timestamp, SSRC, payload, RFC 6464 level as (vad, -dBov) or None)
AudioRtp = tuple[int, int, int, bytes, "tuple[bool, int] | None"]


def deliver_rtp(
    packet: bytes, opus_pt: int | None, level_id: int | None, sink: PayloadSink
) -> None:
    """Hand an unprotected RTP packet's payload to ``sink`` if it is Opus (``opus_pt``), with
    its level when ``level_id`` is the negotiated id of the audio-level extension."""
    parsed = parse_audio(packet, opus_pt, level_id)
    if parsed is not None:
        sink(parsed[0], parsed[3], parsed[4])


def parse_audio(packet: bytes, opus_pt: int | None, level_id: int | None) -> AudioRtp | None:
    """An unprotected RTP packet's header fields, payload and RFC 6464 level (when
    ``level_id`` is the negotiated id of the audio-level extension); None if it is not
    of type ``opus_pt`` or has no payload."""
    first = packet[0]
    if packet[1] & 0x7F != opus_pt:
        return None
    seq, timestamp, ssrc = _SEQ_TS_SSRC(packet, 2)
    pos = 12 + 4 * (first & 0x0F)
    level: tuple[bool, int] | None = None
    if first & 0x10:  # header extension
        if len(packet) < pos + 4:
            return None
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
    if stop <= pos:
        return None
    return seq, timestamp, ssrc, packet[pos:stop], level


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
    """Now as a 64-bit NTP timestamp (what RTCP sender reports carry)."""
    return int(clock.current_ntp_time())
