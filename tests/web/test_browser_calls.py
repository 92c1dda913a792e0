"""People and calls on the page, in a real Chromium against the real server (with media).

Two browser contexts with Chromium's fake camera and microphone sign in with an app chosen
from the server's policy, follow each other from the people panel, and make a video call:
the callee's sheet rings, the answer opens the in-call view on both sides, each page decodes
the other's frames and hears the other's sound (getStats), mute and camera off act, and a
hangup closes both views. On a 390x844 phone, a refused call is said in plain words, and a
block made from the people panel survives a reload in its Blocked section, where it is
undone. Screenshots of the in-call view (desktop and a phone), of the ringing sheet and of
the people panel on a phone go to test-artifacts/web/.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Playwright, async_playwright, expect

from calls.policy import AppPolicy
from tests.support.server import RunningServer, running_server
from tests.web.test_browser import (
    CHROMIUM_ARGS,
    UI_TIMEOUT_MS,
    Person,
    base_url,
    chromium_path,
    open_person,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")
expect.set_options(timeout=UI_TIMEOUT_MS)

TWO_APPS = {"apps": {"douyin": {"calls_need": "friends", "rings_in": ["douyin"]},
                     "duoshan": {"calls_need": "friends", "rings_in": ["duoshan", "douyin"]}}}
MEDIA_TIMEOUT_MS = 25_000
RUNNING_DURATION = re.compile(r"^(?!0:00$)\d+:\d{2}$")
PHONE = {"width": 390, "height": 844}

STATS = "async () => { const l = window.voiceroom.callLink(); return l ? await l.stats() : null; }"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(media=True, apps=AppPolicy.from_data(TWO_APPS)) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await launch(pw)
        try:
            yield launched
        finally:
            await launched.close()


async def launch(pw: Playwright) -> Browser:
    return await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


@pytest_asyncio.fixture(loop_scope="module")
async def people(browser: Browser) -> AsyncIterator[list[Person]]:
    made: list[Person] = []
    yield made
    for person in made:
        await person.context.close()


async def sign_in(person: Person, server: RunningServer, name: str, app: str) -> str:
    await person.page.goto(base_url(server))
    select = person.tid("signin-app")
    # The selector offers the policy's apps (GET /apps).
    await expect(select.locator("option")).to_have_text(["douyin", "duoshan"])
    await select.select_option(app)
    await person.tid("signin-name").fill(name)
    await person.tid("signin-submit").click()
    await expect(person.tid("me-name")).to_have_text(name)
    await expect(person.tid("my-app")).to_have_text(app)
    person.user = await person.page.evaluate("window.voiceroom.session.user")
    return person.user


async def stats(person: Person) -> dict[str, Any]:
    found = await person.page.evaluate(STATS)
    assert found is not None, f"{person.label} has no call media"
    return dict(found)


async def grows(person: Person, key: str, by: float = 0) -> tuple[float, float]:
    """`key` of the call's stats now and once it has grown by more than `by`.

    Polled from here: Playwright's `wait_for_function` does not await an async predicate
    (it would return at once, truthy promise), so it cannot wait on getStats().
    """
    before = (await stats(person))[key]
    deadline = asyncio.get_running_loop().time() + MEDIA_TIMEOUT_MS / 1000
    now = before
    while asyncio.get_running_loop().time() < deadline:
        now = (await stats(person))[key]
        if now > before + by:
            return before, now
        await asyncio.sleep(0.2)
    raise AssertionError(f"{key} did not grow by more than {by}: {before} -> {now}")


async def growth_over(person: Person, key: str, seconds: float) -> float:
    before = (await stats(person))[key]
    await asyncio.sleep(seconds)
    return float((await stats(person))[key] - before)


async def settles(person: Person, key: str, at_most: float, window: float = 1.0) -> None:
    """`key` grows by `at_most` or less over one `window` within the media timeout: what was
    already on its way (a starved browser may lag by a second or more) has played out."""
    seen = []
    deadline = asyncio.get_running_loop().time() + MEDIA_TIMEOUT_MS / 1000
    while asyncio.get_running_loop().time() < deadline:
        seen.append(await growth_over(person, key, window))
        if seen[-1] <= at_most:
            return
    raise AssertionError(f"{key} kept growing by more than {at_most} a window: {seen}")


async def test_friends_video_call_from_the_people_panel(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    ada = await open_person(browser, people, "ada")
    bob = await open_person(browser, people, "bob")
    suffix = uuid.uuid4().hex[:4]
    await sign_in(ada, server, f"Ada {suffix}", "douyin")
    bob_id = await sign_in(bob, server, f"Bob {suffix}", "douyin")

    # Ada finds Bob by his id and follows him; Bob follows back from his panel.
    await ada.tid("people-search-input").fill(bob_id)
    await ada.tid("people-search-submit").click()
    card = ada.tid("person-card")
    await expect(card).to_have_attribute("data-user", bob_id)
    await card.get_by_test_id("follow-btn").click()
    await expect(card).to_have_attribute("data-relation", "following")
    await expect(bob.tid("notice").filter(has_text="follows you")).to_be_visible()
    await bob.tid(f"follow-back-{ada.user}").click()
    friend = ada.tid(f"friend-{bob_id}")
    await expect(friend).to_have_attribute("data-online", "true")
    await expect(bob.tid(f"friend-{ada.user}")).to_have_attribute("data-online", "true")
    await ada.shot("calls-01-people-panel")

    # A video call: Ada's view rings out, Bob's sheet rings.
    await ada.tid(f"video-{bob_id}").click()
    await expect(ada.tid("call-view")).to_have_attribute("data-state", "outgoing")
    await expect(ada.tid("call-status")).to_have_text("Video calling…")
    sheet = bob.tid("incoming-call")
    await expect(sheet).to_be_visible()
    await expect(bob.tid("incoming-title")).to_have_text(f"Ada {suffix} is calling")
    await expect(bob.tid("incoming-sub")).to_have_text("Video call")
    assert await bob.page.evaluate("window.voiceroom.callTones.playing") == "ring"
    assert await ada.page.evaluate("window.voiceroom.callTones.playing") == "ringback"
    await ada.shot("calls-02a-calling")
    await bob.shot("calls-02b-incoming-sheet")

    await bob.tid("incoming-answer").click()
    for person in (ada, bob):
        await expect(person.tid("call-view")).to_have_attribute("data-state", "active")
        # The duration runs (any value past 0:00: the other page's check may come later).
        await expect(person.tid("call-duration")).to_have_text(RUNNING_DURATION,
                                                               timeout=MEDIA_TIMEOUT_MS)
        await expect(person.tid("call-view")).to_have_attribute(
            "data-remote-video", "true", timeout=MEDIA_TIMEOUT_MS)
        assert await person.page.evaluate("window.voiceroom.callTones.playing") is None
    await expect(bob.tid("incoming-call")).to_be_hidden()

    # Each page decodes the other's picture and hears the other's sound.
    for person in (bob, ada):
        await grows(person, "framesDecoded", by=10)
        width = await person.tid("call-remote-video").evaluate("v => v.videoWidth")
        assert width > 0, f"{person.label}'s <video> shows no frame"
        await grows(person, "audioBytes", by=2000)
        await grows(person, "audioEnergy")
    await expect(bob.tid("call-status")).to_have_text("Video call")
    await bob.shot("calls-03-in-call-desktop")

    # Mute: Bob hears (almost) nothing more from Ada; unmuted, he hears her again. Ratios
    # in one run, not timings.
    speaking = await growth_over(bob, "audioEnergy", 1.0)
    await ada.tid("call-mute").click()
    await expect(ada.tid("call-mute")).to_have_attribute("aria-pressed", "true")
    await settles(bob, "audioEnergy", 0.1 * speaking)
    await ada.tid("call-mute").click()
    await expect(ada.tid("call-mute")).to_have_attribute("aria-pressed", "false")
    await grows(bob, "audioEnergy", by=0.5 * speaking)

    # Camera off: Ada's picture stops reaching Bob; on again, it comes back.
    await ada.tid("call-camera").click()
    await expect(ada.tid("call-view")).to_have_attribute("data-local-video", "false")
    await settles(bob, "framesDecoded", 1)
    await ada.tid("call-camera").click()
    await expect(ada.tid("call-view")).to_have_attribute("data-local-video", "true")
    await grows(bob, "framesDecoded", by=10)

    # The in-call view on a phone.
    await bob.page.set_viewport_size(PHONE)
    await asyncio.sleep(0.3)  # one layout and a fresh frame
    await bob.shot("calls-04-in-call-phone")
    await bob.page.set_viewport_size({"width": 1200, "height": 860})

    await ada.tid("call-hangup").click()
    for person in (ada, bob):
        await expect(person.tid("call-view")).to_be_hidden()
        await expect(person.tid("call-view")).to_have_attribute("data-state", "none")
    await expect(bob.tid("notice").filter(has_text="Call ended.")).to_be_visible()
    assert await ada.page.evaluate("window.voiceroom.callLink()") is None
    ada.assert_no_page_errors()
    bob.assert_no_page_errors()


async def test_a_refused_call_is_said_in_plain_words_and_a_block_can_be_undone(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    ada = await open_person(browser, people, "ada", width=PHONE["width"], height=PHONE["height"])
    carl = await open_person(browser, people, "carl")
    await sign_in(ada, server, "Ada Phone", "douyin")
    carl_id = await sign_in(carl, server, "Carl Stranger", "douyin")
    await ada.tid("people-search-input").fill(carl_id)
    await ada.tid("people-search-submit").click()
    await expect(ada.tid("person-card")).to_have_attribute("data-relation", "none")
    # Not friends: the card offers no call; calling anyway (from the console) is refused.
    await expect(ada.tid(f"call-{carl_id}")).to_have_count(0)
    await ada.page.evaluate(
        "async (u) => (await import('./calls.js')).placeCall(u, false)", carl_id)
    refusal = ada.tid("notice").filter(has_text="You can only call friends")
    await expect(refusal).to_be_visible()
    await expect(ada.tid("call-view")).to_be_hidden()

    await ada.tid("people-search-input").fill("nobody-" + uuid.uuid4().hex[:6])
    await ada.tid("people-search-submit").click()
    await expect(ada.tid("people-missing")).to_contain_text("they have never signed in")
    await ada.shot("calls-05-people-phone")

    # Ada blocks Carl; the page's Blocked section lists him, and a reload keeps him there
    # (the list comes from the server: list_follows {which: "blocked"}).
    await expect(ada.tid("blocked-box")).to_be_hidden()
    await ada.tid("people-search-input").fill(carl_id)
    await ada.tid("people-search-submit").click()
    card = ada.tid("person-card")
    await card.get_by_test_id("block-btn").click()
    await expect(card).to_have_attribute("data-relation", "blocked")
    await expect(ada.tid("blocked-box")).to_be_visible()
    await ada.page.reload()
    await expect(ada.tid("connection")).to_have_attribute("data-state", "online")
    await expect(ada.tid("blocked-count")).to_have_text("1")
    await ada.tid("blocked-toggle").click()
    row = ada.tid(f"blocked-{carl_id}")
    await expect(row).to_contain_text("Carl Stranger")
    # The row's name shows the card, which knows the block too (not "Follow").
    await row.get_by_role("button", name="Carl Stranger").click()
    await expect(card).to_have_attribute("data-relation", "blocked")
    await expect(card.get_by_test_id("follow-btn")).to_have_count(0)
    unblock = ada.tid(f"unblock-{carl_id}")
    # On the phone the row and its button fit the screen.
    box = await unblock.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    await ada.shot("calls-06-blocked-phone")

    # Unblocked from the section: the entry goes and the card offers "Follow" again.
    await unblock.click()
    await expect(ada.tid(f"blocked-{carl_id}")).to_have_count(0)
    await expect(ada.tid("blocked-box")).to_be_hidden()
    await expect(card).to_have_attribute("data-relation", "none")
    await expect(card.get_by_test_id("follow-btn")).to_have_text("Follow")
    ada.assert_no_page_errors()
