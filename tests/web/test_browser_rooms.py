"""The room page as a newcomer met it (issue 13, items 1-8), in the system Chromium against
the real server: an invitation to any seat, the listeners panel after a reload (paged, for any
room size), the mic button's real state, a mic request on a phone, an empty muted seat, one
notice at a time that goes when its cause does, a room that ended, chat times and joins,
the queue's length for listeners, and the speaking ring on a node that does not mix the room.

Set-up (Chromium, fixtures, helpers) is tests/web/test_browser.py's. Screenshots go to
test-artifacts/web/ (desktop 1200x860, phone 390x844).
"""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from playwright.async_api import Browser, Playwright, expect

from audio.sources import ToneSource
from client.media import ClientMedia
from tests.support.redis import flush_sync, require_redis
from tests.support.server import WireClient, close_all, running_server
from tests.web.test_browser import (
    CHROMIUM_ARGS,
    MIC_OPEN,
    UI_TIMEOUT_MS,
    Person,
    browser,
    chromium_path,
    create_room,
    open_person,
    people,
    playwright,
    server,
    sign_in,
)

__all__ = ["browser", "people", "playwright", "server"]  # fixtures, used by name

pytestmark = pytest.mark.asyncio(loop_scope="module")
expect.set_options(timeout=UI_TIMEOUT_MS)

PHONE = {"width": 390, "height": 844}
RING_TIMEOUT_MS = 25_000


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:4]}"


async def guests(srv, room: str, names: list[str]) -> list[WireClient]:  # type: ignore[no-untyped-def]
    made = []
    for name in names:
        client = await srv.client(uid(name.lower().replace(" ", "")), name=name, binary=False)
        made.append(client)
        await client.call("join_room", room=room)
    return made


async def notice_count(person: Person) -> int:
    return await person.page.locator("#notices .notice").count()


async def test_invite_to_any_seat_reload_lists_everyone_and_notices_follow_state(
    server, browser: Browser, people: list[Person]  # type: ignore[no-untyped-def]
) -> None:
    host = await open_person(browser, people, "host")
    await sign_in(host, server, "Hedda")
    room = await create_room(host, "Any seat", auto_chatroom_at=0)
    await host.tid("open-chatroom").click()
    await expect(host.tid("room-mode")).to_have_attribute("data-mode", "chatroom")
    listener = await open_person(browser, people, "listener")
    listener_id = await sign_in(listener, server, "Lars", hash=f"#room={room}")
    crowd: list[WireClient] = []
    try:
        # Seat 0 is taken, so "any seat" lands on seat 2 (index 1): the page must not promise 1.
        crowd = await guests(server, room, ["Sitter"] + [f"Fan {n}" for n in range(104)])
        sitter = crowd[0]
        await host.page.get_by_test_id(f"invite-{sitter.user}").click()
        await sitter.event("seat_invited")
        await sitter.call("answer_invite", room=room, accept=True)
        await expect(host.tid("seat-0")).to_have_attribute("data-user", str(sitter.user))

        # (2) A reload: the listeners panel comes back from list_members, a page at a time.
        await host.page.reload()
        await expect(host.tid("room-title")).to_have_text("Any seat")
        rows = host.tid("members").get_by_test_id("member-item")
        await expect(rows).to_have_count(99)  # a page of 100: the host first, then 99
        await expect(host.tid("more-members")).to_be_visible()
        await host.tid("more-members").click()
        await expect(rows).to_have_count(106)  # everyone but the host
        await expect(host.tid("more-members")).to_be_hidden()
        await expect(host.tid("audience-count")).to_have_attribute("data-count", "106")

        # (1) Invited to any seat: "a free seat", not "seat 1".
        await host.page.get_by_test_id(f"invite-{listener_id}").click()
        invited = listener.tid("notice").filter(has_text="Hedda invites you to a free seat.")
        await expect(invited).to_be_visible()
        await expect(listener.tid("invite")).to_contain_text("invites you to a free seat")
        await expect(listener.tid("invite")).not_to_contain_text("seat 1")
        # (6) One notice area: one notice at a time, and the invitation's goes with it.
        assert await notice_count(listener) == 1
        await listener.tid("invite-accept").click()
        await expect(listener.tid("seat-1")).to_have_attribute("data-user", listener_id)
        await expect(invited).to_have_count(0)
        await expect(listener.tid("invite")).to_have_count(0)
        assert await notice_count(listener) <= 1
        await listener.shot("11-any-seat-accepted")

        # A new invitation, then the user is removed: no stale "invites you" stays behind.
        await listener.tid("leave-seat").click()
        await expect(listener.tid("request-mic")).to_be_visible()
        await host.page.get_by_test_id(f"invite-{listener_id}").click()
        await expect(listener.tid("invite")).to_be_visible()
        await host.page.get_by_test_id(f"kick-{listener_id}").click()
        await expect(listener.tid("create-form")).to_be_visible()
        await expect(listener.tid("notice").filter(has_text="invites you")).to_have_count(0)
        removed = listener.tid("notice").filter(has_text="removed from the room")
        await expect(removed).to_be_visible()
        assert await notice_count(listener) == 1

        # (6) The host ends the room: a member back in the lobby never sees it listed, and a
        # lobby visitor who tries it is told, and it is gone from their list at once.
        visitor = await open_person(browser, people, "visitor")
        await sign_in(visitor, server, "Vik")
        await expect(visitor.tid(f"join-{room}")).to_be_visible()
        # No refresh of the visitor's list from here on: what it shows is what it was.
        await visitor.page.evaluate("clearInterval(window.voiceroom.listTimer)")
        await host.tid("close-room").click()
        await expect(host.tid("create-form")).to_be_visible()
        assert await host.page.get_by_test_id(f"join-{room}").count() == 0
        await visitor.tid(f"join-{room}").click()
        await expect(visitor.tid("notice").filter(has_text="does not exist")).to_be_visible()
        assert await visitor.page.get_by_test_id(f"join-{room}").count() == 0
        for person in (host, listener, visitor):
            person.assert_no_page_errors()
    finally:
        await close_all(crowd)


