"""`python -m client call USER` and `python -m client answer`: one-to-one calls.

    python -m client --name Bob answer --tone 660 --record heard-by-bob.wav
    python -m client --name Ada call bob --tone 440 --record heard-by-ada.wav --seconds 10

`call` rings USER (a friend: you follow each other in this app) and, once they answer,
talks (`--tone`/`--publish`), records what it hears (`--record`) and hangs up after
`--seconds` (or when told, or when the other side hangs up). `answer` waits for calls and
picks each one up (`--count N` calls, then it ends; `--decline` turns them down instead).
Exit status: 0 when the calls took place, 1 when the server refused or nobody answered.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable
from pathlib import Path

from client.cli.call_session import CallSession, add_media_arguments
from client.cli.explain import explain
from client.cli.options import open_client
from client.cli.output import format_call, say, who
from client.connection import ClientError, Reply

# `answer` waits for a call in slices this long, so that Ctrl-C is seen between them.
WAIT_SLICE = 3600.0


def add_call_arguments(parser: argparse.ArgumentParser) -> None:
    # Not `user`: that is the connection's own --user.
    parser.add_argument("target", metavar="USER", help="the friend to call (their user id)")
    parser.add_argument("--video", action="store_true",
                        help="a video call (a generated camera unless --no-camera)")
    add_media_arguments(parser)


def add_answer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=0,
                        help="end after this many calls (default 0: keep answering)")
    parser.add_argument("--wait", type=float,
                        help="end (status 1) when no call comes within this many seconds")
    parser.add_argument("--decline", action="store_true", help="decline calls instead")
    add_media_arguments(parser)


async def run_call(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        session = CallSession(client, args)
        session.start()
        try:
            try:
                reply = await client.call(args.target, video=args.video)
            except ClientError as exc:
                say(f"call: error {explain(exc, args.target)}")
                return 1
            call = reply["call"]
            say(f"call: ok, {format_call(call)}")
            if call.get("state") == "ringing":
                say(f"ringing {args.target}…")
            record = Path(args.record) if args.record else None
            reason = await session.run_call(call, record)
            say(f"call over ({reason})")
            return 0 if reason in ("hangup", "connection_lost") else 1
        finally:
            await session.close()


def _record_path(base: str | None, number: int) -> Path | None:
    if base is None:
        return None
    path = Path(base)
    return path if number == 1 else path.with_suffix(f".{number}{path.suffix or '.wav'}")


async def run_answer(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        session = CallSession(client, args)
        session.start()
        handled = 0
        try:
            say(f"waiting for calls as {client.user} in {client.app or 'main'}")
            while not session.stop.is_set() and (args.count <= 0 or handled < args.count):
                try:
                    call = await session.until_stopped(
                        client.incoming(timeout=args.wait or WAIT_SLICE))
                except ClientError as exc:
                    if exc.code == "timeout" and args.wait is None:
                        continue
                    say(f"no call within {args.wait:g} s" if exc.code == "timeout"
                        else f"stopped waiting: {explain(exc)}")
                    return 1
                if call is None:
                    break
                call_id = str(call["id"])
                if client.ended_here(call_id):
                    continue  # it rang while we were busy and is over already
                caller = who(call["caller"].get("user"), call["caller"].get("name"))
                if args.decline:
                    await _try("decline_call", client.decline_call(call_id))
                    handled += 1
                    continue
                reply = await _try("answer_call", client.answer_call(call_id))
                if reply is None:
                    continue
                handled += 1
                say(f"answered {caller}")
                reason = await session.run_call(reply["call"], _record_path(args.record, handled))
                say(f"call over ({reason})")
        finally:
            await session.close()
    return 0


async def _try(verb: str, request: Awaitable[Reply]) -> Reply | None:
    try:
        reply = await request
    except ClientError as exc:
        say(f"{verb}: error {explain(exc)}")
        return None
    say(f"{verb}: ok")
    return dict(reply)
