"""Meeting someone at random on the page, in a real Chromium against the real server (with
media): two verified users in two browser contexts press "Meet someone", are matched, see
each other's card (name, city, tags) in the call view, hear each other (getStats), and one
presses Next: they wait again, the other's view closes and their panel keeps the card, from
which they report and block (listed in the People panel at once). A third comes and is
matched with the one who moved on; an unverified user is told matching is not for them.
Screenshots go to test-artifacts/web/.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright, expect

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

MEDIA_TIMEOUT_MS = 25_000
STATS = "async () => { const l = window.voiceroom.callLink(); return l ? await l.stats() : null; }"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(media=True) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="module")
async def people(browser: Browser) -> AsyncIterator[list[Person]]:
    made: list[Person] = []
    yield made
    for person in made:
        person.assert_no_page_errors()
        await person.context.close()


async def sign_in(person: Person, server: RunningServer, name: str, *, city: str | None,
                  verified: bool) -> str:
    await person.page.goto(base_url(server))
    await person.tid("signin-name").fill(name)
    if city:
        await person.tid("signin-city").fill(city)
    if verified:
        await person.tid("signin-verified").check()
    await person.tid("signin-submit").click()
    await expect(person.tid("me-name")).to_have_text(name)
    person.user = await person.page.evaluate("window.voiceroom.session.user")
    return person.user


async def audio_bytes_reach(person: Person, wanted: int) -> int:
    """The call's received audio bytes once past `wanted` (or the last figure at the time
    limit)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MEDIA_TIMEOUT_MS / 1000
    received = 0
    while loop.time() < deadline:
        stats = await person.page.evaluate(STATS)
        received = int((stats or {}).get("audioBytes") or 0)
        if received > wanted:
            break
        await asyncio.sleep(0.2)
    return received


async def meet(person: Person, tags: str, *, same: bool = False) -> None:
    await person.tid("meet-tags").fill(tags)
    if same:
        await person.tid("meet-city-same").check()
    await person.tid("meet-start").click()


async def test_two_verified_users_meet_see_cards_and_one_moves_on(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    ada = await open_person(browser, people, "ada")
    bob = await open_person(browser, people, "bob")
    suffix = uuid.uuid4().hex[:4]
    ada_id = await sign_in(ada, server, f"Ada {suffix}", city="Taipei", verified=True)
    bob_id = await sign_in(bob, server, f"Bob {suffix}", city="Taipei", verified=True)

    await expect(ada.tid("meet-city-same")).to_be_enabled()  # she has a city
    await meet(ada, "jazz, cats", same=True)
    waiting = ada.tid("meet-waiting")
    await expect(waiting).to_be_visible()
    await expect(ada.tid("meet-status")).to_have_text("Looking for someone to talk to…")
    await ada.shot("meet-01-waiting")

    await meet(bob, "Jazz, hiking")
    for me, other, name, tags in ((ada, bob_id, f"Bob {suffix}", ["#Jazz", "#hiking"]),
                                  (bob, ada_id, f"Ada {suffix}", ["#jazz", "#cats"])):
        await expect(me.tid("call-view")).to_have_attribute("data-state", "active")
        card = me.tid("meet-card")
        await expect(card).to_have_attribute("data-user", other)
        await expect(me.tid("meet-card-name")).to_have_text(name)
        await expect(me.tid("meet-card-city")).to_have_text("Taipei")
        await expect(me.tid("meet-card-tags").locator(".flag")).to_have_text(tags)
        await expect(me.tid("call-name")).to_have_text(name)
        await expect(me.tid("meet-next")).to_be_visible()
    # The shared tag comes first and stands out.
    await expect(bob.tid("meet-card-tags").locator(".flag.shared")).to_have_text(["#jazz"])
    # Their voices reach each other (Chromium's fake microphone).
    for me in (ada, bob):
        await expect(me.tid("call-status")).to_have_text("Voice call", timeout=MEDIA_TIMEOUT_MS)
        assert await audio_bytes_reach(me, 2000) > 2000
    await ada.shot("meet-02-matched")

    # Bob moves on: he waits again; Ada's call ends and her panel keeps his card.
    await bob.tid("meet-next").click()
    await expect(bob.tid("call-view")).to_be_hidden()
    await expect(bob.tid("meet-waiting")).to_be_visible()
    await expect(ada.tid("call-view")).to_be_hidden()
    await expect(ada.tid("meet-status")).to_have_text(f"Your chat with Bob {suffix} ended.")
    await expect(ada.tid("meet-last")).to_have_attribute("data-user", bob_id)
    await ada.tid("meet-last-report").click()
    await ada.tid("meet-report-reason").fill("kept interrupting")
    await ada.tid("meet-report-send").click()
    await expect(ada.tid("notice").filter(has_text="moderators")).to_be_visible()
    await expect(ada.tid("meet-last-report")).to_have_text("Reported")
    await ada.shot("meet-03-ended-reported")
    assert server.app.matching is not None
    [kept] = await server.app.matching.store.reports(5)
    assert (kept.reporter, kept.user, kept.reason, kept.where) == \
        (ada_id, bob_id, "kept interrupting", "match")
    # Blocked from the card too: her People panel lists him at once, under his name.
    await ada.tid("meet-last-block").click()
    await expect(ada.tid("notice").filter(has_text="you will not meet again")).to_be_visible()
    await expect(ada.tid(f"blocked-{bob_id}")).to_contain_text(f"Bob {suffix}")
    await expect(ada.tid("blocked-count")).to_have_text("1")

    # Someone new arrives and meets Bob (Ada and Bob are not paired again so soon).
    cy = await open_person(browser, people, "cy", width=390, height=844)
    cy_id = await sign_in(cy, server, f"Cy {suffix}", city="Tainan", verified=True)
    await meet(cy, "")
    await expect(cy.tid("meet-card")).to_have_attribute("data-user", bob_id)
    await expect(bob.tid("meet-card")).to_have_attribute("data-user", cy_id)
    await expect(cy.tid("meet-card-city")).to_have_text("Taipei")
    await cy.shot("meet-04-phone-matched")
    await cy.tid("call-hangup").click()
    await expect(bob.tid("meet-status")).to_have_text(f"Your chat with Cy {suffix} ended.")
    await expect(cy.tid("meet-last")).to_have_attribute("data-user", bob_id)


async def test_an_unverified_user_is_told_matching_is_not_for_them(
    server: RunningServer, browser: Browser, people: list[Person]
) -> None:
    dee = await open_person(browser, people, "dee")
    await sign_in(dee, server, f"Dee {uuid.uuid4().hex[:4]}", city=None, verified=False)
    await expect(dee.tid("meet-status")).to_have_text(
        "Meeting new people is for real-name verified users.")
    await expect(dee.tid("meet-start")).to_have_count(0)
    eve = await open_person(browser, people, "eve")
    await sign_in(eve, server, f"Eve {uuid.uuid4().hex[:4]}", city=None, verified=True)
    # No city: "only my city" waits until she gives one.
    await expect(eve.tid("meet-city-same")).to_be_disabled()
    await eve.tid("meet-home").fill("Kaohsiung")
    await eve.tid("meet-home-save").click()
    await expect(eve.tid("meet-city-same")).to_be_enabled()
