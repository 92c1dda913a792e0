"""`python -m client host / join` as a newcomer uses them (issue 13, item 9), as subprocesses
through a real server with media: the same bare commands in both terminals, `accept Bob` for
the user `bob`, the host told that an accepted request went to a seat, `state` showing the
room, an invitation that says how to answer, `speaking` told once per change; and `--url`
without `/ws`."""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from collections.abc import Iterator

import pytest

from client import VoiceClient
from server.process import REPO_ROOT, ServerChild, server_child
from tests.client.test_cli import cli

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerChild]:
    with server_child() as srv:
        yield srv


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


async def test_host_and_join_speak_the_same_commands(server: ServerChild) -> None:
    bob, cat = uid("bob"), uid("cat")
    title = uid("Polish ")
    async with cli(server, "--name", "Hostess", "host", "--title", title) as host:
        room = (await host.expect(r"^room: (\S+)$")).group(1)
        await host.expect(r"type `help` for the commands")
        async with (
            cli(server, "--user", bob, "--name", "Bob", "join", room, "--request-mic") as b,
            cli(server, "--user", cat, "--name", "Cat", "join", room) as c,
        ):
            await b.expect(r"request_mic: ok")
            await c.expect(rf"joined {room} as audience")
            await host.expect(rf"mic request from Bob \({bob}\)")

            # `help` in the join terminal is help (bare, as in the host's), not chat.
            await b.type("help")
            await b.expect(r"^commands: .*request \[NOTE\].*yes .*help; quit")
            await c.type("/help")
            await c.expect(r"^commands: ")

            # A name in another case finds the user; a name nobody has says who is close.
            await host.type("accept bobb")
            await host.expect(rf"accept: nobody called 'bobb' in this room; close: Bob \({bob}\)")
            await host.type("accept BOB")
            # The reply and the event it caused are printed by two tasks: either may come first.
            either = rf"accept: ok .*\"seat\": 0|mic queue: Bob \({bob}\)"
            printed = [(await host.expect(either)).string for _ in range(2)]
            assert any(re.search(r"accept: ok .*\"seat\": 0", line) for line in printed), printed
            # ... and the request that left the queue is told as what it was.
            told = next(line for line in printed if "mic queue:" in line)
            assert "is on seat 0 now" in told
            await b.expect(r"your mic request was accepted: seat 0")

            # `state` shows the room, not just a role.
            await c.type("state")
            await c.expect(rf'^room {room} "{title}" host Hostess')
            await c.expect(rf"^  seat 0: Bob \({bob}\)")
            await c.expect(r"^you are audience")

            # An invitation says how to answer it; `yes` takes the seat.
            await host.type("chatroom")
            await host.expect(r"chatroom: ok")
            await host.type("invite Cat")
            await host.expect(r"invite: ok")
            await c.expect(r"Hostess \(.*\) invites you to a free seat: type `yes` to take it")
            await c.type("yes")
            await c.expect(r"yes: ok .*\"seat\": 1")
            await host.expect(rf"seat 1: Cat \({cat}\)")

            # A line that is no command is chat; `say` sends one that starts like a command.
            await b.type("help me with the song")
            await b.expect(r"^commands: ")  # `help` begins a command line
            await b.type("say help me with the song")
            await host.expect(rf"<Bob \({bob}\)> help me with the song")
            await host.type("members")
            await host.expect(r"^3 in the room:")
            await host.type("quit")
            assert await host.finish() == 0
        assert not any("cancelled their mic request" in line for line in host.lines)
        assert not any("> help" in line and "song" not in line for line in host.lines)


async def test_speaking_is_told_when_it_changes_not_every_level(server: ServerChild) -> None:
    async with cli(server, "--name", "Singer", "host", "--title", uid("Tone "),
                   "--tone", "440", "--no-input") as host:
        room = (await host.expect(r"^room: (\S+)$")).group(1)
        await host.expect(r"media: connected")
        # The server hears the tone (a probe sees the host speaking): from now on it is steady.
        async with VoiceClient.connect(server.url, name=uid("Probe")) as probe:
            await probe.join_room(room)
            await probe.wait_for("speaking", lambda e: bool((e.get("levels") or {}).get("singer")),
                                 timeout=30, room=room)
        async with cli(server, "--name", uid("Ear"), "join", room, "--no-input",
                       "--duration", "4") as ear:
            await ear.expect(r"speaking: Singer")
            assert await ear.finish() == 0
        speaking = [line for line in ear.lines if "speaking" in line]
        # A steady tone: one line saying who speaks, no stream of levels.
        assert len(speaking) == 1, speaking
        async with cli(server, "--name", uid("Meter"), "join", room, "--no-input",
                       "--duration", "5", "--levels") as meter:
            await meter.expect(r"speaking: \S+ [01]\.\d\d")
            assert await meter.finish() == 0


async def test_url_without_ws_path_works_and_a_wrong_path_says_what_to_add(
        server: ServerChild) -> None:
    for url in (f"127.0.0.1:{server.port}", f"http://127.0.0.1:{server.port}/"):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "client", "--url", url, "rooms", cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, out.decode()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "client", "--url", f"ws://127.0.0.1:{server.port}/index.html",
        "rooms", cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    text = out.decode()
    assert proc.returncode == 1
    assert re.search(r"answers HTTP .*200.*websocket is at /ws, e\.g\. --url ws://HOST:PORT/ws",
                     text), text
