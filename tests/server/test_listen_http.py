"""GET /rooms/ID/listen.ogg (docs/protocol.md, "Listening without WebRTC"): the whole server,
a speaker on real WebRTC playing a tone, HTTP listeners on raw sockets; what they get is
checked page by page and decoded by PyAV, the tone found by FFT."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from audio.sources import tone_levels
from protocol.tokens import issue_token
from tests.support.http_stream import check_stream, decode_ogg, get, open_stream, parse_pages
from tests.support.rtc import ClientMedia, close_all, connect, tone_peer, wait_for
from tests.support.server import RunningServer, WireClient, running_server

HEARD_DB = -30.0
SECRET = "listen-test-secret-0123456789abcdef"


class Packets:
    """A tap of the test's own on the session: the packets the WebRTC listeners get."""

    def __init__(self) -> None:
        self.packets: list[bytes] = []

    def mixed(self, tick: int, payload: bytes) -> None:
        self.packets.append(payload)

    def received(self, user: str, tick: int, seq: int, payload: bytes) -> None:
        return None

    def ended(self) -> None:
        return None


async def speaking_room(server: RunningServer, freq: float = 440.0,
                        ) -> tuple[str, WireClient, ClientMedia]:
    host = await server.client("host")
    rid = (await host.call("create_room", title="radio"))["room"]["id"]

    async def send(sdp: str) -> str:
        return str((await host.call("webrtc_offer", room=rid, sdp=sdp))["sdp"])

    peer = await connect(tone_peer(freq, receive=False), send)
    return rid, host, peer


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with running_server(media=True) as srv:
        yield srv


def path(rid: str, **query: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/rooms/{rid}/listen.ogg" + (f"?{q}" if q else "")


async def test_a_listener_hears_the_room_over_http(server: RunningServer) -> None:
    rid, host, peer = await speaking_room(server)
    taps = Packets()
    try:
        stream = await open_stream(server.host, server.port, path(rid))
        assert stream.status == 200 and stream.chunked
        assert stream.headers["content-type"] == "audio/ogg"
        session = server.media.session(rid)
        session.add_tap(taps)
        data = await stream.read_seconds(3.0)
        pages = check_stream(data)
        heard = tone_levels(decode_ogg(data)[-48000:], [440.0, 1000.0])
        assert heard[440.0] > HEARD_DB and heard[1000.0] < heard[440.0] - 30, heard
        # The very packets the WebRTC listeners get: a run of the session's own packets.
        got = [p.packets[0] for p in pages[-60:]]
        joined = b"\0".join(taps.packets)
        assert b"\0".join(got) in joined
        # The connection never became a websocket.
        assert len(server.gateway.connections) == 1  # the host's
        assert server.app.listening.listeners(rid) == 1
        await stream.close()
        await wait_for(lambda: server.app.listening.listeners(rid) == 0)
    finally:
        await close_all([peer])
        await host.close()


async def test_a_late_joiner_starts_on_a_page_boundary_and_decodes(
        server: RunningServer) -> None:
    rid, host, peer = await speaking_room(server, 660.0)
    try:
        first = await open_stream(server.host, server.port, path(rid))
        await first.read_seconds(1.0)
        late = await open_stream(server.host, server.port, path(rid))
        data = await late.read_seconds(2.0)
        pages = check_stream(data)
        assert pages[0].serial != parse_pages(bytes(first.body), partial=True)[0].serial
        heard = tone_levels(decode_ogg(data)[-48000:], [660.0])
        assert heard[660.0] > HEARD_DB, heard
        # Two listeners, one feed: the session still encodes the full mix once.
        assert server.app.listening.listeners(rid) == 2
        await first.close()
        await late.close()
    finally:
        await close_all([peer])
        await host.close()


async def test_a_silent_room_streams_silence_and_the_stream_ends_with_the_room(
        server: RunningServer) -> None:
    host = await server.client("host")
    rid = (await host.call("create_room", title="quiet"))["room"]["id"]
    stream = await open_stream(server.host, server.port, path(rid))
    data = await stream.read_seconds(1.0)
    check_stream(data)
    assert int(abs(decode_ogg(data).astype(int)).max()) < 50
    await host.call("close_room", room=rid)
    data = await stream.read_to_end()  # the chunked terminator came
    pages = check_stream(data, ended=True)
    assert len(pages) > 50
    assert server.media.session(rid) is None  # the room's media went with it
    await stream.close()
    await host.close()


async def test_http10_gets_a_close_delimited_body(server: RunningServer) -> None:
    host = await server.client("host")
    rid = (await host.call("create_room", title="old"))["room"]["id"]
    stream = await open_stream(server.host, server.port, path(rid), http10=True)
    assert stream.status == 200 and not stream.chunked
    assert "content-length" not in stream.headers
    check_stream(await stream.read_seconds(0.5))
    await stream.close()
    await host.close()


async def test_unknown_room_is_404_and_nothing_changes(server: RunningServer) -> None:
    status, _, body = await get(server.host, server.port, path("nope"))
    assert status == 404 and b"no room" in body
    assert server.media.rooms == {} and server.app.listening.feeds == {}


async def test_tokens_and_bans() -> None:
    async with running_server(media=True, secret=SECRET) as server:
        now = time.time()
        host_token = issue_token(SECRET, "host", "Host", 600, now)
        host = await server.client(token=host_token)
        rid = (await host.call("create_room", title="private"))["room"]["id"]
        bad = await server.client(token=issue_token(SECRET, "bad", "Bad", 600, now))
        await bad.call("join_room", room=rid)
        await host.call("kick_member", room=rid, user="bad", ban=True)
        cases = {
            "no token": (path(rid), 401),
            "garbage": (path(rid, token="abc"), 401),
            "wrong secret": (path(rid, token=issue_token("x" * 40, "u", "U", 600, now)), 401),
            "expired": (path(rid, token=issue_token(SECRET, "u", "U", 1, now - 100)), 401),
            "banned": (path(rid, token=issue_token(SECRET, "bad", "Bad", 600, now)), 403),
            "unknown room": (path("zzz", token=host_token), 404),
        }
        for name, (target, expected) in cases.items():
            status, headers, _ = await get(server.host, server.port, target)
            assert status == expected, name
            if expected == 401:
                assert headers["www-authenticate"].startswith("Bearer")
        assert server.app.listening.feeds == {}
        fine = await open_stream(server.host, server.port,
                                 path(rid, token=issue_token(SECRET, "fan", "Fan", 600, now)))
        assert fine.status == 200
        check_stream(await fine.read_seconds(0.3))
        await fine.close()
        await host.close()
        await bad.close()


async def test_a_listener_that_never_reads_is_dropped_without_holding_anyone_up(
        server: RunningServer) -> None:
    rid, host, peer = await speaking_room(server, 500.0)
    try:
        stuck = await open_stream(server.host, server.port, path(rid), rcvbuf=2048)
        good = await open_stream(server.host, server.port, path(rid))
        feed = server.app.listening.feeds[rid]
        # The good listener keeps reading while the stuck one falls 5 s behind (plus what
        # the sockets' buffers hold) and is dropped.
        while feed.dropped == 0:
            await good.read_seconds(len(parse_pages(bytes(good.body), partial=True)) / 50)
        check_stream(bytes(good.body))  # not a page missing, none late
        assert server.app.listening.listeners(rid) == 1
        session = server.media.session(rid)
        assert session.stats.tick_errors == 0
        # The stuck one's connection was cut: reading it ends without the chunked terminator.
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
            await stuck.read_to_end()
        await good.close()
        await stuck.close()
    finally:
        await close_all([peer])
        await host.close()
