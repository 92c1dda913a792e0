"""`python -m client match` as subprocesses through a real server with media: two verified CLI
users are matched, see each other's card, hear each other's tone (checked by FFT); one moves
on with `--next` and is matched with a third, who reports them and types `next`; an
unverified user is refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from audio.sources import decode_file, tone_levels
from server.process import ServerChild, server_child
from tests.client.test_cli import cli

pytestmark = pytest.mark.timeout(120)

ADA_HZ, BOB_HZ, CY_HZ = 440.0, 660.0, 550.0


@pytest.fixture(scope="module")
def server() -> Iterator[ServerChild]:
    with server_child() as srv:
        yield srv


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def heard(path: Path) -> dict[float, float]:
    pcm = decode_file(path)
    assert len(pcm) > 48_000, f"{path}: only {len(pcm)} samples recorded"
    return tone_levels(pcm[len(pcm) // 4 : -len(pcm) // 4], [ADA_HZ, BOB_HZ, CY_HZ])


async def test_matched_talk_move_on_report_and_next(server: ServerChild, tmp_path: Path) -> None:
    ada, bob, cy = uid("ada"), uid("bob"), uid("cy")
    ada_wav, bob_wav = tmp_path / "ada.wav", tmp_path / "bob.wav"
    async with cli(server, "--user", bob, "--name", "Bob", "--verified", "match", "--home",
                   "Taipei", "--tags", "jazz,cats", "--tone", str(BOB_HZ), "--record",
                   str(bob_wav), "--next", "--count", "2", "--no-input") as bob_cli:
        await bob_cli.expect(r"^waiting to be matched \(city any, tags jazz, cats\)")
        async with cli(server, "--user", ada, "--name", "Ada", "--verified", "match",
                       "--city", "any", "--tone", str(ADA_HZ), "--record", str(ada_wav),
                       "--seconds", "3", "--no-input") as ada_cli:
            await ada_cli.expect(rf"^matched with Bob \({bob}\) from Taipei, likes jazz, cats")
            await bob_cli.expect(rf"^matched with Ada \({ada}\) \(call \S+\)$")
            await ada_cli.expect(r"^media: connected \(sending and receiving\)$")
            await bob_cli.expect(r"^media: connected \(sending and receiving\)$")
            await ada_cli.expect(r"^hangup: ok$")
            await ada_cli.expect(r"^call over \(hangup\)$")
            assert await ada_cli.finish() == 0
        await bob_cli.expect(r"^call over \(hangup\)$")
        await bob_cli.expect(r"^waiting to be matched")  # --next: on to the next person

        async with cli(server, "--user", cy, "--name", "Cy", "--verified", "match",
                       "--tone", str(CY_HZ)) as cy_cli:
            await cy_cli.expect(rf"^matched with Bob \({bob}\) from Taipei")
            await bob_cli.expect(rf"^matched with Cy \({cy}\)")
            await cy_cli.expect(r"^media: connected")
            await cy_cli.type("report plays the same tone all day")
            await cy_cli.expect(rf"^report: ok, {bob} reported to the moderators$")
            await cy_cli.type("next")
            await cy_cli.expect(r"^hangup: ok$")
            await cy_cli.expect(r"^waiting to be matched")
            await bob_cli.expect(r"^call \S+ ended \(hangup\)$")
            assert await bob_cli.finish() == 0  # --count 2: two matches, then it ends
            await cy_cli.type("quit")
            await cy_cli.expect(r"^match_leave: ok$")
            assert await cy_cli.finish() == 0

    ada_heard, bob_heard = heard(ada_wav), heard(bob_wav)
    assert ada_heard[BOB_HZ] > -25 and ada_heard[BOB_HZ] - ada_heard[ADA_HZ] > 25, ada_heard
    assert bob_heard[ADA_HZ] > -25 and bob_heard[ADA_HZ] - bob_heard[BOB_HZ] > 25, bob_heard
    assert (tmp_path / "bob.2.wav").exists()  # the second match's recording


async def test_unverified_and_filtered_users_are_told_why(server: ServerChild) -> None:
    async with cli(server, "--name", uid("Dee"), "match", "--no-input") as dee:
        await dee.expect(r"^match_join: error not_verified: only real-name verified users")
        assert await dee.finish() == 1
    async with cli(server, "--name", uid("Eve"), "--verified", "match", "--city", "same",
                   "--no-input") as eve:
        await eve.expect(r"^match_join: error bad_request: city 'same' needs a city")
        assert await eve.finish() == 1
    async with cli(server, "--name", uid("Fay"), "--verified", "match", "--home", "Nowhere",
                   "--city", "same", "--wait", "0.5", "--no-input") as fay:
        await fay.expect(r"^nobody was matched within 0.5 s$")
        await fay.expect(r"^match_leave: ok$")
        assert await fay.finish() == 1
