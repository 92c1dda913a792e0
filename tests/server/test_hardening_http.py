"""Issue 12, item 9: the low ones (docs/security.md).

Raw HTTP on the websocket port (pipelined requests log no traceback; another method, or a
body, gets a clear answer), `/metrics` behind its own bearer token, a token whose `exp` is
NaN / Infinity / 1e400 refused with `not_authenticated` over the wire, and a forged
`list_rooms` cursor with a NaN score refused with `bad_request` on Redis and in memory.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging

import msgpack
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.frames import Frame, Opcode

from tests.support.redis import fresh_redis_url
from tests.support.server import http_get, running_server


async def raw(host: str, port: int, data: bytes, *, timeout: float = 5.0) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


async def test_pipelined_requests_are_answered_without_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    async with running_server() as srv:
        with caplog.at_level(logging.INFO):
            for _ in range(20):
                answer = await raw(srv.host, srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                   b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert status_of(answer) == 200 and answer.endswith(b"ok\n")
            await asyncio.sleep(0.2)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.mark.parametrize(("request_bytes", "status"), [
    (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 405),
    (b"PUT /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
    (b"DELETE /ws HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
     400),
])
async def test_methods_and_bodies_get_a_clear_answer(request_bytes: bytes, status: int) -> None:
    async with running_server() as srv:
        answer = await raw(srv.host, srv.port, request_bytes)
        assert status_of(answer) == status, answer
        if status == 405:
            assert b"\r\nAllow: GET\r\n" in answer
        # The server is no worse for it.
        assert (await http_get(srv.host, srv.port, "/healthz"))[0] == 200


async def test_a_websocket_frame_sent_with_the_upgrade_waits_for_the_handshake() -> None:
    async with running_server() as srv:
        key = base64.b64encode(b"0123456789abcdef").decode()
        upgrade = (f"GET /ws HTTP/1.1\r\nHost: {srv.host}:{srv.port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n").encode()
        hello = Frame(Opcode.TEXT, b'{"id": 1, "type": "hello", "user": "eager"}')
        reader, writer = await asyncio.open_connection(srv.host, srv.port)
        try:
            writer.write(upgrade + hello.serialize(mask=True, extensions=[]))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert status_of(head) == 101
            reply = await asyncio.wait_for(reader.read(4096), 5)
            assert b'"type":"ok"' in reply.replace(b" ", b"") and b"eager" in reply
        finally:
            writer.close()


async def test_metrics_ask_for_their_own_bearer_token() -> None:
    async with running_server(secret="s" * 32, metrics_token="m-token") as srv:
        status, headers, _ = await http_get(srv.host, srv.port, "/metrics")
        assert status == 401 and headers["www-authenticate"].startswith("Bearer")
        for wrong in ("Bearer nope", "Bearer " + "s" * 32, "m-token", "bearer m-token"):
            status, _, _ = await http_get(srv.host, srv.port, "/metrics",
                                          {"Authorization": wrong})
            assert status == 401, wrong
        status, _, body = await http_get(srv.host, srv.port, "/metrics",
                                         {"Authorization": "Bearer m-token"})
        assert status == 200
        assert any(f.name.startswith("voiceroom_")
                   for f in text_string_to_metric_families(body.decode()))
    async with running_server() as srv:  # no token set: open, as before
        assert (await http_get(srv.host, srv.port, "/metrics"))[0] == 200


def forged_token(secret: str, exp_text: str) -> str:
    """An HS256 token whose `exp` is written as given (JSON's NaN, Infinity, 1e400)."""
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = part(f'{{"sub": "mallory", "name": "M", "exp": {exp_text}}}'.encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(),
                         hashlib.sha256).digest()
    return f"{header}.{payload}.{part(signature)}"


async def test_a_token_with_a_strange_exp_is_not_authenticated() -> None:
    secret = "k" * 32
    async with running_server(secret=secret) as srv:
        c = await srv.client()
        for exp in ("NaN", "Infinity", "-Infinity", "1e400"):
            reply = await c.request("hello", token=forged_token(secret, exp))
            assert reply["code"] == "not_authenticated", (exp, reply)
        assert c.close_code is None
        await c.close()


def nan_cursor() -> str:
    packed = msgpack.packb([float("nan"), "someroom"])
    return base64.urlsafe_b64encode(packed).decode().rstrip("=")


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_a_cursor_with_a_nan_score_is_a_bad_request(store: str) -> None:
    settings = {"redis": fresh_redis_url()} if store == "redis" else {}
    async with running_server(**settings) as srv:
        c = await srv.client("alice")
        for i in range(3):
            await c.call("create_room", title=f"r{i}")
        reply = await c.request("list_rooms", cursor=nan_cursor())
        assert reply["code"] == "bad_request" and reply["field"] == "cursor", reply
        assert len((await c.call("list_rooms", limit=2))["rooms"]) == 2
        await c.close()