async def test_mic_button_tells_the_truth_and_empty_muted_seats_show(
    server, browser: Browser, people: list[Person]  # type: ignore[no-untyped-def]
) -> None:
    host = await open_person(browser, people, "host")
    await sign_in(host, server, "Mina")
    room = await create_room(host, "Truthful mic", seat_mode="free", auto_chatroom_at=0)
    await host.tid("open-chatroom").click()
    guest = await open_person(browser, people, "guest")
    guest_id = await sign_in(guest, server, "Gus", hash=f"#room={room}")
    await expect(host.tid("seat-2")).to_have_attribute("data-user", "")

    # (5) The host mutes an empty seat: everyone sees it muted before anyone sits there.
    await host.tid("seat-2-mute").click()
    for person in (host, guest):
        await expect(person.tid("seat-2")).to_have_attribute("data-muted", "true")
        await expect(person.tid("seat-2-muted")).to_be_visible()
    await guest.shot("12-empty-muted-seat")
    # ... and whoever lands on it is told.
    await guest.tid("seat-2-take").click()
    await expect(guest.tid("seat-2")).to_have_attribute("data-user", guest_id)
    told = guest.tid("notice").filter(has_text="The host has muted this seat")
    await expect(told).to_be_visible()
    await expect(told).to_have_attribute("data-kind", "warn")

    # (3) The mic button: muted by the host, not "Mic on".
    mic = guest.tid("self-mute")
    await expect(mic).to_have_attribute("data-state", "host-muted")
    await expect(guest.tid("mic-label")).to_have_text("Muted by the host")
    await expect(guest.tid("muted-by-host")).to_be_visible()
    await guest.shot("13-mic-muted-by-host")
    await host.tid("seat-2-mute").click()  # unmute
    await expect(mic).to_have_attribute("data-state", "live")
    await expect(guest.tid("mic-label")).to_have_text("Mic on")
    await expect(told).to_have_count(0)  # the muted-seat notice went with the mute
    await guest.page.wait_for_function(MIC_OPEN)
    await mic.click()
    await expect(mic).to_have_attribute("data-state", "off")
    await expect(guest.tid("mic-label")).to_have_text("Mic off")
    await expect(host.tid("seat-2")).to_have_attribute("data-self-muted", "true")
    host.assert_no_page_errors()
    guest.assert_no_page_errors()


async def test_a_denied_microphone_shows_on_the_mic_button(
    server, playwright: Playwright, people: list[Person]  # type: ignore[no-untyped-def]
) -> None:
    args = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-ui-for-media-stream"]
    strict = await playwright.chromium.launch(executable_path=chromium_path(), args=args)
    try:
        host = await open_person(strict, people, "host without a mic")
        await sign_in(host, server, "Nell")
        await create_room(host, "Blocked mic")
        await expect(host.tid("mic-problem")).to_be_visible()
        await expect(host.tid("self-mute")).to_have_attribute("data-state", "denied")
        await expect(host.tid("mic-label")).to_have_text("Microphone blocked")
        await host.shot("14-mic-denied-button")
        host.assert_no_page_errors()
    finally:
        for person in [p for p in people if p.context.browser is strict]:
            people.remove(person)
        await strict.close()


