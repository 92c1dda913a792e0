"""Random matching over real websockets on one node (docs/protocol.md "Random matching
(連線)"): match_join / match_found / hangup / match_join again, the rules (verified only, not in
a call, `same` is a filter, blocks, no rematch within 10 minutes), the preferences (same city,
then shared tags, then the longest wait), leaving (asked, or the last connection closing),
reports (who may report whom, kept, counted in /metrics) and bad input that changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.server.peoplekit import befriend, person
from tests.server.test_metrics import scrape, value
from tests.support.server import RunningServer, WireClient, close_all, running_server

QUIET = 0.6  # seconds in which a pair that may be made is made (the contract says 1 s)


@pytest.fixture(params=["memory", "redis"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[RunningServer]:
    overrides: dict[str, Any] = {}
    if request.param == "redis":
        from tests.support.redis import fresh_redis_url

        overrides["redis"] = fresh_redis_url()
    async with running_server(**overrides) as srv:
        yield srv


@pytest.fixture
async def memory_server() -> AsyncIterator[RunningServer]:
    async with running_server() as srv:
        yield srv


async def verified(url: str, user: str, city: str | None = "Taipei",
                   tags: list[str] | None = None) -> WireClient:
    hello: dict[str, Any] = {"city": city} if city else {}
    client = await person(url, user, verified=True, **hello)
    if tags is not None:
        await client.call("set_profile", tags=tags)
    return client


async def waiting(srv: RunningServer) -> list[str]:
    assert srv.app.matching is not None
    return sorted(e.user for e in await srv.app.matching.store.waiting())


def no_match(client: WireClient) -> None:
    assert [m for m in client.drain() if m.get("type") == "match_found"] == []


async def test_two_verified_users_are_matched_talk_hang_up_and_move_on(
        server: RunningServer) -> None:
    ann = await verified(server.url, "ann", tags=["jazz", "hiking"])
    bob = await verified(server.url, "bob", "Taipei", tags=["Jazz"])
    assert (await ann.call("match_join"))["type"] == "ok"
    await bob.call("match_join", city="same", tags=["jazz", "cats"])
    found_a = await ann.event("match_found")
    found_b = await bob.event("match_found")
    call = found_a["call"]
    assert found_b["call"] == call
    assert (call["state"], call["kind"], call["reason"]) == ("active", "match", None)
    assert call["started_at"] is not None
    # The one who waited longer is the call's caller.
    assert (call["caller"]["user"], call["callee"]["user"]) == ("ann", "bob")
    assert found_a["peer"] == {"user": "bob", "name": "bob", "city": "Taipei",
                               "tags": ["jazz", "cats"]}
    assert found_b["peer"] == {"user": "ann", "name": "ann", "city": "Taipei",
                               "tags": ["jazz", "hiking"]}
    assert [c["id"] for c in (await bob.call("list_calls"))["calls"]] == [call["id"]]
    assert await waiting(server) == []
    # While in the call: no second queue.
    assert await ann.error("match_join") == "already_in_call"

    await bob.call("hangup", call=call["id"])
    assert (await ann.event("call_ended"))["reason"] == "hangup"
    # Both may join again, but the same two are not paired again within 10 minutes.
    await ann.call("match_join")
    await bob.call("match_join")
    await asyncio.sleep(QUIET)
    no_match(ann)
    no_match(bob)
    assert await waiting(server) == ["ann", "bob"]
    cat = await verified(server.url, "cat", "Tainan")
    await cat.call("match_join")
    found_c = await cat.event("match_found")
    assert found_c["peer"]["user"] == "ann"  # the longest wait, both in any city
    assert (await ann.event("match_found"))["peer"]["user"] == "cat"
    assert await waiting(server) == ["bob"]
    await bob.call("match_leave")
    assert await waiting(server) == []
    await close_all([ann, bob, cat])


async def test_same_city_then_shared_tags_then_the_longest_wait(
        memory_server: RunningServer) -> None:
    """Choosers wait alone (`same` in a city nobody else is in), the candidates arrive (all
    blocking each other), then each chooser in turn moves to Taipei and any city: the one who
    waited longest picks, among everyone, by same city, then tags shared, then wait."""
    url = memory_server.url
    choosers = []
    for user, home, tags in (("c0", "Keelung", ["a", "b"]), ("c1", "Hualien", ["a", "b"]),
                             ("c2", "Yilan", ["a"])):
        chooser = await verified(url, user, None, tags=tags)
        await chooser.call("set_profile", city=home)
        await chooser.call("match_join", city="same")
        choosers.append(chooser)
    candidates = [await verified(url, "t1", "Tainan", ["a"]),
                  await verified(url, "t2", "Tainan", ["a", "b"]),
                  await verified(url, "t3", "Tainan", ["A"]),
                  await verified(url, "p", "Taipei", [])]
    for i, x in enumerate(candidates):
        for y in candidates[i + 1:]:
            await x.call("block", user=y.user)
    for candidate in candidates:
        await candidate.call("match_join")
    await asyncio.sleep(QUIET)
    for client in choosers + candidates:
        no_match(client)  # `same` filters, blocks refuse
    for chooser, expected in zip(choosers, ["p", "t2", "t1"], strict=True):
        await chooser.call("set_profile", city="Taipei")
        await chooser.call("match_join")  # new preferences, the same place in the queue
        assert (await chooser.event("match_found"))["peer"]["user"] == expected
    assert await waiting(memory_server) == ["t3"]
    await close_all(choosers + candidates)


async def test_who_may_join_and_what_bad_input_changes(memory_server: RunningServer) -> None:
    url = memory_server.url
    plain = await person(url, "plain", city="Taipei")
    assert await plain.error("match_join") == "not_verified"
    nowhere = await verified(url, "nowhere", None)
    reply = await nowhere.request("match_join", city="same")
    assert (reply["code"], reply["field"]) == ("bad_request", "city")
    await nowhere.call("match_join")  # any city: fine without one
    await nowhere.call("match_leave")
    ann, bob = await verified(url, "ann"), await verified(url, "bob")
    await befriend(ann, bob)
    call = (await ann.call("call", user="bob"))["call"]
    assert await ann.error("match_join") == "already_in_call"  # ringing out
    assert await bob.error("match_join") == "already_in_call"  # being rung
    await ann.call("hangup", call=call["id"])
    for params, field in (({"city": "nearby"}, "city"), ({"tags": "jazz"}, "tags"),
                          ({"tags": [f"t{i}" for i in range(11)]}, "tags"),
                          ({"tags": ["x" * 25]}, "tags"), ({"tags": [3]}, "tags")):
        reply = await ann.request("match_join", **params)
        assert (reply["code"], reply.get("field")) == ("bad_request", field), params
    assert await waiting(memory_server) == []
    # Joining again while waiting: new preferences, no error.
    await ann.call("match_join", tags=["jazz"])
    await ann.call("match_join", city="same", tags=["cats"])
    assert memory_server.app.matching is not None
    entry = await memory_server.app.matching.store.entry("ann")
    assert entry is not None and (entry.same_city, entry.tags) == (True, ("cats",))
    await close_all([plain, nowhere, ann, bob])


async def test_leaving_by_asking_or_by_the_last_connection_closing(
        memory_server: RunningServer) -> None:
    url = memory_server.url
    ann = await verified(url, "ann")
    ann_too = await verified(url, "ann")
    await ann.call("match_join")
    assert await waiting(memory_server) == ["ann"]
    await ann.close()  # another connection of ann's is open: she still waits
    await asyncio.sleep(0.1)
    assert await waiting(memory_server) == ["ann"]
    await ann_too.close()
    for _ in range(100):
        if not await waiting(memory_server):
            break
        await asyncio.sleep(0.02)
    assert await waiting(memory_server) == []
    bob = await verified(url, "bob")
    await bob.call("match_join")
    await bob.call("match_leave")
    await bob.call("match_leave")  # not waiting: still fine
    cat = await verified(url, "cat")
    await cat.call("match_join")
    await asyncio.sleep(QUIET)
    no_match(bob)
    no_match(cat)
    await close_all([bob, cat])


async def test_blocked_users_are_never_paired(server: RunningServer) -> None:
    ann, bob = await verified(server.url, "ann"), await verified(server.url, "bob")
    await bob.call("block", user="ann")
    await ann.call("match_join")
    await bob.call("match_join")
    await asyncio.sleep(QUIET)
    no_match(ann)
    no_match(bob)
    cat = await verified(server.url, "cat")
    await cat.call("match_join")
    assert (await cat.event("match_found"))["peer"]["user"] == "ann"
    assert await waiting(server) == ["bob"]
    await close_all([ann, bob, cat])


async def test_reports_of_people_met_are_kept_and_counted(server: RunningServer) -> None:
    url = server.url
    ann, bob = await verified(url, "ann"), await verified(url, "bob")
    cat, dan = await verified(url, "cat"), await person(url, "dan")
    await ann.call("match_join")
    await bob.call("match_join")
    call = (await ann.event("match_found"))["call"]
    assert (await ann.call("report", user="bob", reason="rude"))["type"] == "ok"
    await bob.call("hangup", call=call["id"])
    await ann.event("call_ended")
    await bob.call("report", user="ann", reason="  spam  ")  # after the call: a match lately
    assert await ann.error("report", user="cat", reason="rude") == "forbidden"
    assert await ann.error("report", user="nobody", reason="rude") == "no_such_user"
    cases: tuple[tuple[dict[str, Any], str], ...] = (
        ({"user": "ann", "reason": "me"}, "user"),
        ({"user": "bob", "reason": ""}, "reason"),
        ({"user": "bob", "reason": "   "}, "reason"),
        ({"user": "bob", "reason": "x" * 141}, "reason"),
        ({"user": "bob"}, "reason"), ({"reason": "rude"}, "user"))
    for params, field in cases:
        reply = await ann.request("report", **params)
        assert (reply["code"], reply.get("field")) == ("bad_request", field), params
    # A room shared now: cat hosts, dan listens; each may report the other.
    room = (await cat.call("create_room", title="talk"))["room"]["id"]
    await dan.call("join_room", room=room)
    await dan.call("report", user="cat", reason="loud music")
    assert server.app.matching is not None
    kept = await server.app.matching.store.reports(10)
    assert [(r.reporter, r.user, r.reason, r.where) for r in kept] == [
        ("dan", "cat", "loud music", f"room:{room}"),
        ("bob", "ann", "spam", "match"),
        ("ann", "bob", "rude", f"call:{call['id']}"),
    ]
    families = await scrape(server)
    assert families["voiceroom_reports"][0] == "counter"
    assert value(families, "voiceroom_reports_total") == 3
    await close_all([ann, bob, cat, dan])
