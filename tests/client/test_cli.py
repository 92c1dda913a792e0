"""`python -m client`: the subcommands as subprocesses talking to each other through a server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from client import VoiceClient
from server.process import REPO_ROOT
from tests.client.serverproc import Server, run_server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server() as srv:
        yield srv


class Cli:
    """One `python -m client` process; its output is read line by line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []

    async def expect(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first line from now on matching `pattern` (earlier lines are kept in `lines`)."""
        regex = re.compile(pattern)
        assert self.proc.stdout is not None

        async def scan() -> re.Match[str]:
            assert self.proc.stdout is not None
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError(f"no line matching {pattern!r}; output:\n"
                                         + "\n".join(self.lines))
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                if match := regex.search(line):
                    return match

        try:
            return await asyncio.wait_for(scan(), timeout)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {pattern!r}; output:\n"
                                 + "\n".join(self.lines)) from None

    async def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()

    async def finish(self, timeout: float = 30.0) -> int:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        assert self.proc.stdout is not None
        rest = await asyncio.wait_for(self.proc.stdout.read(), timeout)
        self.lines += rest.decode().splitlines()
        return await asyncio.wait_for(self.proc.wait(), timeout)


@contextlib.asynccontextmanager
async def cli(server: Server, *args: str) -> AsyncIterator[Cli]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "client", "--url", server.url, *args,
        cwd=REPO_ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    handle = Cli(proc)
    try:
        yield handle
    finally:
        if proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


async def test_host_auto_accepts_a_joiner_who_requests_the_mic(server: Server) -> None:
    host_name, guest = uid("Host "), uid("guest")
    title = uid("CLI room ")
    async with cli(server, "--name", host_name, "host", "--title", title, "--seats", "4",
                   "--auto-accept", "--auto-chatroom-at", "0") as host:
        room = (await host.expect(r"^room: (\S+)$")).group(1)

        async with cli(server, "rooms") as rooms:
            listed = await rooms.expect(re.escape(room))
            assert title in listed.string and "live" in listed.string
            assert await rooms.finish() == 0

        async with cli(server, "--user", guest, "--name", "Guest G", "join", room,
                       "--request-mic", "--note", "sing") as joiner:
            await joiner.expect(rf"joined {room} as audience")
            await joiner.expect(r"request_mic: ok .*\"position\": 1")
            await host.expect(rf"mic request from Guest G \({guest}\) \(position 1\): sing")
            await host.expect(rf"accept {guest}: ok .*\"seat\": 0")
            await joiner.expect(r"your mic request was accepted: seat 0")
            await joiner.expect(rf"seat 0: Guest G \({guest}\)")

            # A line typed into `join` is chat; the host prints it.
            await joiner.type("hello from the audience")
            await host.expect(rf"<Guest G \({guest}\)> hello from the audience")
            await joiner.type("/leave-seat")
            await joiner.expect(r"leave_seat: ok|leave-seat: ok")
            await joiner.type("/quit")
            assert await joiner.finish() == 0
        await host.expect(rf"{guest} left|audience: 0")

        # The host stops on end of input plus SIGTERM, closing the room.
        host.proc.terminate()
        assert await host.finish() == 0
        assert any("close_room: ok" in line for line in host.lines)
    async with VoiceClient.connect(server.url, name="Checker") as checker:
        listing = await checker.list_rooms(limit=100)
        assert room not in {r["id"] for r in listing["rooms"]}


async def test_host_accepts_and_rejects_typed_commands(server: Server) -> None:
    a, b = uid("alice"), uid("bob")
    async with cli(server, "--name", uid("Host "), "--json", "host", "--title", "Typed",
                   "--chatroom") as host:
        room = (await host.expect(r"^room: (\S+)$")).group(1)
        await host.expect(r"open_chatroom: ok")
        async with (
            cli(server, "--user", a, "--name", "Alice", "join", room, "--request-mic") as alice,
            cli(server, "--user", b, "--name", "Bob", "join", room) as bob,
        ):
            await bob.expect(rf"joined {room} as audience")
            await host.expect(rf"mic request from Alice \({a}\)")
            await host.type(f"accept {a} 5")
            await host.expect(r"accept: ok .*\"seat\": 5")
            await alice.expect(r"accepted: seat 5")
            await bob.expect(rf"seat 5: Alice \({a}\)")
            await bob.type("/request please")
            await host.expect(rf"mic request from Bob \({b}\) \(position 1\): please")
            await host.type(f"reject {b}")
            await host.expect(r"reject: ok")
            await bob.expect(r"your mic request was rejected")

            await host.type("accept")  # missing user
            await host.expect(r"usage: accept USER \[SEAT\]")
            await host.type("kick-seat 5")
            await alice.expect(r"seat 5: \(empty\)")
            await host.type("a plain line is chat")
            await bob.expect(r"> a plain line is chat")

            await host.type("/quit")
            assert await host.finish() == 0
            await alice.expect(r"room closed \(")
            await bob.expect(r"room closed \(")
            assert await alice.finish() == 0
            assert await bob.finish() == 0


async def test_join_refused_for_unknown_room(server: Server) -> None:
    async with cli(server, "--name", "Nobody", "join", "no-such-room", "--no-input") as j:
        await j.expect(r"join_room: error no_such_room")
        assert await j.finish() == 1


async def test_load_reports_no_unexpected_errors(server: Server, tmp_path: Path) -> None:
    report_file = tmp_path / "load.json"
    async with cli(server, "load", "--clients", "16", "--rooms", "2", "--duration", "3",
                   "--think", "0.2", "--seed", "7", "--report", str(report_file)) as load:
        await load.expect(r"^load: 16 clients, 2 rooms", timeout=60)
        code = await load.finish(timeout=60)
    output = "\n".join(load.lines)
    assert code == 0, output
    assert "unexpected errors: 0" in output
    report = json.loads(report_file.read_text())
    assert report["unexpected_errors"] == {}
    # The churn really happened: every kind of request ran and events flowed.
    for kind in ("create_room", "join_room", "request_mic", "accept_mic", "chat", "leave_room"):
        assert report["latency"][kind]["count"] > 0, kind
        assert report["latency"][kind]["p99_ms"] >= report["latency"][kind]["p50_ms"] > 0
    assert report["events"].get("chat_message", 0) > 0
    assert report["events"].get("seat_changed", 0) > 0
    assert set(report["errors"]) <= {"seats_full", "seat_taken", "no_such_request",
                                     "already_requested", "already_seated", "not_seated",
                                     "seat_locked", "wrong_mode"}


async def test_load_refuses_non_loopback_and_unbounded_runs(server: Server) -> None:
    for args in (["--url", "ws://192.0.2.1:8765/ws", "load", "--duration", "1"],
                 ["load", "--clients", "100000"],
                 ["load", "--duration", "100000"]):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "client", *(["--url", server.url] if args[0] != "--url" else []),
            *args, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode != 0
        assert b"error" in out
