"""A call's media through a real server: two aiortc parties (client.call_media), each
sending a tone (and in a video call a generated picture of its own colour) and each
checking by FFT and by colour that it gets the other's, and only the other's.

docs/protocol.md "Calls (one to one)": each party hears the other and nothing else; a video
call relays each side's VP8; a video call whose peer sends no video still carries audio.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack

import pytest

from audio.constants import SAMPLE_RATE
from audio.sources import ToneSource, tone_levels
from client import VoiceClient
from client.call_media import CallMedia
from client.video import PatternTrack
from server.process import ServerChild, server_child

pytestmark = pytest.mark.timeout(120)

ADA_HZ, BOB_HZ = 440.0, 660.0
RED, BLUE = (200, 40, 40), (40, 90, 200)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerChild]:
    with server_child() as srv:
        yield srv


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def heard(media: CallMedia, seconds: float) -> None:
    """Until `seconds` more of audio arrived."""
    frames = media.recorder.frames + int(seconds * SAMPLE_RATE / 960)
    await until(lambda: media.recorder.frames >= frames)


def levels(media: CallMedia) -> dict[float, float]:
    return tone_levels(media.samples(1.0), [ADA_HZ, BOB_HZ])


class Call:
    """Ada calls Bob (friends), Bob answers; each party's media connected."""

    def __init__(self, ada: VoiceClient, bob: VoiceClient, call_id: str,
                 ada_media: CallMedia, bob_media: CallMedia) -> None:
        self.ada, self.bob, self.id = ada, bob, call_id
        self.ada_media, self.bob_media = ada_media, bob_media


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exits:
        yield exits


async def place(stack: AsyncExitStack, url: str, *, video: bool,
                ada_camera: bool, bob_camera: bool) -> Call:
    ada = await stack.enter_async_context(VoiceClient.connect(url, user=uid("ada"), name="Ada"))
    bob = await stack.enter_async_context(VoiceClient.connect(url, user=uid("bob"), name="Bob"))
    assert ada.user and bob.user
    await ada.follow(bob.user)
    await bob.follow(ada.user)
    call_id = (await ada.call(bob.user, video=video))["call"]["id"]
    await bob.incoming()
    await bob.answer_call(call_id)
    await ada.wait_call(call_id, "active")
    medias = [
        CallMedia(ToneSource(hz), video=video, camera=PatternTrack(colour) if camera else None)
        for hz, colour, camera in ((ADA_HZ, RED, ada_camera), (BOB_HZ, BLUE, bob_camera))
    ]
    for media in medias:
        stack.push_async_callback(media.close)
    await asyncio.gather(medias[0].connect(ada, call_id), medias[1].connect(bob, call_id))
    await asyncio.gather(*(m.wait_connected() for m in medias))
    return Call(ada, bob, call_id, *medias)


async def test_each_party_hears_the_other_and_nothing_else(server: ServerChild,
                                                           stack: AsyncExitStack) -> None:
    call = await place(stack, server.url, video=False, ada_camera=False, bob_camera=False)
    assert call.ada_media.video is None
    await asyncio.gather(heard(call.ada_media, 1.5), heard(call.bob_media, 1.5))
    ada_hears, bob_hears = levels(call.ada_media), levels(call.bob_media)
    assert ada_hears[BOB_HZ] > -20, ada_hears
    assert ada_hears[BOB_HZ] - ada_hears[ADA_HZ] > 30, ada_hears  # never herself
    assert bob_hears[ADA_HZ] > -20, bob_hears
    assert bob_hears[ADA_HZ] - bob_hears[BOB_HZ] > 30, bob_hears

    call.bob_media.set_muted(True)
    await heard(call.ada_media, 1.5)
    assert levels(call.ada_media)[BOB_HZ] < -50  # Bob muted: Ada hears silence

    await call.ada.hangup(call.id)
    assert (await call.bob.wait_call(call.id))["reason"] == "hangup"


def colour_near(seen: tuple[float, float, float] | None, sent: tuple[int, int, int]) -> bool:
    # The moving white bar and VP8's colour rounding move the mean a little.
    return seen is not None and all(abs(s - c) < 40 for s, c in zip(seen, sent, strict=True))


async def test_a_video_call_relays_each_picture_to_the_other(server: ServerChild,
                                                             stack: AsyncExitStack) -> None:
    call = await place(stack, server.url, video=True, ada_camera=True, bob_camera=True)
    ada_sink, bob_sink = call.ada_media.sink, call.bob_media.sink
    await until(lambda: ada_sink.frames >= 10 and bob_sink.frames >= 10)
    assert (bob_sink.width, bob_sink.height) == (320, 240)
    assert colour_near(bob_sink.colour, RED), bob_sink.colour  # Bob sees Ada's picture
    assert colour_near(ada_sink.colour, BLUE), ada_sink.colour
    await asyncio.gather(heard(call.ada_media, 1.0), heard(call.bob_media, 1.0))
    assert levels(call.bob_media)[ADA_HZ] > -20

    # Camera off: no more of Ada's frames; on again: they come back.
    call.ada_media.set_camera(False)
    await heard(call.bob_media, 0.5)  # frames already under way arrive meanwhile
    before = bob_sink.frames
    await heard(call.bob_media, 1.0)
    assert bob_sink.frames - before <= 2
    call.ada_media.set_camera(True)
    await until(lambda: bob_sink.frames >= before + 10)


async def test_a_video_call_without_a_camera_still_carries_audio(server: ServerChild,
                                                                 stack: AsyncExitStack) -> None:
    call = await place(stack, server.url, video=True, ada_camera=True, bob_camera=False)
    await until(lambda: call.bob_media.sink.frames >= 10)  # Ada's picture reaches Bob
    await heard(call.ada_media, 1.5)
    assert call.ada_media.sink.frames == 0  # Bob sends none
    assert levels(call.ada_media)[BOB_HZ] > -20  # but his voice arrives
