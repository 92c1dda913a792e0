"""`python -m client host`: create a room and host it."""

from __future__ import annotations

import argparse

from client.cli.commands import common_commands, moderator_commands
from client.cli.options import add_session_arguments, open_client
from client.cli.output import format_state, say
from client.cli.props import props_commands
from client.cli.session import RoomSession
from client.connection import ClientError, Event


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--title", required=True, help="room title (1 to 64 characters)")
    parser.add_argument("--seats", type=int, help="chatroom seats, 1 to 8 (default 8)")
    parser.add_argument("--seat-mode", choices=("apply", "free"), help="default apply")
    parser.add_argument("--auto-chatroom-at", type=int,
                        help="open the chatroom at this many pending requests (0: never)")
    parser.add_argument("--chatroom", action="store_true", help="open the chatroom at once")
    parser.add_argument("--auto-accept", action="store_true",
                        help="accept every mic-link request as it comes")
    add_session_arguments(parser)


class HostSession(RoomSession):
    async def on_event(self, event: Event) -> None:
        if event.get("type") == "mic_requested" and self.args.auto_accept:
            user = str(event.get("user"))
            self.spawn(self.call(f"accept {user}", self.client.accept_mic(self.room, user)))


async def run(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        events = client.events()  # before the room exists: none of its events is missed
        try:
            reply = await client.create_room(
                args.title, seats=args.seats, seat_mode=args.seat_mode,
                auto_chatroom_at=args.auto_chatroom_at,
            )
        except ClientError as exc:
            say(f"create_room: error {exc.code}: {exc.message}")
            return 1
        state = reply["room"]
        room = str(state["id"])
        say(f"room: {room}")
        for line in format_state(state):
            say(line)
        session = HostSession(client, room, args, events)
        session.speaker = session.host = True
        session.view.load(state)
        common_commands(session)
        moderator_commands(session)
        props_commands(session)
        say("type `help` for the commands; other lines are chat")
        if args.chatroom:
            await session.call("open_chatroom", client.open_chatroom(room))
        await session.run()
        if not client.closed and room in client.rooms:
            await session.call("close_room", client.close_room(room))
    return 0
