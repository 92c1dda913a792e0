"""`VoiceClient`'s matching verbs against a real server (run_server.py): match_join and
match_found (the peer's card kept by call id, the call among the client's calls), report,
match_leave, and a dropped connection while waiting (the server takes the user out of the
queue; the client asks again once reconnected, and is matched)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest

from client import VoiceClient
from client.connection import ClientError
from tests.client.serverproc import Proxy, Server, run_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server() as srv:
        yield srv


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def test_join_match_report_and_hang_up(server: Server) -> None:
    async with AsyncExitStack() as stack:
        ada = await stack.enter_async_context(VoiceClient.connect(
            server.url, user=uid("ada"), name="Ada", verified=True, city="Taipei"))
        bob = await stack.enter_async_context(VoiceClient.connect(
            server.url, user=uid("bob"), name="Bob", verified=True))
        await ada.match_join(tags=["jazz"])
        assert ada.waiting == {"tags": ["jazz"]}
        await bob.match_join(city="any")
        found = await ada.next_match(timeout=10)
        call = found["call"]
        assert ada.waiting is None and ada.peers[call["id"]] == {
            "user": bob.user, "name": "Bob", "city": None, "tags": []}
        assert (await bob.next_match(timeout=10))["peer"]["city"] == "Taipei"
        assert bob.peers[call["id"]]["tags"] == ["jazz"]
        assert [c["id"] for c in ada.live_calls()] == [call["id"]]
        assert bob.user is not None
        await ada.report(bob.user, "rude")
        with pytest.raises(ClientError) as refused:
            await ada.match_join()
        assert refused.value.code == "already_in_call"
        await bob.hangup(call["id"])
        assert (await ada.wait_call(call["id"]))["reason"] == "hangup"
        await ada.match_join()
        await ada.match_leave()
        assert ada.waiting is None


async def test_waiting_survives_a_dropped_connection(server: Server) -> None:
    proxy = Proxy(server.port)
    await proxy.start()
    try:
        async with AsyncExitStack() as stack:
            cy = await stack.enter_async_context(VoiceClient.connect(
                proxy.url, user=uid("cy"), name="Cy", verified=True))
            await cy.match_join(tags=["cats"])
            proxy.cut()  # the server takes cy out of the queue with the connection
            await cy.wait_for("_reconnected", timeout=10)
            dee = await stack.enter_async_context(VoiceClient.connect(
                server.url, user=uid("dee"), name="Dee", verified=True))
            await dee.match_join()  # cy asked again before `_reconnected`
            found = await dee.next_match(timeout=10)
            assert found["peer"] == {"user": cy.user, "name": "Cy", "city": None,
                                     "tags": ["cats"]}
            assert (await cy.next_match(timeout=10))["peer"]["user"] == dee.user
    finally:
        await proxy.stop()
