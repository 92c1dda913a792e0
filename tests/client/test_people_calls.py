"""VoiceClient's people and call verbs against a real `run_server.py` (docs/protocol.md
"Identity, apps and profiles", "Follows, friends and blocks", "Calls (one to one)").

Signaling only (the server runs without media); tests/client/test_call_media.py carries
the calls' sound and pictures.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from client import ClientError, VoiceClient
from protocol.tokens import issue_token
from tests.client.serverproc import Proxy, Server, run_server

pytestmark = pytest.mark.timeout(90)

# The seed's two apps: Duoshan's calls ring in Duoshan and Douyin, Douyin's only in Douyin.
TWO_APPS = {"apps": {"douyin": {"calls_need": "friends", "rings_in": ["douyin"]},
                     "duoshan": {"calls_need": "friends", "rings_in": ["duoshan", "douyin"]}}}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server("--grace", "2") as srv:
        yield srv


SECRET = "people-calls-secret"


@pytest.fixture(scope="module")
def token_server() -> Iterator[Server]:
    with run_server("--secret", SECRET) as srv:
        yield srv


@pytest.fixture(scope="module")
def two_app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    policy = tmp_path_factory.mktemp("apps") / "apps.json"
    policy.write_text(json.dumps(TWO_APPS), encoding="utf-8")
    with run_server("--apps", str(policy)) as srv:
        yield srv


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


class People:
    """Clients opened in a test, closed at its end."""

    def __init__(self, stack: AsyncExitStack, url: str) -> None:
        self.stack = stack
        self.url = url

    async def open(self, user: str, name: str | None = None, **options: Any) -> VoiceClient:
        return await self.stack.enter_async_context(
            VoiceClient.connect(self.url, user=user, name=name or user.title(), **options))

    async def friends(self, prefix_a: str = "ada", prefix_b: str = "bob",
                      **options: Any) -> tuple[VoiceClient, VoiceClient]:
        a, b = await self.open(uid(prefix_a), **options), await self.open(uid(prefix_b), **options)
        assert b.user is not None and a.user is not None
        await a.follow(b.user)
        assert (await b.follow(a.user))["mutual"] is True
        return a, b


@pytest.fixture
async def people(server: Server) -> AsyncIterator[People]:
    async with AsyncExitStack() as stack:
        yield People(stack, server.url)


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Until `check()` holds (the server handles a closed socket in its own time)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def online(viewer: VoiceClient, friend: str) -> bool:
    return bool((await viewer.get_profile(friend))["profile"].get("online"))


async def _not(value: Awaitable[bool]) -> bool:
    return not await value


async def refused(code: str, request: Any) -> ClientError:
    with pytest.raises(ClientError) as info:
        await request
    assert info.value.code == code, info.value
    return info.value


# ---- identity and profiles ----------------------------------------------------------------


async def test_hello_claims_app_and_verified_in_development_mode(people: People) -> None:
    plain = await people.open(uid("plain"))
    assert plain.app == "main" and plain.verified is False
    claimed = await people.open(uid("claim"), app="douyin", verified=True, city="Chengdu")
    assert claimed.app == "douyin" and claimed.verified is True
    assert claimed.user is not None
    profile = (await plain.get_profile(claimed.user))["profile"]
    assert profile["city"] == "Chengdu" and profile["verified"] is True
    assert "online" not in profile  # strangers are not told who is online


async def test_a_token_carries_app_verified_and_city(token_server: Server) -> None:
    user = uid("tok")
    token = issue_token(SECRET, user, "Tok", 600, time.time(), app="duoshan", verified=True,
                        city="Hangzhou")
    # hello's own claims do not count beside a token.
    async with VoiceClient.connect(token_server.url, token=token, app="main",
                                   verified=False) as client:
        assert (client.user, client.name, client.app, client.verified) == (
            user, "Tok", "duoshan", True)
        profile = (await client.get_profile(user))["profile"]
        assert profile["city"] == "Hangzhou" and profile["verified"] is True
        # The token's city wins over set_profile's.
        await client.set_profile(city="Elsewhere", tags=["tea"])
        assert (await client.get_profile(user))["profile"]["city"] == "Hangzhou"


async def test_profiles_set_and_read(people: People) -> None:
    ada = await people.open(uid("ada"), "Ada L.")
    assert ada.user is not None
    mine = (await ada.set_profile(city="Lyon", tags=["jazz", "chess"], bio="hi"))["profile"]
    assert mine["user"] == ada.user and mine["name"] == "Ada L."
    assert mine["city"] == "Lyon" and mine["tags"] == ["jazz", "chess"]
    assert (await ada.get_profile(ada.user))["profile"]["tags"] == ["jazz", "chess"]
    await refused("no_such_user", ada.get_profile(uid("nobody")))
    await refused("bad_request", ada.set_profile(tags=["x" * 25]))


# ---- follows, friends, blocks -------------------------------------------------------------


async def test_follow_back_makes_friends_with_online_dots(people: People) -> None:
    ada, bob = await people.open(uid("ada")), await people.open(uid("bob"))
    assert ada.user and bob.user
    assert (await ada.follow(bob.user))["mutual"] is False
    followed = await bob.wait_for("followed", lambda e: e["user"] == ada.user)
    assert followed["mutual"] is False and followed["name"] == ada.name
    assert [u["user"] for u in await bob.followers()] == [ada.user]
    assert await bob.friends() == []

    assert (await bob.follow(ada.user))["mutual"] is True
    assert (await ada.wait_for("followed", lambda e: e["user"] == bob.user))["mutual"] is True
    assert [(u["user"], u["online"]) for u in await ada.friends()] == [(bob.user, True)]
    assert (await ada.get_profile(bob.user))["profile"]["online"] is True
    assert (await ada.follow(bob.user))["mutual"] is True  # again: nothing changes

    await bob.close()
    await until(lambda: _not(online(ada, bob.user or "")))
    friends = await ada.friends()
    assert [(u["user"], u["online"]) for u in friends] == [(bob.user, False)]

    await ada.unfollow(bob.user)
    assert await ada.friends() == []
    await refused("bad_request", ada.follow(ada.user))
    await refused("no_such_user", ada.follow(uid("nobody")))


async def test_friends_walks_every_page(people: People) -> None:
    me = await people.open(uid("popular"))
    assert me.user
    others = [await people.open(uid("fan")) for _ in range(5)]
    for other in others:
        assert other.user
        await other.follow(me.user)
        await me.follow(other.user)
    first = await me.list_follows("friends", limit=2)
    assert len(first["users"]) == 2 and first.get("cursor")
    assert sorted(u["user"] for u in await me.friends()) == sorted(str(o.user) for o in others)


async def test_a_block_is_silent_and_refuses_calls(people: People) -> None:
    ada, bob = await people.friends()
    assert ada.user and bob.user
    await bob.block(ada.user)
    assert await ada.friends() == [] and await bob.friends() == []
    # Ada is not told: her follow looks like any other, her call like a stranger's.
    assert (await ada.follow(bob.user))["mutual"] is False
    await refused("not_friends", ada.call(bob.user))
    assert ada.user not in [u["user"] for u in await bob.followers()]
    await refused("forbidden", bob.follow(ada.user))  # the blocker knows they block
    await bob.unblock(ada.user)
    assert (await bob.follow(ada.user))["mutual"] is True


# ---- calls --------------------------------------------------------------------------------


async def test_call_rings_every_connection_answered_elsewhere_then_hangup(people: People) -> None:
    ada, bob = await people.friends()
    assert ada.user and bob.user
    bob_phone = await people.open(bob.user, bob.name)  # a second connection of Bob's
    call = (await ada.call(bob.user))["call"]
    assert call["state"] == "ringing" and call["video"] is False and call["kind"] == "friend"
    assert call["caller"]["user"] == ada.user and call["callee"]["user"] == bob.user
    assert ada.live_calls()[0]["id"] == call["id"]

    rung = [await bob.incoming(), await bob_phone.incoming()]
    assert [c["id"] for c in rung] == [call["id"]] * 2
    assert bob.peer_of(rung[0])["user"] == ada.user and bob.role_in(rung[0]) == "callee"

    answered = (await bob.answer_call(call["id"]))["call"]
    assert answered["state"] == "active" and answered["started_at"] is not None
    assert (await ada.wait_call(call["id"], "active"))["state"] == "active"
    await bob_phone.wait_call(call["id"])  # answered elsewhere: over on this connection
    assert bob_phone.ended_here(call["id"]) and not bob.ended_here(call["id"])
    assert [c["id"] for c in (await bob.list_calls())["calls"]] == [call["id"]]

    await ada.hangup(call["id"])
    assert ada.calls[call["id"]]["state"] == "ended"
    ended = await bob.wait_call(call["id"])
    assert ended["reason"] == "hangup"
    assert (await bob.wait_for("call_ended"))["reason"] == "hangup"
    assert (await ada.list_calls())["calls"] == [] and ada.live_calls() == []


async def test_decline_cancel_and_call_back(people: People) -> None:
    ada, bob = await people.friends()
    assert ada.user and bob.user

    call = (await ada.call(bob.user, video=True))["call"]
    assert call["video"] is True
    await bob.incoming()
    await bob.decline_call(call["id"])
    assert (await ada.wait_call(call["id"]))["reason"] == "declined"

    call = (await ada.call(bob.user))["call"]
    await bob.incoming()
    await ada.hangup(call["id"])  # the caller gives up while it rings
    assert (await bob.wait_call(call["id"]))["reason"] == "cancelled"

    # Both want to talk: Bob calling Ada back while her call rings answers it.
    call = (await ada.call(bob.user))["call"]
    back = (await bob.call(ada.user))["call"]
    assert back["id"] == call["id"] and back["state"] == "active"
    assert (await ada.wait_call(call["id"], "active"))["state"] == "active"
    await bob.hangup(call["id"])
    assert (await ada.wait_call(call["id"]))["reason"] == "hangup"


async def test_call_errors_in_plain_codes(people: People) -> None:
    ada, bob = await people.friends()
    carl = await people.open(uid("carl"))
    assert ada.user and bob.user and carl.user
    await refused("not_friends", ada.call(carl.user))  # a stranger
    await refused("not_friends", ada.call(uid("nobody")))  # unknown: the same answer
    await refused("bad_request", ada.call(ada.user))
    await refused("no_such_call", ada.hangup("no-such-call"))

    await carl.follow(bob.user)
    await bob.follow(carl.user)
    call = (await ada.call(bob.user))["call"]
    await refused("already_in_call", ada.call(bob.user))
    await bob.answer_call(call["id"])
    await refused("busy", carl.call(bob.user))  # Bob is in a call with Ada
    await refused("no_such_call", carl.hangup(call["id"]))  # not Carl's call

    await ada.hangup(call["id"])
    await bob.wait_call(call["id"])
    await bob.close()
    await until(lambda: _not(online(carl, bob.user or "")))
    await refused("user_offline", carl.call(bob.user))


async def test_a_call_survives_a_dropped_connection_within_grace(server: Server) -> None:
    proxy = Proxy(server.port)
    await proxy.start()
    try:
        async with AsyncExitStack() as stack:
            bob = await stack.enter_async_context(
                VoiceClient.connect(proxy.url, user=uid("bob"), name="Bob"))
            ada = await stack.enter_async_context(
                VoiceClient.connect(server.url, user=uid("ada"), name="Ada"))
            assert ada.user and bob.user
            await ada.follow(bob.user)
            await bob.follow(ada.user)
            call = (await ada.call(bob.user))["call"]
            await bob.incoming()
            await bob.answer_call(call["id"])
            await ada.wait_call(call["id"], "active")

            proxy.cut()  # Bob's network drops; his client reconnects through the proxy
            away = await ada.wait_for(
                "call_state", lambda e: e["call"]["callee"].get("away") is True, timeout=10)
            assert away["call"]["state"] == "active"
            await bob.wait_for("_reconnected", timeout=10)
            assert [c["id"] for c in bob.live_calls()] == [call["id"]]  # list_calls agrees
            await bob.hangup(call["id"])
            assert (await ada.wait_call(call["id"]))["reason"] == "hangup"
    finally:
        await proxy.stop()


async def test_the_seed_two_app_rule(two_app_server: Server) -> None:
    async with AsyncExitStack() as stack:
        people = People(stack, two_app_server.url)
        xiao = await people.open(uid("xiao"), app="duoshan")
        li_duoshan = await people.open(uid("li"), app="duoshan")
        assert xiao.user and li_duoshan.user
        await xiao.follow(li_duoshan.user)
        await li_duoshan.follow(xiao.user)
        await li_duoshan.close()
        # Li is online in Douyin only: the Duoshan friend's call rings there.
        li = await people.open(li_duoshan.user, app="douyin")
        call = (await xiao.call(li_duoshan.user))["call"]
        assert call["caller"]["app"] == "duoshan"
        assert (await li.incoming())["id"] == call["id"]
        await li.decline_call(call["id"])
        await xiao.wait_call(call["id"])
        # Li cannot call back from Douyin: they are not friends there ...
        xiao_douyin = await people.open(xiao.user, app="douyin")
        await refused("not_friends", li.call(xiao.user))
        # ... until they follow each other in Douyin too.
        await li.follow(xiao.user)
        assert (await xiao_douyin.follow(li.user or ""))["mutual"] is True
        back = (await li.call(xiao.user))["call"]
        assert (await xiao_douyin.incoming())["id"] == back["id"]
        # An app the policy does not name may not place calls.
        stray = await people.open(uid("stray"), app="kuaishou")
        await refused("forbidden", stray.call(xiao.user))

