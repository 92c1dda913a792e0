"""`python -m client follow / friends / call / answer` as subprocesses through a real server
with media: two CLI users become friends, one calls, the other's `answer` picks up, each
records the other's tone (checked by FFT), and a hangup ends both. `block`, `unblock` and
`friends --which blocked` show a user's blocks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from audio.sources import decode_file, tone_levels
from client import VoiceClient
from server.process import ServerChild, server_child
from tests.client.test_cli import cli

pytestmark = pytest.mark.timeout(120)

ADA_HZ, BOB_HZ = 440.0, 660.0


@pytest.fixture(scope="module")
def server() -> Iterator[ServerChild]:
    with server_child() as srv:
        yield srv


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def strongest(path: Path) -> dict[float, float]:
    pcm = decode_file(path)
    assert len(pcm) > 48_000, f"{path}: only {len(pcm)} samples recorded"
    # The middle of the recording: the call's first and last moments may be silence.
    return tone_levels(pcm[len(pcm) // 4 : -len(pcm) // 4], [ADA_HZ, BOB_HZ])


async def test_two_cli_users_befriend_call_hear_each_other_and_hang_up(
    server: ServerChild, tmp_path: Path
) -> None:
    ada, bob = uid("ada"), uid("bob")
    ada_wav, bob_wav = tmp_path / "heard-by-ada.wav", tmp_path / "heard-by-bob.wav"
    async with cli(server, "--user", bob, "--name", "Bob", "answer", "--tone", str(BOB_HZ),
                   "--record", str(bob_wav), "--count", "1", "--no-input") as answer:
        await answer.expect(rf"waiting for calls as {bob} in main")

        async with cli(server, "--user", ada, "--name", "Ada", "follow", bob) as follow:
            await follow.expect(rf"^following {bob}$")
            assert await follow.finish() == 0
        await answer.expect(rf"Ada \({ada}\) follows you$")
        async with cli(server, "--user", bob, "--name", "Bob", "follow", ada) as follow:
            await follow.expect(rf"^following {ada} \(friends: you follow each other\)$")
            assert await follow.finish() == 0
        async with cli(server, "--user", ada, "--name", "Ada", "friends") as friends:
            await friends.expect(rf"^{bob}\tBob\tonline$")
            assert await friends.finish() == 0

        async with cli(server, "--user", ada, "--name", "Ada", "call", bob, "--tone",
                       str(ADA_HZ), "--record", str(ada_wav), "--seconds", "3",
                       "--no-input") as caller:
            await caller.expect(r"^call: ok, call \S+ from Ada .* to Bob .*: ringing$")
            await answer.expect(rf"^incoming call \S+ from Ada \({ada}\) in main")
            await answer.expect(r"^answer_call: ok$")
            await caller.expect(r"^in call with Bob")
            await caller.expect(r"^media: connected \(sending and receiving\)$")
            await answer.expect(r"^media: connected \(sending and receiving\)$")
            await caller.expect(r"^hangup: ok$")
            await answer.expect(r"^call \S+ ended \(hangup\)$")
            await caller.expect(r"^media: recorded \d+\.\d s to ")
            await caller.expect(r"^call over \(hangup\)$")
            assert await caller.finish() == 0
        await answer.expect(r"^media: recorded \d+\.\d s to ")
        await answer.expect(r"^call over \(hangup\)$")
        assert await answer.finish() == 0  # --count 1: one call, then it ends

    ada_heard, bob_heard = strongest(ada_wav), strongest(bob_wav)
    assert ada_heard[BOB_HZ] > -25 and ada_heard[BOB_HZ] - ada_heard[ADA_HZ] > 25, ada_heard
    assert bob_heard[ADA_HZ] > -25 and bob_heard[ADA_HZ] - bob_heard[BOB_HZ] > 25, bob_heard


async def test_refused_calls_say_why_in_plain_words(server: ServerChild) -> None:
    async with (
        VoiceClient.connect(server.url, user=uid("ada"), name="Ada") as ada,
        VoiceClient.connect(server.url, user=uid("bob"), name="Bob") as bob,
        VoiceClient.connect(server.url, user=uid("carl"), name="Carl") as carl,
    ):
        assert ada.user and bob.user and carl.user
        for one, other in ((ada, bob), (carl, bob)):
            await one.follow(str(other.user))
            await other.follow(str(one.user))
        async with cli(server, "--user", ada.user, "call", carl.user, "--no-input") as stranger:
            await stranger.expect(rf"^call: error not_friends: you can only call friends: "
                                  rf"you and {carl.user} must follow each other in this app$")
            assert await stranger.finish() == 1

        call = (await ada.call(bob.user))["call"]
        await bob.answer_call(call["id"])
        async with cli(server, "--user", carl.user, "call", bob.user, "--no-input") as busy:
            await busy.expect(rf"^call: error busy: {bob.user} is in another call right now$")
            assert await busy.finish() == 1
        async with cli(server, "--user", ada.user, "--name", "Ada", "follow", ada.user) as me:
            await me.expect(r"^follow: error bad_request: ")
            assert await me.finish() == 1
        await ada.hangup(call["id"])

        # An app the server's policy does not name may not call (its words say why).
        async with cli(server, "--user", ada.user, "--app", "kuaishou", "call", bob.user,
                       "--no-input") as stray:
            await stray.expect(r"^call: error forbidden: ")
            assert await stray.finish() == 1

        # `answer --decline` turns a call down; the caller hears why.
        async with cli(server, "--user", bob.user, "answer", "--decline", "--count", "1",
                       "--no-input") as decliner:
            await decliner.expect(rf"^waiting for calls as {bob.user} in main$")
            call = (await ada.call(bob.user))["call"]
            await decliner.expect(r"^decline_call: ok$")
            assert await decliner.finish() == 0
        assert (await ada.wait_call(call["id"]))["reason"] == "declined"

        unknown = uid("nobody")
        async with cli(server, "--user", carl.user, "follow", unknown) as nobody:
            await nobody.expect(rf"^follow: error no_such_user: there is no user {unknown} ")
            assert await nobody.finish() == 1


async def blocked_lines(server: ServerChild, user: str) -> list[str]:
    """What `friends --which blocked` prints for `user` (it must succeed)."""
    async with cli(server, "--user", user, "friends", "--which", "blocked") as listing:
        assert await listing.finish() == 0
    return listing.lines


async def test_friends_which_blocked_lists_blocks_until_unblocked(server: ServerChild) -> None:
    async with (
        VoiceClient.connect(server.url, user=uid("ada"), name="Ada") as ada,
        VoiceClient.connect(server.url, user=uid("bob"), name="Bob") as bob,
        VoiceClient.connect(server.url, user=uid("carl"), name="Carl") as carl,
    ):
        assert ada.user and bob.user and carl.user
        assert await blocked_lines(server, ada.user) == ["no blocked users"]
        async with cli(server, "--user", ada.user, "block", bob.user) as block:
            await block.expect(rf"^blocked {bob.user} \(they are not told\)$")
            assert await block.finish() == 0
        await ada.block(carl.user)
        # One line a blocked user, by user id; no marks (never a friend, no online dot).
        assert await blocked_lines(server, ada.user) == [f"{bob.user}\tBob", f"{carl.user}\tCarl"]
        assert [u["user"] for u in await ada.blocked()] == [bob.user, carl.user]
        # The blocked one's list is empty: they are not told.
        assert await blocked_lines(server, bob.user) == ["no blocked users"]

        async with cli(server, "--user", ada.user, "unblock", bob.user) as unblock:
            await unblock.expect(rf"^unblocked {bob.user}$")
            assert await unblock.finish() == 0
        assert await blocked_lines(server, ada.user) == [f"{carl.user}\tCarl"]
        async with cli(server, "--user", ada.user, "friends", "--which", "blocked",
                       "--json-output") as listing:
            assert await listing.finish() == 0
        assert json.loads(listing.lines[-1]) == [
            {"user": carl.user, "name": "Carl", "mutual": False}]
