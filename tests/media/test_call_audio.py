"""Call audio through MediaEngine with real aiortc peers on loopback (docs/protocol.md, Calls:
media): each party hears the other and never itself, forwarded without decoding; a mixed-in
signal switches one direction to the decoded path and back; re-offers; the end closes all.

The caller plays 440 Hz, the callee 660 Hz; what each receives is checked by FFT.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from audio.constants import FRAME_SAMPLES
from audio.sources import ToneSource
from calls.model import CallKind, CallState, CallStatus, Party
from media.call_peer import ask_opus_fec
from media.engine import MediaEngine
from protocol.errors import ErrorCode, ProtocolError
from tests.support.rtc import (
    ClientMedia,
    close_all,
    connect,
    levels_db,
    tone_peer,
    wait_for,
    wait_recorded,
)

HEARD_DB = -30.0  # a 0.3-amplitude tone reads about -10.5 dB
GAP_DB = 30.0  # what must not be heard sits at least this far below what must
CALLER_HZ, CALLEE_HZ, MIXED_HZ = 440.0, 660.0, 1000.0


def active_call(call_id: str = "c1", *, video: bool = False, caller: str = "ann",
                callee: str = "bob") -> CallState:
    return CallState(
        id=call_id, state=CallStatus.ACTIVE, video=video,
        caller=Party(caller, caller.title(), app="main", conn="k1"),
        callee=Party(callee, callee.title(), app="main", conn="k2"),
        kind=CallKind.FRIEND, created_at=0.0, started_at=1.0,
    )


def rtp_log(peer: ClientMedia) -> list[tuple[int, int, int]]:
    """(sequence number, timestamp, SSRC) of every RTP packet the peer receives, from now."""
    receiver: Any = peer.transceiver.receiver
    handle = receiver._handle_rtp_packet
    log: list[tuple[int, int, int]] = []

    async def logged(packet: Any, arrival_time_ms: int) -> None:
        log.append((packet.sequence_number, packet.timestamp, packet.ssrc))
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = logged
    return log


def assert_one_stream(log: list[tuple[int, int, int]]) -> None:
    """One SSRC, sequence numbers one by one, timestamps a frame or a short pause apart:
    what a receiver sees of one sender, whatever happened upstream of the relay."""
    assert len(log) > 50 and len({ssrc for _, _, ssrc in log}) == 1, log[:3]
    for (seq0, ts0, _), (seq1, ts1, _) in itertools.pairwise(log):
        assert (seq1 - seq0) & 0xFFFF == 1, (seq0, seq1)
        assert FRAME_SAMPLES <= (ts1 - ts0) & 0xFFFFFFFF <= 25 * FRAME_SAMPLES, (ts0, ts1)


async def dial(engine: MediaEngine, call: CallState, user: str, peer: ClientMedia) -> ClientMedia:
    return await connect(peer, lambda sdp: engine.offer_call(call, user, sdp))


@pytest.fixture
async def engine():
    eng = MediaEngine()
    yield eng
    await eng.close()


async def test_each_party_hears_the_other_forwarded_without_decoding(engine: MediaEngine) -> None:
    call = active_call()
    ann, bob = tone_peer(CALLER_HZ), tone_peer(CALLEE_HZ)
    try:
        await dial(engine, call, "ann", ann)
        await dial(engine, call, "bob", bob)
        await wait_recorded([ann, bob], 1.5)
        heard_by_ann = levels_db(ann, [CALLER_HZ, CALLEE_HZ])
        heard_by_bob = levels_db(bob, [CALLER_HZ, CALLEE_HZ])
        assert heard_by_ann[CALLEE_HZ] > HEARD_DB, heard_by_ann
        assert heard_by_ann[CALLER_HZ] < heard_by_ann[CALLEE_HZ] - GAP_DB, heard_by_ann
        assert heard_by_bob[CALLER_HZ] > HEARD_DB, heard_by_bob
        assert heard_by_bob[CALLEE_HZ] < heard_by_bob[CALLER_HZ] - GAP_DB, heard_by_bob
        stats = engine.stats()
        assert stats["media_calls"] == 1 and stats["media_call_peers"] == 2
        # Forwarded as they came: nothing decoded or encoded on the way.
        assert stats["media_call_audio_relayed"] > 100
        assert stats["media_call_audio_encoded"] == 0
        assert stats["media_call_decoded_switches"] == 0
        media = engine.call_media(call.id)
        assert media is not None and not media.decoded("ann") and not media.decoded("bob")
    finally:
        await close_all([ann, bob])


async def test_a_mixed_in_signal_switches_one_direction_to_the_decoded_path(
    engine: MediaEngine,
) -> None:
    call = active_call()
    ann, bob = tone_peer(CALLER_HZ), tone_peer(CALLEE_HZ)
    freqs = [CALLER_HZ, CALLEE_HZ, MIXED_HZ]
    to_bob_rtp = rtp_log(bob)
    try:
        await dial(engine, call, "ann", ann)
        await dial(engine, call, "bob", bob)
        await wait_recorded([ann, bob], 0.5)
        media = engine.call_media(call.id)
        assert media is not None
        tone = ToneSource(MIXED_HZ, 0.2)
        media.mix_in("bob", tone)  # bob hears it; ann's voice to bob is now decoded
        assert media.decoded("ann") and not media.decoded("bob")
        await asyncio.sleep(0.3)
        await wait_recorded([ann, bob], 1.5)
        to_bob = levels_db(bob, freqs)
        assert to_bob[CALLER_HZ] > HEARD_DB and to_bob[MIXED_HZ] > HEARD_DB, to_bob
        assert to_bob[CALLEE_HZ] < to_bob[CALLER_HZ] - GAP_DB, to_bob
        to_ann = levels_db(ann, freqs)  # still forwarded, and without the signal
        assert to_ann[CALLEE_HZ] > HEARD_DB, to_ann
        assert max(to_ann[CALLER_HZ], to_ann[MIXED_HZ]) < to_ann[CALLEE_HZ] - GAP_DB, to_ann
        stats = engine.stats()
        assert stats["media_call_audio_encoded"] > 50
        assert stats["media_call_decoded_switches"] == 1
        # Taken out again: back to forwarding, and bob's stream goes on.
        media.stop_mix_in("bob", tone)
        assert not media.decoded("ann")
        encoded = engine.stats()["media_call_audio_encoded"]
        await asyncio.sleep(0.3)
        await wait_recorded([bob], 1.0)
        to_bob = levels_db(bob, freqs)
        assert to_bob[CALLER_HZ] > HEARD_DB, to_bob
        assert to_bob[MIXED_HZ] < to_bob[CALLER_HZ] - GAP_DB, to_bob
        assert engine.stats()["media_call_audio_encoded"] == encoded
        # Forwarded, decoded, forwarded again: one continuous stream for bob.
        assert_one_stream(to_bob_rtp)
    finally:
        await close_all([ann, bob])


class Finite:
    """A mix-in of a few frames of a tone, then over."""

    def __init__(self, freq: float, frames: int) -> None:
        self.source = ToneSource(freq, 0.2)
        self.left = frames

    def read(self) -> np.ndarray | None:
        if self.left <= 0:
            return None
        self.left -= 1
        return self.source.read()


class Gain:
    """A voice transform: the voice at a fixed gain."""

    def __init__(self, gain: float) -> None:
        self.gain = gain

    def process(self, frame: np.ndarray) -> np.ndarray:
        assert frame.shape == (FRAME_SAMPLES,)
        return (frame.astype(np.float64) * self.gain).astype(np.int16)


async def test_a_voice_transform_and_an_ending_mix_in(engine: MediaEngine) -> None:
    call = active_call()
    ann, bob = tone_peer(CALLER_HZ), tone_peer(CALLEE_HZ)
    try:
        await dial(engine, call, "ann", ann)
        await dial(engine, call, "bob", bob)
        await wait_recorded([bob], 0.5)
        media = engine.call_media(call.id)
        assert media is not None
        media.set_voice("ann", Gain(0.0))  # ann's voice silenced on its way to bob
        await asyncio.sleep(0.3)
        await wait_recorded([bob], 1.0)
        assert levels_db(bob, [CALLER_HZ])[CALLER_HZ] < HEARD_DB - GAP_DB
        media.set_voice("ann", None)
        assert not media.decoded("ann")
        # A mix-in that ends on its own takes the direction back to forwarding.
        media.mix_in("ann", Finite(MIXED_HZ, 10))
        assert media.decoded("bob")
        await wait_for(lambda: not media.decoded("bob"), 5.0)
        await asyncio.sleep(0.3)
        await wait_recorded([ann, bob], 1.0)
        assert levels_db(bob, [CALLER_HZ])[CALLER_HZ] > HEARD_DB
        assert levels_db(ann, [CALLEE_HZ])[CALLEE_HZ] > HEARD_DB
        assert not media.clock.running
    finally:
        await close_all([ann, bob])


async def test_reoffer_replaces_the_party_and_the_stream_goes_on(engine: MediaEngine) -> None:
    call = active_call()
    ann, bob = tone_peer(CALLER_HZ), tone_peer(CALLEE_HZ)
    again = tone_peer(880.0)
    to_bob_rtp = rtp_log(bob)
    try:
        await dial(engine, call, "ann", ann)
        await dial(engine, call, "bob", bob)
        await wait_recorded([bob], 0.5)
        media = engine.call_media(call.id)
        assert media is not None
        first = media.legs["ann"].peer
        assert first is not None
        await dial(engine, call, "ann", again)
        await wait_for(lambda: first.pc.connectionState == "closed", 5.0)
        await asyncio.sleep(0.3)
        await wait_recorded([again, bob], 1.0)
        to_bob = levels_db(bob, [CALLER_HZ, 880.0])
        assert to_bob[880.0] > HEARD_DB and to_bob[CALLER_HZ] < to_bob[880.0] - GAP_DB, to_bob
        assert levels_db(again, [CALLEE_HZ])[CALLEE_HZ] > HEARD_DB
        assert engine.stats()["media_call_peers"] == 2
        assert_one_stream(to_bob_rtp)  # ann's new connection continues bob's stream
    finally:
        await close_all([ann, bob, again])


async def test_end_closes_both_connections_and_refuses_later_offers(engine: MediaEngine) -> None:
    call = active_call()
    ann, bob = tone_peer(CALLER_HZ), tone_peer(CALLEE_HZ)
    try:
        await dial(engine, call, "ann", ann)
        await dial(engine, call, "bob", bob)
        media = engine.call_media(call.id)
        assert media is not None
        peers = [leg.peer for leg in media.legs.values() if leg.peer is not None]
        sockets = [p.transport for peer in peers
                   for p in peer.audio.receiver.transport.transport._connection._protocols]
        assert len(peers) == 2 and sockets and not any(t.is_closing() for t in sockets)
        await engine.call_changed(replace(call, state=CallStatus.ENDED))
        assert all(peer.pc.connectionState == "closed" for peer in peers)
        assert all(t.is_closing() for t in sockets)  # every UDP socket of theirs let go
        assert engine.call_media(call.id) is None and engine.stats()["media_calls"] == 0
        late = tone_peer(CALLER_HZ)
        try:
            with pytest.raises(ProtocolError) as refused:
                await engine.offer_call(call, "ann", await late.offer())
            assert refused.value.code is ErrorCode.NO_SUCH_CALL
        finally:
            await late.close()
    finally:
        await close_all([ann, bob])


async def test_offers_refused_with_a_clear_code(engine: MediaEngine) -> None:
    call = active_call()
    peer = tone_peer(CALLER_HZ)
    try:
        sdp = await peer.offer()
        cases = [
            (call, "eve", sdp, ErrorCode.NO_SUCH_CALL),  # not a party
            (replace(call, id="c2", state=CallStatus.RINGING), "ann", sdp, ErrorCode.FORBIDDEN),
            (replace(call, id="c3", state=CallStatus.ENDED), "ann", sdp, ErrorCode.NO_SUCH_CALL),
            (call, "ann", "v=0 nonsense", ErrorCode.BAD_REQUEST),
            (call, "ann", sdp.replace("m=audio", "m=text"), ErrorCode.BAD_REQUEST),
            # Screened like a room's offer (media.offer_policy): no DTLS fingerprint.
            (call, "ann", re.sub(r"a=fingerprint:[^\r\n]*\r?\n", "", sdp),
             ErrorCode.BAD_REQUEST),
        ]
        for bad_call, user, bad_sdp, code in cases:
            with pytest.raises(ProtocolError) as refused:
                await engine.offer_call(bad_call, user, bad_sdp)
            assert refused.value.code is code, (user, bad_call.state, refused.value)
        # Nothing was left behind, and the call still works.
        assert engine.stats()["media_calls"] == 0
        bob = tone_peer(CALLEE_HZ)
        try:
            await dial(engine, call, "bob", bob)
            assert engine.stats()["media_call_peers"] == 1
        finally:
            await bob.close()
    finally:
        await peer.close()


class Broken:
    """An effect that fails, and a mix-in of the wrong size."""

    def process(self, frame: np.ndarray) -> np.ndarray:
        raise RuntimeError("effect bug")

    def read(self) -> np.ndarray:
        return np.zeros(10, dtype=np.int16)


async def test_a_failing_effect_or_mix_in_is_dropped_and_the_call_goes_on(
    engine: MediaEngine,
) -> None:
    call = active_call()
    ann, bob = tone_peer(CALLER_HZ), tone_peer(CALLEE_HZ)
    try:
        await dial(engine, call, "ann", ann)
        await dial(engine, call, "bob", bob)
        media = engine.call_media(call.id)
        assert media is not None
        with pytest.raises(ValueError):
            media.mix_in("eve", Broken())
        media.set_voice("ann", Broken())
        media.mix_in("ann", Broken())
        assert media.decoded("ann") and media.decoded("bob")
        await wait_for(lambda: not media.decoded("ann") and not media.decoded("bob"), 5.0)
        assert media.clock.errors == 0
        await asyncio.sleep(0.3)
        await wait_recorded([ann, bob], 1.0)
        assert levels_db(bob, [CALLER_HZ])[CALLER_HZ] > HEARD_DB
        assert levels_db(ann, [CALLEE_HZ])[CALLEE_HZ] > HEARD_DB
    finally:
        await close_all([ann, bob])


async def test_the_answer_asks_for_opus_in_band_fec(engine: MediaEngine) -> None:
    peer = tone_peer(CALLER_HZ)
    try:
        answer = await engine.offer_call(active_call(), "ann", await peer.offer())
        pt = re.search(r"^a=rtpmap:(\d+) opus/48000/2", answer, re.MULTILINE)
        assert pt is not None
        assert f"a=fmtp:{pt.group(1)} minptime=10;useinbandfec=1" in answer
        await peer.accept(answer)  # and aiortc takes it
    finally:
        await peer.close()


def test_ask_opus_fec_keeps_what_is_there() -> None:
    sdp = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
    once = ask_opus_fec(sdp, 111)
    assert once.endswith("a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n")
    assert ask_opus_fec(once, 111) == once
    with_fmtp = sdp + "a=fmtp:111 minptime=10\r\n"
    assert ask_opus_fec(with_fmtp, 111).endswith("a=fmtp:111 minptime=10;useinbandfec=1\r\n")
