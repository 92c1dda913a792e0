"""Video calls through MediaEngine with real aiortc peers on loopback (docs/protocol.md, Calls:
media): each side's VP8 relayed to the other without decoding, decoded by the far side;
keyframe requests passed back to the sender; a party without video still carries audio.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from aiortc import RTCRtpSender

from calls.model import CallState
from media.engine import MediaEngine
from protocol.errors import ErrorCode, ProtocolError
from tests.media.test_call_audio import CALLEE_HZ, CALLER_HZ, GAP_DB, HEARD_DB, active_call
from tests.support.rtc import levels_db, wait_for
from tests.support.video import VideoParty

FRAMES = 30  # a second of the pattern


async def dial(engine: MediaEngine, call: CallState, user: str, party: VideoParty) -> VideoParty:
    await party.connect(lambda sdp: engine.offer_call(call, user, sdp))
    await wait_for(lambda: party.pc.connectionState == "connected", 10.0)
    return party


async def heard(party: VideoParty, seconds: float = 1.0) -> None:
    mark = party.recorder.frames
    await wait_for(lambda: party.recorder.frames - mark >= seconds * 50, 15.0)


def hears(party: VideoParty, present: float, absent: float) -> None:
    got = levels_db(party, [present, absent])  # type: ignore[arg-type]
    assert got[present] > HEARD_DB and got[absent] < got[present] - GAP_DB, got


@pytest.fixture
async def engine():
    eng = MediaEngine()
    yield eng
    await eng.close()


async def close(*parties: VideoParty) -> None:
    await asyncio.gather(*(p.close() for p in parties), return_exceptions=True)


async def test_each_side_decodes_the_others_video_and_hears_the_other(
    engine: MediaEngine,
) -> None:
    call = active_call(video=True)
    ann, bob = VideoParty(CALLER_HZ, size=(160, 120)), VideoParty(CALLEE_HZ, size=(176, 144))
    try:
        await dial(engine, call, "ann", ann)
        await dial(engine, call, "bob", bob)
        await wait_for(lambda: ann.frames >= FRAMES and bob.frames >= FRAMES, 15.0)
        assert ann.sizes == {(176, 144)} and bob.sizes == {(160, 120)}
        # The pattern moves: the frames decoded last are not the same picture.
        for party in (ann, bob):
            first, last = party.last_images
            assert np.abs(first.astype(int) - last.astype(int)).max() > 100
        await heard(ann)
        await heard(bob)
        hears(ann, CALLEE_HZ, CALLER_HZ)
        hears(bob, CALLER_HZ, CALLEE_HZ)
        stats = engine.stats()
        assert stats["media_call_video_frames_relayed"] >= 2 * FRAMES
        assert stats["media_call_audio_relayed"] > 0 and stats["media_call_audio_encoded"] == 0
    finally:
        await close(ann, bob)


async def test_a_keyframe_request_reaches_the_sender_rate_limited(engine: MediaEngine) -> None:
    call = active_call(video=True)
    ann, bob = VideoParty(CALLER_HZ), VideoParty(CALLEE_HZ)
    try:
        await dial(engine, call, "ann", ann)
        await dial(engine, call, "bob", bob)
        await wait_for(lambda: bob.frames >= FRAMES, 15.0)
        await asyncio.sleep(0.5)  # past the rate limit's window of the start's requests
        before = ann.keyframe_requests
        asked = engine.stats()["media_call_video_keyframe_requests_in"]
        for _ in range(5):  # a burst, as a browser asks again while it waits
            await bob.request_keyframe()
        await wait_for(lambda: ann.keyframe_requests > before, 5.0)
        await wait_for(
            lambda: engine.stats()["media_call_video_keyframe_requests_in"] >= asked + 5, 5.0)
        assert ann.keyframe_requests - before == 1
        frames = bob.frames
        await wait_for(lambda: bob.frames >= frames + FRAMES, 10.0)  # and video goes on
    finally:
        await close(ann, bob)


async def test_a_party_without_video_still_carries_audio(engine: MediaEngine) -> None:
    call = active_call(video=True)
    ann = VideoParty(CALLER_HZ)
    bob = VideoParty(CALLEE_HZ, camera=False, watch=False)  # audio only: no video section
    try:
        await dial(engine, call, "ann", ann)
        await dial(engine, call, "bob", bob)
        await heard(ann)
        await heard(bob)
        hears(ann, CALLEE_HZ, CALLER_HZ)
        hears(bob, CALLER_HZ, CALLEE_HZ)
        assert ann.frames == 0
        assert engine.stats()["media_call_video_frames_in"] > 0  # ann's, for nobody
        assert engine.stats()["media_call_video_frames_relayed"] == 0
    finally:
        await close(ann, bob)


async def test_camera_off_receives_and_audio_call_refuses_video(engine: MediaEngine) -> None:
    call = active_call(video=True)
    ann, bob = VideoParty(CALLER_HZ), VideoParty(CALLEE_HZ, camera=False)
    voice = active_call("c2", caller="cat", callee="dan")  # audio: video answered inactive
    cat, dan = VideoParty(500.0), VideoParty(700.0)
    try:
        await dial(engine, call, "ann", ann)
        await dial(engine, call, "bob", bob)
        await wait_for(lambda: bob.frames >= FRAMES, 15.0)
        assert ann.frames == 0
        await dial(engine, voice, "cat", cat)
        await dial(engine, voice, "dan", dan)
        await heard(cat)
        await heard(dan)
        hears(cat, 700.0, 500.0)
        hears(dan, 500.0, 700.0)
        assert cat.frames == 0 and dan.frames == 0
        media = engine.call_media(voice.id)
        assert media is not None
        assert all(leg.peer is not None and leg.peer.video is None for leg in media.legs.values())
    finally:
        await close(ann, bob, cat, dan)


async def test_reoffer_with_another_camera_keeps_the_far_side_decoding(
    engine: MediaEngine,
) -> None:
    call = active_call(video=True)
    ann, bob = VideoParty(CALLER_HZ, size=(160, 120)), VideoParty(CALLEE_HZ)
    again = VideoParty(CALLER_HZ, size=(176, 144))
    try:
        await dial(engine, call, "ann", ann)
        await dial(engine, call, "bob", bob)
        await wait_for(lambda: bob.frames >= FRAMES, 15.0)
        media = engine.call_media(call.id)
        assert media is not None
        first = media.legs["ann"].peer
        assert first is not None
        await dial(engine, call, "ann", again)
        await wait_for(lambda: first.pc.connectionState == "closed", 5.0)
        frames = bob.frames
        await wait_for(lambda: bob.frames >= frames + FRAMES, 15.0)
        assert (176, 144) in bob.sizes  # the new camera's picture, decoded
        await wait_for(lambda: again.frames >= FRAMES, 15.0)  # and bob's video to the new one
    finally:
        await close(ann, bob, again)


async def test_video_without_vp8_is_refused_and_leaves_nothing(engine: MediaEngine) -> None:
    call = active_call(video=True)
    party = VideoParty(CALLER_HZ)
    assert party.video is not None
    caps = RTCRtpSender.getCapabilities("video")
    assert caps is not None
    party.video.setCodecPreferences([c for c in caps.codecs if c.mimeType == "video/H264"])
    try:
        with pytest.raises(ProtocolError) as refused:
            await engine.offer_call(call, "ann", await party.offer())
        assert refused.value.code is ErrorCode.BAD_REQUEST and refused.value.field == "sdp"
        assert engine.stats()["media_calls"] == 0
    finally:
        await close(party)
