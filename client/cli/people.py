"""`python -m client follow USER` and the other people modes: one request, one answer.

    python -m client --name Ada follow bob        # following bob (friends: you follow each other)
    python -m client --name Ada friends           # bob  Bob  online
    python -m client --name Ada block carl
    python -m client --name Ada friends --which blocked   # carl  Carl
    python -m client --name Ada profile --city Lyon --tags jazz,chess

Each mode acts in the graph of the connection's app (`--app`). Exit status 0 on success,
1 with `VERB: error CODE: words` when the server refuses.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

from client.cli.explain import explain
from client.cli.options import open_client
from client.cli.output import say, who
from client.connection import ClientError, VoiceClient


def add_user_argument(parser: argparse.ArgumentParser) -> None:
    # Not `user`: that is the connection's own --user.
    parser.add_argument("target", metavar="USER", help="the other user's id")


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--which", choices=("friends", "following", "followers", "blocked"),
                        default="friends", help="which list (default friends)")
    parser.add_argument("--json-output", action="store_true", help="print one JSON list")


def add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="USER", nargs="?",
                        help="whose profile to show (default: yours, or set yours)")
    parser.add_argument("--city", help="your city (a token's city wins)")
    parser.add_argument("--tags", help="your tags, comma separated (up to 10)")
    parser.add_argument("--bio", help="a line about you (up to 140 characters)")


async def _one(args: argparse.Namespace, verb: str,
               act: Callable[[VoiceClient], Awaitable[dict[str, Any]]],
               done: Callable[[dict[str, Any]], str]) -> int:
    async with open_client(args) as client:
        try:
            reply = await act(client)
        except ClientError as exc:
            say(f"{verb}: error {explain(exc, getattr(args, 'target', None))}")
            return 1
        say(done(reply))
    return 0


async def run_follow(args: argparse.Namespace) -> int:
    return await _one(
        args, "follow", lambda c: c.follow(args.target),
        lambda r: f"following {args.target}"
        + (" (friends: you follow each other)" if r.get("mutual") else ""))


async def run_unfollow(args: argparse.Namespace) -> int:
    return await _one(args, "unfollow", lambda c: c.unfollow(args.target),
                      lambda r: f"no longer following {args.target}")


async def run_block(args: argparse.Namespace) -> int:
    return await _one(args, "block", lambda c: c.block(args.target),
                      lambda r: f"blocked {args.target} (they are not told)")


async def run_unblock(args: argparse.Namespace) -> int:
    return await _one(args, "unblock", lambda c: c.unblock(args.target),
                      lambda r: f"unblocked {args.target}")


async def run_friends(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        try:
            lists = {"friends": client.friends, "following": client.following,
                     "followers": client.followers, "blocked": client.blocked}
            users = await lists[args.which]()
        except ClientError as exc:
            say(f"list_follows: error {explain(exc)}")
            return 1
    if args.json_output:
        say(json.dumps(users, ensure_ascii=False))
        return 0
    if not users:
        say({"friends": "no friends yet", "blocked": "no blocked users"}.get(
            args.which, f"no {args.which} yet"))
    for entry in users:
        marks = []
        if "online" in entry:
            marks.append("online" if entry.get("online") else "offline")
        if args.which != "friends" and entry.get("mutual"):
            marks.append("friend")
        say("\t".join([str(entry.get("user")), str(entry.get("name") or ""), *marks]))
    return 0


def format_profile(profile: dict[str, Any]) -> str:
    parts = [who(profile.get("user"), profile.get("name"))]
    if profile.get("verified"):
        parts.append("verified")
    if profile.get("city"):
        parts.append(f"city {profile['city']}")
    if profile.get("tags"):
        parts.append("tags " + ", ".join(map(str, profile["tags"])))
    if "online" in profile:
        parts.append("online" if profile["online"] else "offline")
    if profile.get("bio"):
        parts.append(f"bio: {profile['bio']}")
    return " · ".join(parts)


async def run_profile(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        try:
            if args.target is not None:
                reply = await client.get_profile(args.target)
            else:
                tags = None if args.tags is None else [t.strip() for t in args.tags.split(",")
                                                       if t.strip()]
                if args.city is None and tags is None and args.bio is None:
                    reply = await client.get_profile(client.user or "")
                else:
                    reply = await client.set_profile(city=args.city, tags=tags, bio=args.bio)
        except ClientError as exc:
            say(f"profile: error {explain(exc, args.target)}")
            return 1
    say(format_profile(reply.get("profile") or {}))
    return 0
