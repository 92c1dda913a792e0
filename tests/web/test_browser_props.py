"""The props panel in a real Chromium against the real server (with media).

Two browser contexts in one room: the host rolls dice and both pages show the same roll (the
one an outside client sees); a sound played from the page reaches the room's mix; cards,
voice effects and music from the panel reach every page (music controls for the host only).
A call on the page gets its own props strip: its dice are the other party's too.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Playwright, async_playwright, expect

from tests.media.propskit import tone_file
from tests.support.rtc import wait_for
from tests.support.server import RunningServer, close_all, running_server
from tests.web.test_browser import (
    CHROMIUM_ARGS,
    UI_TIMEOUT_MS,
    Person,
    chromium_path,
    create_room,
    open_person,
    sign_in,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
expect.set_options(timeout=UI_TIMEOUT_MS)

GAMES = "window.voiceroom.props.games"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningServer]:
    music: Path = tmp_path_factory.mktemp("music")
    tone_file(music / "evening_theme.wav", 330.0, 2.0)
    async with running_server(media=True, music=music) as running:
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


@pytest_asyncio.fixture(loop_scope="module")
async def people(browser: Browser) -> AsyncIterator[list[Person]]:
    made: list[Person] = []
    yield made
    for person in made:
        await person.context.close()


async def test_dice_sounds_cards_effects_and_music_from_the_panel(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    host = await open_person(browser, people, "host")
    guest = await open_person(browser, people, "guest", width=420, height=900)
    suffix = uuid.uuid4().hex[:4]
    await sign_in(host, server, f"Hana {suffix}")
    room = await create_room(host, f"Game night {suffix}", seat_mode="free", auto_chatroom_at=0)
    await sign_in(guest, server, f"Gil {suffix}")
    await guest.tid("refresh-rooms").click()
    await guest.tid(f"join-{room}").click()
    observer = await server.client(f"observer-{suffix}", binary=False)
    await observer.call("join_room", room=room)
    try:
        for person in (host, guest):
            await expect(person.tid("props-panel")).to_be_visible()
            await expect(person.tid("props-sound-ding")).to_have_count(1 if person is host else 0)
        await expect(guest.tid("props-roll")).to_be_visible()  # dice are for everyone

        # Dice: the host rolls three; both pages show the roll the server made.
        await host.tid("props-dice-count").select_option("3")
        await host.tid("props-roll").click()
        rolled = await observer.event("game_event", timeout=10)
        values = rolled["result"]["values"]
        assert len(values) == 3 and rolled["game"] == "dice"
        total = f"{' + '.join(map(str, values))} = {sum(values)}"
        await expect(host.tid("props-last-game")).to_have_text(f"You rolled {total}")
        await expect(guest.tid("props-last-game")).to_have_text(f"Hana {suffix} rolled {total}")
        for person in (host, guest):
            seen = await person.page.evaluate(f"{GAMES}[0].result.values")
            assert seen == values, (person.label, seen, values)
        await expect(guest.tid("chat-log")).to_contain_text(f"rolled {total}")
        await host.shot("props-01-host-rolled")
        await guest.shot("props-02-guest-sees-the-roll")

        # A card, drawn by the guest: the same card on both pages.
        await guest.tid("props-card-icebreaker").click()
        card = (await observer.event("game_event", game="card", timeout=10))["result"]
        await expect(host.tid("props-last-game")).to_contain_text(card["text"])
        await expect(guest.tid("props-last-game")).to_contain_text(card["text"])

        # A sound from the page: the room's mix plays it, every page is told.
        mix = server.media.session(room)
        assert mix is not None
        await host.tid("props-sound-ding").click()
        assert (await observer.event("sound_played", timeout=10))["sound"] == "ding"
        await wait_for(lambda: mix.props.sounds_played == 1)
        await expect(guest.tid("chat-log")).to_contain_text(f"Hana {suffix} played Ding")

        # The guest takes a seat: now their voice can take an effect, and everyone hears of it.
        await guest.tid("seat-0-take").click()
        await expect(guest.tid("props-effect")).to_be_visible()
        await guest.tid("props-effect").select_option("robot")
        effect = await observer.event("voice_effect", timeout=10)
        assert effect["effect"] == "robot" and effect["user"] == guest.user
        await expect(host.tid("chat-log")).to_contain_text(f"Gil {suffix}: Robot")
        await wait_for(lambda: "robot" in {v.name for v in mix.props.voices.values()})

        # Music: the host's controls; the guest only sees what plays.
        await expect(guest.tid("props-play")).to_have_count(0)
        await host.tid("props-play").click()
        assert (await observer.event("music_state", timeout=10))["track"] == "evening_theme"
        for person in (host, guest):
            await expect(person.tid("props-music")).to_have_text(
                "Evening theme (looping) at 50%")
        await host.tid("props-stop").click()
        await expect(guest.tid("props-music")).to_have_count(0)
        await host.shot("props-03-host-panel", full_page=True)
        host.assert_no_page_errors()
        guest.assert_no_page_errors()
    finally:
        await close_all([observer])


async def test_a_call_on_the_page_has_its_own_props(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    page = await open_person(browser, people, "callee")
    suffix = uuid.uuid4().hex[:4]
    me = await sign_in(page, server, f"Cleo {suffix}")
    # The other party is a client of the protocol; they are friends (each follows the other).
    caller = await server.client(f"caller-{suffix}", name="Cal", binary=False)
    follower = await server.client(me, name=f"Cleo {suffix}", binary=False)
    try:
        await caller.call("follow", user=me)
        await follower.call("follow", user=caller.user)
        call = (await caller.call("call", user=me))["call"]["id"]
        await page.tid("incoming-answer").click()
        await expect(page.tid("call-view")).to_have_attribute("data-state", "active")
        await expect(page.tid("call-props")).to_be_visible()
        await expect(page.tid("call-props-effect")).to_be_visible()

        await page.tid("call-props-roll").click()
        rolled = await caller.event("game_event", timeout=10)
        assert rolled["call"] == call and rolled["user"] == me
        await expect(page.tid("call-props-last-game")).to_have_text(
            f"You rolled {rolled['result']['values'][0]}")
        values = (await caller.call("roll_dice", call=call, count=2))["values"]
        await expect(page.tid("call-props-last-game")).to_have_text(
            f"Cal rolled {values[0]} + {values[1]} = {sum(values)}")

        await page.tid("call-props-effect").select_option("pitch_down")
        told = await caller.event("voice_effect", timeout=10)
        assert told == {"type": "voice_effect", "call": call, "user": me, "effect": "pitch_down"}
        await page.shot("props-04-call-strip")
        await caller.call("hangup", call=call)
        await expect(page.tid("call-props")).to_be_hidden()
        page.assert_no_page_errors()
    finally:
        await close_all([caller, follower])
