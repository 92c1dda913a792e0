"""`python -m client match`: meet someone at random (連線), talk, and move on.

    python -m client --name Ada --verified match --home Taipei --tags jazz,cats --tone 440
    python -m client --name Bob --verified match --city same --record heard.wav --next

Joins the match queue (`--city same`: only someone from your city; `--tags`: what you like,
default your profile's), waits, prints the peer's card when the server pairs you, and talks
(`--tone`/`--publish`), recording what it hears (`--record`). The call ends after
`--seconds`, when the peer hangs up, or when told; with `--next` it then looks for the next
person (until `--count` matches or Ctrl-C). Typed commands: `next` (hang up, meet someone
else), `report REASON` (report the peer to the moderators), `block` (block the peer and hang
up), and the call's own (`hangup`, `mute`, `unmute`, `quit`).
Exit status: 0 when at least one match took place, 1 otherwise.
"""

from __future__ import annotations

import argparse
from typing import Any

from client.cli.call_session import CallSession, add_media_arguments
from client.cli.calls import _record_path
from client.cli.explain import explain
from client.cli.options import open_client
from client.cli.output import say, who
from client.connection import ClientError

# Waiting for a match happens in slices this long, so that Ctrl-C is seen between them.
WAIT_SLICE = 3600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--city", choices=("same", "any"), default="any",
                        help="same: only someone from your city; any (default): anyone, your "
                             "city first")
    parser.add_argument("--tags", type=_tags, metavar="A,B",
                        help="what you like, comma separated (default: your profile's tags)")
    parser.add_argument("--home", metavar="CITY",
                        help="your city, set in your profile first (development mode; a "
                             "token's city wins)")
    parser.add_argument("--next", action="store_true",
                        help="after each call, meet the next person (until --count or Ctrl-C)")
    parser.add_argument("--count", type=int, default=0,
                        help="with --next: end after this many matches (default 0: no end)")
    parser.add_argument("--wait", type=float,
                        help="give up (status 1) when nobody is matched within this many "
                             "seconds")
    add_media_arguments(parser)


def _tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


class MatchSession(CallSession):
    """A call session that also knows who the peer is: `next`, `report`, `block`."""

    def __init__(self, client: Any, args: argparse.Namespace) -> None:
        super().__init__(client, args)
        self.peer: dict[str, Any] | None = None
        self.moving_on = False

    async def _command(self, word: str, rest: list[str]) -> None:
        peer = self.peer
        if word == "next":
            self.moving_on = True
            self.hangup_asked.set()
        elif word == "report" and peer is not None:
            reason = " ".join(rest) or "no reason given"
            try:
                await self.client.report(peer["user"], reason)
                say(f"report: ok, {peer['user']} reported to the moderators")
            except ClientError as exc:
                say(f"report: error {explain(exc, peer['user'])}")
        elif word == "block" and peer is not None:
            try:
                await self.client.block(peer["user"])
                say(f"block: ok, you will not be matched with {peer['user']} again")
            except ClientError as exc:
                say(f"block: error {explain(exc, peer['user'])}")
            self.hangup_asked.set()
        elif word in ("report", "block"):
            say(f"{word}: nobody to {word} (not in a match call)")
        else:
            await super()._command(word, rest)
            if word not in ("quit", "exit", "hangup", "mute", "unmute", "camera"):
                say("match commands: next; report REASON; block")


def format_card(peer: dict[str, Any]) -> str:
    """`Bob (bob) from Taipei, likes jazz, cats`."""
    text = who(peer.get("user"), peer.get("name"))
    if peer.get("city"):
        text += f" from {peer['city']}"
    tags = peer.get("tags") or []
    return text + (f", likes {', '.join(map(str, tags))}" if tags else "")


async def run(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        if args.home:
            try:
                await client.set_profile(city=args.home)
            except ClientError as exc:
                say(f"set_profile: error {explain(exc)}")
                return 1
        session = MatchSession(client, args)
        session.start()
        matches = 0
        try:
            while not session.stop.is_set():
                if not await _join(client, args):
                    return 1 if matches == 0 else 0
                found = await _wait_match(session, args)
                if found is None:
                    break
                matches += 1
                call, session.peer = found["call"], dict(found["peer"])
                say(f"matched with {format_card(session.peer)} (call {call['id']})")
                session.moving_on = False
                reason = await session.run_call(call, _record_path(args.record, matches))
                session.peer = None
                say(f"call over ({reason})")
                if not (args.next or session.moving_on) or (args.count and matches >= args.count):
                    break
        finally:
            if client.waiting is not None and not client.closed:
                try:
                    await client.match_leave()
                    say("match_leave: ok")
                except ClientError:
                    pass  # closing anyway: the server takes us out with the connection
            await session.close()
    return 0 if matches else 1


async def _join(client: Any, args: argparse.Namespace) -> bool:
    try:
        await client.match_join(city=args.city, tags=args.tags)
    except ClientError as exc:
        say(f"match_join: error {explain(exc)}")
        return False
    tags = f", tags {', '.join(args.tags)}" if args.tags else ""
    say(f"waiting to be matched (city {args.city}{tags})…")
    return True


async def _wait_match(session: MatchSession, args: argparse.Namespace) -> dict[str, Any] | None:
    """The next match_found, or None (stopped, or nobody within --wait)."""
    while True:
        try:
            return await session.until_stopped(
                session.client.next_match(timeout=args.wait or WAIT_SLICE))
        except ClientError as exc:
            if exc.code == "timeout" and args.wait is None:
                continue
            say(f"nobody was matched within {args.wait:g} s" if exc.code == "timeout"
                else f"stopped waiting: {explain(exc)}")
            return None
