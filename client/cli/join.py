"""`python -m client join ROOM`: join a room as audience (and ask for the mic)."""

from __future__ import annotations

import argparse
import contextlib

from client.cli.commands import (
    all_members,
    audience_commands,
    common_commands,
    moderator_commands,
    seat_commands,
)
from client.cli.options import add_session_arguments, open_client
from client.cli.output import format_state, say
from client.cli.props import props_commands
from client.cli.session import RoomSession
from client.connection import ClientError, Event


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("room", help="room id (see `rooms`)")
    parser.add_argument("--request-mic", action="store_true", help="ask for a mic-link seat")
    parser.add_argument("--note", help="a note with the mic request (up to 140 characters)")
    parser.add_argument("--accept-invites", action="store_true",
                        help="answer seat invitations with yes")
    add_session_arguments(parser)


class JoinSession(RoomSession):
    async def on_event(self, event: Event) -> None:
        if event.get("type") == "seat_invited" and self.args.accept_invites:
            self.spawn(self.call("answer_invite", self.client.answer_invite(self.room, True)))


async def run(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        events = client.events()  # before the join: its events follow the reply at once
        try:
            reply = await client.join_room(args.room)
        except ClientError as exc:
            say(f"join_room: error {exc.code}: {exc.message}")
            return 1
        say(f"joined {args.room} as {reply.get('role')}")
        for line in format_state(reply.get("room") or {}):
            say(line)
        session = JoinSession(client, args.room, args, events)
        state = reply.get("room") or {}
        session.view.load(state)
        seats = state.get("seats") or []
        session.host = reply.get("role") == "host"
        session.speaker = session.host or any(
            isinstance(seat, dict) and seat.get("user") == client.user for seat in seats)
        common_commands(session)
        if not session.host:
            seat_commands(session)
            audience_commands(session)
        if reply.get("role") in ("host", "admin"):
            moderator_commands(session)
            # Everyone already here, so that `invite`/`kick` find them by name.
            with contextlib.suppress(ClientError):
                await all_members(session)
        props_commands(session)
        say("type `help` for the commands; other lines are chat")
        if args.request_mic:
            await session.call("request_mic", client.request_mic(args.room, note=args.note))
        await session.run()
        if not client.closed and args.room in client.rooms:
            with contextlib.suppress(ClientError):
                await client.leave_room(args.room)
    return 0
