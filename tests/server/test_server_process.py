"""`run_server.py` as a user runs it: a subprocess, its banner, tokens, and SIGTERM."""

from __future__ import annotations

import asyncio
import time

from protocol.tokens import issue_token
from tests.support.server import http_get, server_process


async def test_sigterm_closes_clients_with_1001_and_exits_0() -> None:
    async with server_process("--no-media") as proc:
        host = await proc.client("host")
        room = (await host.call("create_room", title="bye"))["room"]["id"]
        guest = await proc.client("guest", binary=False)
        await guest.call("join_room", room=room)
        idle = await proc.client()
        proc.terminate()
        codes = await asyncio.gather(host.closed(), guest.closed(), idle.closed())
        assert codes == [1001, 1001, 1001]
        assert await proc.wait() == 0
        assert "stopped" in proc.text and "Traceback" not in proc.text


async def test_development_mode_is_announced_loudly() -> None:
    async with server_process("--no-media") as proc:
        status, _, body = await http_get(proc.host, proc.port, "/healthz")
        assert (status, body) == (200, b"ok\n")
        assert "WARNING" in proc.text and "DEVELOPMENT MODE" in proc.text


async def test_token_mode_from_the_environment() -> None:
    secret = "env-secret"
    async with server_process("--no-media", env={"VOICEROOM_SECRET": secret}) as proc:
        assert "DEVELOPMENT MODE" not in proc.text
        assert secret not in proc.text  # the secret is never logged
        c = await proc.client()
        assert await c.error("hello", user="alice") == "not_authenticated"
        token = issue_token(secret, "alice", "Alice", 60, time.time())
        reply = await c.call("hello", token=token)
        assert (reply["user"], reply["name"]) == ("alice", "Alice")
        await c.close()