async def test_a_mic_request_on_a_phone_is_one_tap_away(
    server, browser: Browser, people: list[Person]  # type: ignore[no-untyped-def]
) -> None:
    host = await open_person(browser, people, "phone host", **PHONE)
    await sign_in(host, server, "Pia")
    room = await create_room(host, "Phone live", auto_chatroom_at=0)
    listener = await open_person(browser, people, "phone listener", **PHONE)
    await sign_in(listener, server, "Leo", hash=f"#room={room}")
    asker = (await guests(server, room, ["Ravi"]))[0]
    try:
        # (8) Chat: a time on every line; joins told to the host as one line.
        await expect(host.tid("chat-system").filter(has_text="joined")).to_be_visible()
        await asker.call("chat", room=room, text="hello from the back")
        line = listener.tid("chat-line").filter(has_text="hello from the back")
        await expect(line.get_by_test_id("chat-time")).to_have_text(re.compile(r"\d\d:\d\d"))
        await expect(listener.tid("queue-length")).to_be_hidden()

        await asker.call("request_mic", room=room, note="one song")
        # (4) The host is told at once, with the answer at hand, and the dock counts it.
        ask = host.tid("notice").filter(has_text="Ravi asks for the mic")
        await expect(ask).to_be_visible()
        await expect(ask).to_be_in_viewport()
        await expect(host.tid("dock-queue-count")).to_have_text("1")
        await expect(host.tid("dock-queue")).to_be_in_viewport()
        # (8) A listener sees how long the queue is (not who is in it).
        await expect(listener.tid("queue-length")).to_have_text("1 waiting for the mic")
        await expect(listener.tid("queue")).to_be_hidden()
        await host.shot("15-phone-request")
        assert await notice_count(host) == 1

        # The dock brings the queue into view; the notice's Accept seats the asker.
        await host.tid("dock-queue").click()
        await expect(host.tid("queue-item")).to_be_in_viewport()
        await host.shot("16-phone-queue")
        await host.tid("notice-acceptMic").click()
        await expect(host.tid("seat-0")).to_have_attribute("data-user", str(asker.user))
        await expect(host.tid("dock-queue-count")).to_have_text("")
        await expect(ask).to_have_count(0)
        await expect(listener.tid("queue-length")).to_be_hidden()
        await host.tid("dock-stage").click()
        await expect(host.tid("seat-grid")).to_be_in_viewport()
        await listener.shot("17-phone-listener")
        host.assert_no_page_errors()
        listener.assert_no_page_errors()
    finally:
        await asker.close()


@pytest.fixture
def redis_url() -> str:
    url = require_redis()
    flush_sync(url)
    return url


async def test_a_listener_on_the_other_node_sees_the_speaking_ring(
    redis_url: str, browser: Browser, people: list[Person]
) -> None:
    async with running_server(redis=redis_url, node_id="web-a", media=True) as a, \
            running_server(redis=redis_url, node_id="web-b", media=True) as b:
        host = await a.client(uid("host"), name="Oda", binary=False)
        voice = ClientMedia(ToneSource(440.0, amplitude=0.25), receive=False)
        try:
            room = (await host.call("create_room", title="Two nodes"))["room"]["id"]

            async def send_offer(sdp: str) -> dict[str, object]:
                return await host.call("webrtc_offer", room=room, sdp=sdp)

            await voice.connect(send_offer)  # node A mixes the room
            watcher = await a.client(uid("watch"), binary=False)
            await watcher.call("join_room", room=room)
            while not (await watcher.event("speaking", timeout=20))["levels"].get(host.user):
                pass
            await watcher.close()
            # (7) The tone is steady now: the listener's page on B must still light the ring.
            listener = await open_person(browser, people, "listener on B")
            await sign_in(listener, b, "Bea", hash=f"#room={room}")
            await expect(listener.tid("room-title")).to_have_text("Two nodes")
            await expect(listener.tid("seat-host")).to_have_attribute(
                "data-speaking", "true", timeout=RING_TIMEOUT_MS)
            await listener.shot("18-ring-on-other-node")
            listener.assert_no_page_errors()
            await listener.context.close()
            people.remove(listener)
        finally:
            await voice.close()
            await host.close()
    await asyncio.sleep(0)

