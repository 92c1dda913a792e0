"""The browser page in a real Chromium against the real server.

Two browser contexts stand for two people (host and listener); a Python websocket client
written against docs/protocol.md watches the room from outside, so the test sees what the server
really heard, not just what the page claims. Screenshots go to test-artifacts/web/.

Chromium is the system's (never downloaded): missing, the tests skip, or fail under CI=true.
`VOICEROOM_WRITE_DOCS_SCREENSHOT=1` also writes the full-chatroom shot to
docs/img/chatroom.png (the README's picture).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import pytest_asyncio
from playwright.async_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Playwright,
    async_playwright,
    expect,
)

from audio.sources import ToneSource
from client.media import ClientMedia
from protocol.tokens import issue_token
from protocol.validate import is_user_id
from tests.support.server import RunningServer, WireClient, close_all, running_server

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "web"
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "img" / "chatroom.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # Fake audio plays without a click on the page.
    "--autoplay-policy=no-user-gesture-required",
]
UI_TIMEOUT_MS = 15_000
AUDIO_TIMEOUT = 25.0

pytestmark = pytest.mark.asyncio(loop_scope="module")
expect.set_options(timeout=UI_TIMEOUT_MS)


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "no chromium on PATH (install the system package: scripts/system-deps.sh test)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(media=True) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def playwright() -> AsyncIterator[Playwright]:
    async with async_playwright() as pw:
        yield pw


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser(playwright: Playwright) -> AsyncIterator[Browser]:
    launched = await playwright.chromium.launch(executable_path=chromium_path(),
                                                args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        await launched.close()


class Person:
    """One browser context with one page: a person using the site."""

    def __init__(self, context: BrowserContext, page: Page, label: str) -> None:
        self.context = context
        self.page = page
        self.label = label
        self.errors: list[str] = []
        self.console: list[str] = []
        self.user = ""
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))

    def tid(self, testid: str) -> Locator:
        return self.page.get_by_test_id(testid)

    async def shot(self, name: str, *, full_page: bool = False) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def assert_no_page_errors(self) -> None:
        assert not self.errors, (
            f"uncaught errors in {self.label}'s page: {self.errors}\nconsole: {self.console}")


@pytest_asyncio.fixture(loop_scope="module")
async def people(browser: Browser) -> AsyncIterator[list[Person]]:
    made: list[Person] = []
    yield made
    for person in made:
        await person.context.close()


async def open_person(browser: Browser, people: list[Person], label: str, *,
                      width: int = 1200, height: int = 860) -> Person:
    context = await browser.new_context(viewport={"width": width, "height": height})
    person = Person(context, await context.new_page(), label)
    people.append(person)
    return person


def base_url(server: RunningServer) -> str:
    return f"http://{server.host}:{server.port}/"


async def sign_in(person: Person, server: RunningServer, name: str, *, hash: str = "") -> str:
    await person.page.goto(base_url(server) + hash)
    await person.tid("signin-name").fill(name)
    await person.tid("signin-submit").click()
    await expect(person.tid("me-name")).to_have_text(name)
    await expect(person.tid("connection")).to_have_attribute("data-state", "online")
    person.user = await person.page.evaluate("window.voiceroom.session.user")
    return person.user


async def create_room(person: Person, title: str, *, seat_mode: str = "apply",
                      auto_chatroom_at: int = 3) -> str:
    await person.tid("create-title").fill(title)
    await person.tid("create-seat-mode").select_option(seat_mode)
    await person.tid("create-auto").fill(str(auto_chatroom_at))
    await person.tid("create-submit").click()
    await expect(person.tid("room-title")).to_have_text(title)
    url = person.page.url
    assert "#room=" in url, f"the room page should name its room in the address: {url}"
    return unquote(url.split("#room=", 1)[1])


# The page's media link (window.voiceroom.media): sending with a live microphone, or not.
MIC_OPEN = (
    "() => { const m = window.voiceroom.media;"
    " return Boolean(m && m.micStream && m.sending); }"
)
MIC_CLOSED = (
    "() => { const m = window.voiceroom.media;"
    " return Boolean(m && m.active && !m.micStream && !m.sending); }"
)


async def wait_for_speaking(observer: WireClient, user: str, timeout: float) -> float:
    """The first level > 0 the server reports for `user`, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        event = await observer.event("speaking", timeout=remaining)
        level = (event.get("levels") or {}).get(user)
        if isinstance(level, int | float) and level > 0:
            return float(level)


