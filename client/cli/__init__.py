"""`python -m client`: rooms, people and calls from the command line, or a load test.

Rooms (rooms, host, join), people (follow, friends, block, profile), calls (call, answer),
random matching (match).

    python -m client --url ws://127.0.0.1:8765/ws --name Ada host --title "Evening talk"
    python -m client --name Bob join ROOM --request-mic
    python -m client rooms
    python -m client --name Ada follow bob
    python -m client --name Bob answer --record heard.wav
    python -m client --name Ada call bob --video --tone 440 --seconds 10
    python -m client --name Cy --verified match --city same --tags jazz --tone 330 --next
    python -m client load --clients 50 --rooms 5 --duration 20

Each subcommand is one `Command` entry in `COMMANDS` and one module (client/cli/rooms.py,
host.py, join.py, people.py, calls.py, match.py; `load` is client/load/): a function adding its
flags and an async function running it, so a new flag is one `add_argument` in the right
place, and a new mode (matching) one more module.
Output is one line per event, flushed, so other programs can read it; when they stop
reading (`python -m client rooms | head -1`) the CLI ends quietly with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from client import load
from client.cli import calls, host, join, match, people, rooms
from client.cli.explain import explain
from client.cli.options import WS_PATH, add_connection_arguments
from client.cli.output import format_event, format_seat, format_state, say
from client.connection import ClientError

__all__ = ["COMMANDS", "Command", "build_parser", "format_event", "format_seat",
           "format_state", "main"]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Awaitable[int]]


COMMANDS: list[Command] = [
    Command("rooms", "list the open rooms", rooms.add_arguments, rooms.run),
    Command("host", "create a room and host it", host.add_arguments, host.run),
    Command("join", "join a room as audience", join.add_arguments, join.run),
    Command("follow", "follow a user (friends when they follow you too)",
            people.add_user_argument, people.run_follow),
    Command("unfollow", "stop following a user", people.add_user_argument, people.run_unfollow),
    Command("friends", "list your friends (or --which following|followers|blocked)",
            people.add_list_arguments, people.run_friends),
    Command("block", "block a user (follows removed, calls refused; they are not told)",
            people.add_user_argument, people.run_block),
    Command("unblock", "unblock a user", people.add_user_argument, people.run_unblock),
    Command("profile", "show a profile, or set yours (--city, --tags, --bio)",
            people.add_profile_arguments, people.run_profile),
    Command("call", "call a friend; talk, record, hang up", calls.add_call_arguments,
            calls.run_call),
    Command("answer", "wait for calls and answer them", calls.add_answer_arguments,
            calls.run_answer),
    Command("match", "meet someone at random (verified users): talk, then move on",
            match.add_arguments, match.run),
    Command("load", "many clients with realistic churn; prints latencies and errors",
            load.add_arguments, load.run),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m client", description=__doc__.split("\n")[0])
    add_connection_arguments(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub_parser = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(sub_parser)
        add_connection_arguments(sub_parser, again=True)
        sub_parser.set_defaults(run=command.run)
    return parser


def connect_hint(exc: ClientError, args: argparse.Namespace) -> str:
    """What to try when the URL reached a web server but not its websocket."""
    if exc.code != "connect_failed" or "HTTP" not in exc.message:
        return ""
    return (f" ({args.url} answers HTTP ({exc.message.rsplit(': ', 1)[-1]}), not a websocket:"
            f" the server's websocket is at {WS_PATH}, e.g. --url ws://HOST:PORT{WS_PATH})")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(args.run(args))
    except ClientError as exc:
        say(f"error {explain(exc)}{connect_hint(exc, args)}", sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Whoever read our output is gone (`... | head -1`). Python's own idiom
        # (docs: signal, "Note on SIGPIPE"): point stdout at devnull, so the flush at exit does
        # not fail a second time, and exit 1 without a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
