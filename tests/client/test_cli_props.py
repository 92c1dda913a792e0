"""`dice`, `card`, `sound`, `effect` and `music` typed into `python -m client host` and `join`
(subprocesses talking through a real server): every terminal tells the same roll and card,
refusals in the server's words, usage for what does not parse."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.client.serverproc import Server, run_server
from tests.client.test_cli import cli, uid
from tests.media.propskit import tone_file

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    music = tmp_path_factory.mktemp("music")
    tone_file(music / "lounge.wav", 330.0, 1.0)
    with run_server("--music", str(music)) as srv:
        yield srv


async def test_props_typed_into_host_and_join(server: Server) -> None:
    host_id, guest_id = uid("host"), uid("guest")
    async with cli(server, "--user", host_id, "--name", "Hana", "host", "--title", "Props",
                   "--auto-chatroom-at", "0") as host:
        room = (await host.expect(r"^room: (\S+)$")).group(1)
        async with cli(server, "--user", guest_id, "--name", "Gil", "join", room) as guest:
            await guest.expect(rf"joined {room} as audience")

            # (The reply and the event it causes may print in either order.)
            await host.type("dice 3")
            rolled = (await host.expect(
                rf"^\[{room}\] Hana \({host_id}\) rolled (\d \+ \d \+ \d = \d+)$")).group(1)
            await guest.expect(rf"\[{room}\] Hana \({host_id}\) rolled {re.escape(rolled)}$")

            await guest.type("card dare")
            text = (await guest.expect(rf"Gil \({guest_id}\) drew a dare card: (.+)$")).group(1)
            await host.expect(rf"Gil \({guest_id}\) drew a dare card: {re.escape(text)}$")

            await guest.type("sound")
            await guest.expect(r"^6 sounds \(type `sound ID`\):")
            await guest.expect(r"^  ding: Ding, 1\.6 s")
            await guest.type("sound ding")
            await guest.expect(r"^sound: error forbidden: ")  # the audience plays no sounds
            await host.type("sound ding")
            await guest.expect(rf"\[{room}\] {host_id} played the sound ding$")
            await host.type("sound kazoo")
            await host.expect(r"^sound: error bad_request: sound: ")

            await host.type("effect robot")
            await guest.expect(rf"\[{room}\] {host_id}'s voice effect: robot$")
            await guest.type("effect echo")
            await guest.expect(r"^effect: error forbidden: ")
            await guest.type("effect chipmunk")
            await guest.expect(r"^usage: effect none\|pitch_up\|pitch_down\|robot\|echo")

            await host.type("music")
            await host.expect(r"^  lounge: Lounge, 1\.0 s")
            await host.type("music play lounge loop")
            playing = rf"\[{room}\] music: lounge playing, looping \(volume 0\.5\)$"
            await host.expect(playing)
            await guest.expect(playing)
            await host.type("music volume 0.3")
            await guest.expect(r"music: lounge playing, looping \(volume 0\.3\)$")
            await guest.type("music stop")
            await guest.expect(r"^music: error forbidden: ")
            await host.type("music stop")
            await guest.expect(rf"\[{room}\] music: stopped \(volume 0\.3\)$")
            await host.type("music shuffle")
            await host.expect(r"^usage: music \[list")
            await guest.type("dice 9")
            await guest.expect(r"^dice: error bad_request: ")

            await guest.type("/quit")
            assert await guest.finish() == 0
        host.proc.terminate()
        assert await host.finish() == 0
    # The replies said what the events told.
    values = _reply(host.lines, "dice")["values"]
    assert rolled == " + ".join(map(str, values)) + f" = {sum(values)}"
    assert _reply(guest.lines, "card")["card"] == {"deck": "dare", "text": text}


def _reply(lines: list[str], word: str) -> dict[str, Any]:
    found = [line for line in lines if line.startswith(f"{word}: ok ")]
    assert len(found) == 1, (word, lines)
    reply: dict[str, Any] = json.loads(found[0].split(" ok ", 1)[1])
    return reply
