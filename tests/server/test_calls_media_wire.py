"""A call's audio end to end on one node: `call`, `answer_call`, both parties' `webrtc_offer
{call}` with real aiortc peers, each hears the other (tests/server/callmedia.py); the end of
the call closes the media."""

from __future__ import annotations

from tests.server.callmedia import assert_they_hear_each_other
from tests.server.peoplekit import befriend, person
from tests.support.rtc import wait_for
from tests.support.server import close_all, running_server


async def test_a_calls_parties_hear_each_other_through_the_server() -> None:
    async with running_server(media=True) as server:
        ann, bob = await person(server.url, "ann"), await person(server.url, "bob")
        await befriend(ann, bob)
        call = (await ann.call("call", user="bob"))["call"]
        await bob.call("answer_call", call=call["id"])
        await assert_they_hear_each_other(ann, bob, call["id"])
        assert server.media.call_media(call["id"]) is not None
        await ann.call("hangup", call=call["id"])
        await wait_for(lambda: server.media.call_media(call["id"]) is None)
        await close_all([ann, bob])