async def audio_diagnostics(person: Person) -> str:
    status = await person.tid("audio-status").get_attribute("data-state")
    text = (await person.tid("audio-status").inner_text()).strip()
    mic = (await person.tid("mic-problem").inner_text()).strip()
    stats = await person.page.evaluate(
        """async () => {
            const media = window.voiceroom.media;
            if (!media || !media.pc) return "no peer connection";
            const out = [`connection ${media.pc.connectionState}`,
                         `ice ${media.pc.iceConnectionState}`, `sending ${media.sending}`];
            (await media.pc.getStats()).forEach((r) => {
                if (r.type === "outbound-rtp") out.push(`sent ${r.bytesSent} bytes`);
                if (r.type === "inbound-rtp") out.push(`received ${r.bytesReceived} bytes`);
            });
            return out.join(", ");
        }"""
    )
    console = "\n  ".join(person.console[-10:]) or "(empty)"
    return (f"{person.label}: audio {status} ({text}); mic problem: {mic or 'none'}; {stats}\n"
            f"  last console lines:\n  {console}")


async def test_host_accepts_a_listener_who_is_then_heard_and_muted(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    host = await open_person(browser, people, "host")
    listener = await open_person(browser, people, "listener", width=420, height=900)

    await sign_in(host, server, "Hana Host")
    title = f"Evening talk {uuid.uuid4().hex[:4]}"
    room = await create_room(host, title, auto_chatroom_at=0)
    await expect(host.tid("seat-host-name")).to_have_text("Hana Host")
    await expect(host.tid("room-mode")).to_have_attribute("data-mode", "live")

    listener_id = await sign_in(listener, server, "Lior Listener")
    await listener.tid("refresh-rooms").click()
    await listener.tid(f"join-{room}").click()
    await expect(listener.tid("room-title")).to_have_text(title)
    await expect(listener.tid("audience-count")).to_have_attribute("data-count", "1")
    await expect(host.tid("audience-count")).to_have_attribute("data-count", "1")
    # A listener's page hears the room but leaves the microphone alone.
    await expect(listener.tid("audio-status")).to_have_attribute("data-state", "connected")
    await listener.page.wait_for_function(MIC_CLOSED)

    await listener.tid("request-mic").click()
    await expect(listener.tid("mic-request-status")).to_contain_text("number 1")
    queued = host.tid("queue-item")
    await expect(queued).to_have_count(1)
    await expect(queued).to_contain_text("Lior Listener")
    await host.tid(f"accept-{listener_id}").click()

    for person in (host, listener):
        seat = person.tid("seat-0")
        await expect(seat).to_have_attribute("data-user", listener_id)
        await expect(person.tid("seat-0-name")).to_contain_text("Lior Listener")
    await expect(host.tid("queue-item")).to_have_count(0)
    await expect(listener.tid("self-mute")).to_be_visible()
    await expect(listener.tid("leave-seat")).to_be_visible()
    await expect(listener.tid("mic-request-status")).to_be_hidden()
    await host.shot("01-host-accepted")
    await listener.shot("02-listener-seated")

    # What the server hears, seen by an outside client: the seated browser's fake microphone.
    observer = await server.client(f"observer-{uuid.uuid4().hex[:6]}", name="Observer",
                                   binary=False)
    try:
        await observer.call("join_room", room=room)
        try:
            level = await wait_for_speaking(observer, listener_id, AUDIO_TIMEOUT)
        except TimeoutError:
            await listener.shot("02b-no-audio")
            pytest.fail(
                f"no `speaking` level for the seated browser user within {AUDIO_TIMEOUT:.0f} s: "
                "the server never heard the browser's microphone.\n"
                + await audio_diagnostics(listener) + "\n" + await audio_diagnostics(host)
            )
        assert 0 < level <= 1
        # The same levels light the speaking ring on the seat in the host's page.
        await expect(host.tid("seat-0")).to_have_attribute("data-speaking", "true")
        # The listener hears the room: the host's fake microphone reaches the listener's page.
        await expect(listener.tid("audio-status")).to_have_attribute("data-state", "connected")
        received = await listener.page.evaluate(
            """async () => {
                let bytes = 0;
                (await window.voiceroom.media.pc.getStats()).forEach((r) => {
                    if (r.type === "inbound-rtp" && r.kind === "audio") bytes += r.bytesReceived;
                });
                return bytes;
            }"""
        )
        assert received > 0, "the listener's page received no audio from the server"
    finally:
        await observer.close()

    await host.tid("seat-0-mute").click()
    for person in (host, listener):
        await expect(person.tid("seat-0")).to_have_attribute("data-muted", "true")
        await expect(person.tid("seat-0-muted")).to_be_visible()
    await expect(listener.tid("muted-by-host")).to_be_visible()
    await expect(host.tid("seat-0-mute")).to_have_text("Unmute")
    await expect(host.tid("seat-0")).to_have_attribute("data-speaking", "false")
    await host.shot("03-host-muted-seat")
    await listener.shot("04-listener-muted")

    # The seated listener's own switch, seen by the host.
    await listener.tid("self-mute").click()
    await expect(host.tid("seat-0")).to_have_attribute("data-self-muted", "true")

    # The host ends the room: everyone is told and lands in the lobby.
    await host.tid("close-room").click()
    await expect(host.tid("create-form")).to_be_visible()
    ended = listener.tid("notice").filter(has_text="The host ended the room")
    await expect(ended).to_be_visible()
    await expect(listener.tid("create-form")).to_be_visible()
    await expect(listener.tid(f"join-{room}")).to_have_count(0)

    host.assert_no_page_errors()
    listener.assert_no_page_errors()


async def test_user_ids_made_from_display_names_are_valid(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    person = await open_person(browser, people, "id maker")
    await person.page.goto(base_url(server))
    names = ["Zoë Ünal", "名前", "x" * 64, "  --- ", "O'Brien & co.", "😀", "a.b_c-d"]
    made = await person.page.evaluate(
        "async (names) => { const m = await import('./protocol.js');"
        " return names.map((n) => [m.userIdFor(n), m.userIdFor(n)]); }",
        names,
    )
    for name, (first, second) in zip(names, made, strict=True):
        assert is_user_id(first), f"{name!r} gave the invalid user id {first!r}"
        assert first != second, "two people with the same name need different ids"
    assert made[0][0].startswith("zoe-unal-")
    assert made[3][0].startswith("guest-")


async def test_joining_a_closed_room_shows_a_clear_message(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    owner = await server.client(f"owner-{uuid.uuid4().hex[:6]}", name="Owner", binary=False)
    try:
        created = await owner.call("create_room", title="Short-lived")
        room = created["room"]["id"]
        await owner.call("close_room", room=room)
    finally:
        await owner.close()

    visitor = await open_person(browser, people, "visitor")
    # A shared link to the room: the page signs in, then tries to join it.
    await sign_in(visitor, server, "Vera Visitor", hash=f"#room={room}")
    notice = visitor.tid("notice").filter(has_text="does not exist")
    await expect(notice).to_be_visible()
    await expect(notice).to_have_attribute("data-kind", "error")
    await expect(visitor.tid("create-form")).to_be_visible()
    await expect(visitor.tid("room-title")).to_be_hidden()
    await visitor.shot("05-closed-room")
    visitor.assert_no_page_errors()


async def test_a_full_chatroom_shows_eight_seats_and_the_chat(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    host = await open_person(browser, people, "chatroom host", width=1200, height=940)
    await sign_in(host, server, "Maya")
    room = await create_room(host, "Sunday jam session", seat_mode="free", auto_chatroom_at=0)
    await host.tid("open-chatroom").click()
    await expect(host.tid("room-mode")).to_have_attribute("data-mode", "chatroom")
    await expect(host.page.locator("[data-testid^='seat-'][data-index]")).to_have_count(8)

    names = ["Ada", "Bruno", "Chen Wei", "Dara", "Emeka", "Fatima", "Goran", "Hiro"]
    # Three guests really speak (a steady tone each, over aiortc): their rings must light.
    tones = {0: 330.0, 2: 440.0, 5: 554.0}
    guests: list[WireClient] = []
    voices: list[ClientMedia] = []
    try:
        for index, name in enumerate(names):
            guest = await server.client(f"{name.split()[0].lower()}-{uuid.uuid4().hex[:4]}",
                                        name=name, binary=False)
            guests.append(guest)
            await guest.call("join_room", room=room)
            await guest.call("take_seat", room=room, seat=index)
            if index in tones:
                voice = ClientMedia(ToneSource(tones[index], amplitude=0.25), receive=False)
                voices.append(voice)

                async def send_offer(sdp: str, guest: WireClient = guest) -> dict[str, Any]:
                    return await guest.call("webrtc_offer", room=room, sdp=sdp)

                await voice.connect(send_offer)
        await guests[3].call("mute", room=room)
        lines = [
            (0, "Evening everyone! Can you all hear me?"),
            (1, "Loud and clear"),
            (2, "Just joined from Taipei"),
            (5, "Who picks the first song tonight?"),
            (6, "Maya does, it's her room"),
        ]
        for who, text in lines:
            await guests[who].call("chat", room=room, text=text)
        await host.tid("chat-input").fill("Welcome! First song in two minutes.")
        await host.tid("chat-send").click()

        for index, name in enumerate(names):
            await expect(host.tid(f"seat-{index}-name")).to_have_text(name)
        await host.tid("seat-7-mute").click()
        await expect(host.tid("seat-7-muted")).to_be_visible()
        await expect(host.tid("seat-3-self-muted")).to_be_visible()
        await expect(host.tid("chat-line")).to_have_count(len(lines) + 1)
        await expect(host.tid("audience-count")).to_have_attribute("data-count", "8")
        await expect(host.tid("members").get_by_test_id("member-item")).to_have_count(8)
        for index in range(len(names)):
            ring = expect(host.tid(f"seat-{index}"))
            if index in tones:
                await ring.to_have_attribute("data-speaking", "true", timeout=AUDIO_TIMEOUT * 1000)
            else:
                await ring.to_have_attribute("data-speaking", "false")

        # A late guest on a phone sees the full room and no seat to take.
        late = await open_person(browser, people, "late guest", width=420, height=900)
        await sign_in(late, server, "Ivo", hash=f"#room={room}")
        await expect(late.tid("room-title")).to_have_text("Sunday jam session")
        await expect(late.page.locator("[data-testid$='-take']")).to_have_count(0)
        await late.shot("07-full-room-mobile", full_page=True)

        # The picture: top of the page, without the passing notices.
        await host.page.evaluate(
            "() => { document.querySelectorAll('.notice').forEach((n) => n.remove());"
            " window.scrollTo(0, 0); }")
        shot = await host.shot("06-full-chatroom")
        if os.environ.get("VOICEROOM_WRITE_DOCS_SCREENSHOT") == "1":
            DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, DOCS_SCREENSHOT)
        host.assert_no_page_errors()
        late.assert_no_page_errors()
    finally:
        await asyncio.gather(*(voice.close() for voice in voices), return_exceptions=True)
        await close_all(guests)


async def test_a_dropped_connection_reconnects_and_takes_the_seat_back(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    host = await open_person(browser, people, "host")
    await sign_in(host, server, "Noor")
    room = await create_room(host, "Open mic", seat_mode="free", auto_chatroom_at=0)

    guest = await open_person(browser, people, "guest", width=420, height=900)
    guest_id = await sign_in(guest, server, "Pavel", hash=f"#room={room}")
    await expect(guest.tid("room-title")).to_have_text("Open mic")
    await guest.tid("seat-0-take").click()
    await expect(host.tid("seat-0")).to_have_attribute("data-user", guest_id)
    await expect(guest.tid("audio-status")).to_have_attribute("data-state", "connected")

    observer = await server.client(f"observer-{uuid.uuid4().hex[:6]}", name="Observer",
                                   binary=False)
    try:
        await observer.call("join_room", room=room)
        # The network drops under the guest's page: the socket dies without a close frame.
        dropped = [conn for conn in server.gateway.connections if conn.user == guest_id]
        assert dropped, "the guest's connection should be on the server"
        for conn in dropped:
            conn.ws.transport.abort()
        # The seat is held for the guest while they are away, and taken back on rejoin.
        await expect(guest.tid("connection")).to_have_attribute("data-state", "online")
        await expect(guest.tid("banner")).to_be_hidden()
        await expect(guest.tid("notice").filter(has_text="Reconnected")).to_be_visible()
        for person in (host, guest):
            await expect(person.tid("seat-0")).to_have_attribute("data-user", guest_id)
            await expect(person.tid("seat-0")).to_have_attribute("data-away", "false")
        await expect(guest.tid("leave-seat")).to_be_visible()
        # The page offered its audio again: the server hears it through the new connection.
        observer.drain()
        try:
            await wait_for_speaking(observer, guest_id, AUDIO_TIMEOUT)
        except TimeoutError:
            pytest.fail(
                f"no `speaking` level for the reconnected guest within {AUDIO_TIMEOUT:.0f} s\n"
                + await audio_diagnostics(guest)
            )
        await observer.call("leave_room", room=room)
    finally:
        await observer.close()
    await guest.shot("08-reconnected")

    await guest.tid("leave-seat").click()
    await expect(host.tid("seat-0")).to_have_attribute("data-user", "")
    await guest.page.wait_for_function(MIC_CLOSED)
    await guest.tid("leave-room").click()
    await expect(guest.tid("create-form")).to_be_visible()
    await expect(host.tid("audience-count")).to_have_attribute("data-count", "0")
    host.assert_no_page_errors()
    guest.assert_no_page_errors()


async def test_a_denied_microphone_is_explained_and_the_room_still_plays(
    server: RunningServer, playwright: Playwright, people: list[Person]
) -> None:
    # Without the fake-UI flag the browser refuses the microphone prompt, as a user might.
    args = [arg for arg in CHROMIUM_ARGS if arg != "--use-fake-ui-for-media-stream"]
    strict = await playwright.chromium.launch(executable_path=chromium_path(), args=args)
    try:
        host = await open_person(strict, people, "host without a mic")
        await sign_in(host, server, "Quinn")
        await create_room(host, "No mic today")
        problem = host.tid("mic-problem")
        await expect(problem).to_be_visible()
        await expect(problem).to_contain_text("denied")
        await expect(host.tid("retry-mic")).to_be_visible()
        await expect(host.tid("audio-status")).to_have_attribute("data-state", "connected")
        await expect(host.tid("audio-status")).to_contain_text("microphone is off")
        await host.shot("09-mic-denied")
        host.assert_no_page_errors()
    finally:
        for person in [p for p in people if p.context.browser is strict]:
            people.remove(person)
        await strict.close()


async def test_moderation_invite_lock_kick_admin_and_ban(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    host = await open_person(browser, people, "host")
    await sign_in(host, server, "Rosa")
    room = await create_room(host, "Moderated", auto_chatroom_at=0)
    member = await open_person(browser, people, "member", width=420, height=900)
    member_id = await sign_in(member, server, "Sami", hash=f"#room={room}")
    await expect(member.tid("room-title")).to_have_text("Moderated")
    await expect(member.tid("queue")).to_be_hidden()
    wes = await server.client(f"wes-{uuid.uuid4().hex[:4]}", name="Wes", binary=False)
    try:
        await wes.call("join_room", room=room)
        listed = host.tid("members").get_by_test_id("member-item")
        await expect(listed).to_have_count(2)

        # A request the member takes back.
        await member.tid("request-mic").click()
        await expect(host.tid("queue-item")).to_have_count(1)
        await member.tid("cancel-mic").click()
        await expect(member.tid("request-mic")).to_be_visible()
        await expect(host.tid("queue-item")).to_have_count(0)

        # An invitation, first declined, then accepted.
        await host.tid(f"invite-{member_id}").click()
        await expect(member.tid("invite")).to_contain_text("Rosa invites you")
        await member.tid("invite-decline").click()
        await expect(member.tid("invite")).to_have_count(0)
        await host.tid(f"invite-{member_id}").click()
        await member.tid("invite-accept").click()
        for person in (host, member):
            await expect(person.tid("seat-0")).to_have_attribute("data-user", member_id)
        await member.page.wait_for_function(MIC_OPEN)

        # Chatroom: the live guest keeps seat 0; a locked seat shows on every page.
        await host.tid("open-chatroom").click()
        await expect(member.tid("room-mode")).to_have_attribute("data-mode", "chatroom")
        await expect(member.tid("seat-0")).to_have_attribute("data-user", member_id)
        await host.tid("seat-1-lock").click()
        await expect(member.tid("seat-1")).to_have_attribute("data-locked", "true")
        await expect(member.tid("seat-1-take")).to_have_count(0)
        await expect(member.tid("seat-2-take")).to_have_text("Move here")

        # Moving to another seat keeps the microphone on: no renegotiation on the way.
        negotiations = await member.page.evaluate("window.voiceroom.media.negotiations")
        await member.tid("seat-2-take").click()
        for person in (host, member):
            await expect(person.tid("seat-2")).to_have_attribute("data-user", member_id)
            await expect(person.tid("seat-0")).to_have_attribute("data-user", "")
        assert await member.page.evaluate("window.voiceroom.media.negotiations") == negotiations
        await member.page.wait_for_function(MIC_OPEN)
        await expect(member.tid("notice").filter(has_text="back in the audience")).to_have_count(0)

        # Off the seat, back in the audience.
        await host.tid("seat-2-kick").click()
        await expect(member.tid("seat-2")).to_have_attribute("data-user", "")
        await expect(member.tid("request-mic")).to_be_visible()
        await expect(member.tid("notice").filter(has_text="back in the audience")).to_be_visible()
        # Unseated, the page stops sending and lets go of the microphone.
        await member.page.wait_for_function(MIC_CLOSED)

        # An admin sees the queue and handles it.
        await host.tid(f"admin-{member_id}").click()
        await expect(member.tid("my-role")).to_have_text("You are an admin")
        await expect(member.tid("queue")).to_be_visible()
        await wes.call("request_mic", room=room)
        await expect(member.tid("queue-item")).to_contain_text("Wes")
        await member.tid(f"reject-{wes.user}").click()
        await wes.event("mic_rejected")
        await expect(member.tid("queue-item")).to_have_count(0)
        await member.shot("10-admin")

        # Banned: out of the room, and kept out.
        await host.tid(f"ban-{member_id}").click()
        await expect(member.tid("notice").filter(has_text="banned from the room")).to_be_visible()
        await expect(member.tid("create-form")).to_be_visible()
        await member.page.evaluate(f"location.hash = 'room={room}'")
        await expect(member.tid("notice").filter(has_text="You have been banned")).to_be_visible()
        await expect(member.tid("room-title")).to_be_hidden()
        await expect(listed).to_have_count(1)
    finally:
        await wes.close()
    host.assert_no_page_errors()
    member.assert_no_page_errors()


async def test_token_sign_in_on_a_server_with_a_secret(
    browser: Browser, people: list[Person]
) -> None:
    secret = uuid.uuid4().hex
    async with running_server(secret=secret) as secured:
        person = await open_person(browser, people, "token user")
        await person.page.goto(base_url(secured))
        await person.tid("signin-name").fill("Tara")
        await person.tid("signin-submit").click()
        await expect(person.tid("signin-error")).to_contain_text("requires a sign-in token")

        token = issue_token(secret, "tara-7", "Tara T.", 600, time.time())
        await person.tid("signin-name").fill("")
        await person.tid("signin-token").fill(token)
        await person.tid("signin-submit").click()
        await expect(person.tid("me-name")).to_have_text("Tara T.")
        await expect(person.tid("create-form")).to_be_visible()

        # A reload signs in again from the session without asking.
        await person.page.reload()
        await expect(person.tid("me-name")).to_have_text("Tara T.")
        person.assert_no_page_errors()
        # The server stops with the page still connected: close it first.
        await person.context.close()
        people.remove(person)


async def test_many_hands_up_turn_a_live_into_a_chatroom(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    host = await open_person(browser, people, "host")
    await sign_in(host, server, "Uma")
    room = await create_room(host, "Busy live", auto_chatroom_at=2)
    await expect(host.tid("seat-grid")).to_have_attribute("data-seats", "1")
    hands: list[WireClient] = []
    try:
        for name in ("Vic", "Wen"):
            hand = await server.client(f"{name.lower()}-{uuid.uuid4().hex[:4]}", name=name,
                                       binary=False)
            hands.append(hand)
            await hand.call("join_room", room=room)
            await hand.call("request_mic", room=room)
        await expect(host.tid("room-mode")).to_have_attribute("data-mode", "chatroom")
        await expect(host.tid("seat-grid")).to_have_attribute("data-seats", "8")
        await expect(host.tid("notice").filter(has_text="now a chatroom")).to_be_visible()
        await expect(host.tid("queue-item")).to_have_count(2)
        await expect(host.tid("close-chatroom")).to_be_visible()
    finally:
        await close_all(hands)
    host.assert_no_page_errors()


async def test_the_same_user_in_a_second_tab_replaces_the_first(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    owner = await server.client(f"owner-{uuid.uuid4().hex[:6]}", name="Owner", binary=False)
    try:
        room = (await owner.call("create_room", title="Two tabs"))["room"]["id"]
        user = f"sam-{uuid.uuid4().hex[:6]}"
        tabs = []
        for label in ("first tab", "second tab"):
            tab = await open_person(browser, people, label)
            # The same signed-in session in both (as a copied tab would have).
            await tab.context.add_init_script(
                "sessionStorage.setItem('voiceroom.session',"
                f" JSON.stringify({{user: '{user}', name: 'Sam', token: null}}))"
            )
            await tab.page.goto(base_url(server) + f"#room={room}")
            await expect(tab.tid("room-title")).to_have_text("Two tabs")
            tabs.append(tab)
        first, second = tabs
        await expect(first.tid("banner")).to_contain_text("open in another tab")
        await expect(first.tid("connection")).to_have_attribute("data-state", "offline")
        await expect(second.tid("banner")).to_be_hidden()

        # "Use it here" takes the room back; now the second tab is the one replaced.
        await first.tid("banner-action").click()
        await expect(first.tid("banner")).to_be_hidden()
        await expect(first.tid("connection")).to_have_attribute("data-state", "online")
        await expect(second.tid("banner")).to_contain_text("open in another tab")
        first.assert_no_page_errors()
        second.assert_no_page_errors()
    finally:
        await owner.close()
