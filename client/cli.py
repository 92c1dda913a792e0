"""`python -m client`: list rooms, host a room, join one, or run a load test.

    python -m client --url ws://127.0.0.1:8765/ws --name Ada host --title "Evening talk"
    python -m client --name Bob join ROOM --request-mic
    python -m client rooms
    python -m client load --clients 50 --rooms 5 --duration 20

Each subcommand is one `Command` entry in `COMMANDS`: a function adding its
flags and an async function running it, so a new flag (say, media options for
`host` and `join`) is one `add_argument` in the right place. Output is one line
per event, flushed, so other programs can read it; when they stop reading
(`python -m client rooms | head -1`) the CLI ends quietly with status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from client.connection import ClientError, Event, VoiceClient

DEFAULT_URL = "ws://127.0.0.1:8765/ws"
ENV_PREFIX = "VOICEROOM_"


# ---- output --------------------------------------------------------------------------------


def _who(user: Any, name: Any) -> str:
    if user is None:
        return "(empty)"
    return f"{name} ({user})" if name and name != user else str(user)


def format_seat(seat: dict[str, Any]) -> str:
    flags = [flag for flag in ("muted", "self_muted", "locked", "away") if seat.get(flag)]
    text = f"seat {seat.get('index')}: {_who(seat.get('user'), seat.get('name'))}"
    return text + (f" [{', '.join(flags)}]" if flags else "")


def format_state(state: dict[str, Any]) -> list[str]:
    host = state.get("host") or {}
    lines = [
        f"room {state.get('id')} \"{state.get('title')}\""
        f" host {_who(host.get('user'), host.get('name'))}"
        f" mode {state.get('mode')} seat_mode {state.get('seat_mode')}"
        f" audience {state.get('audience_count')}"
    ]
    lines += ["  " + format_seat(seat) for seat in state.get("seats") or []]
    if state.get("admins"):
        lines.append("  admins: " + ", ".join(map(str, state["admins"])))
    queue = state.get("queue")
    if queue:
        lines.append("  queue: " + ", ".join(_who(q.get("user"), q.get("name")) for q in queue))
    return lines


_EVENT_TEXT: dict[str, Callable[[Event], str]] = {
    "audience_changed": lambda e: f"audience: {e.get('count')}",
    "role_changed": lambda e: f"{e.get('user')} is now {e.get('role')}",
    "member_joined": lambda e: f"{_who(e.get('user'), e.get('name'))} joined as {e.get('role')}",
    "member_left": lambda e: f"{e.get('user')} left",
    "mic_requested": lambda e: (
        f"mic request from {_who(e.get('user'), e.get('name'))} (position {e.get('position')})"
        + (f": {e['note']}" if e.get("note") else "")
    ),
    "mic_request_cancelled": lambda e: f"{e.get('user')} cancelled their mic request",
    "mic_accepted": lambda e: f"your mic request was accepted: seat {e.get('seat')}",
    "mic_rejected": lambda e: "your mic request was rejected",
    "seat_changed": lambda e: format_seat(e.get("seat") or {}),
    "mode_changed": lambda e: (
        f"mode is now {e.get('mode')}{' (automatic)' if e.get('auto') else ''},"
        f" {len(e.get('seats') or [])} seat(s)"
    ),
    "seat_invited": lambda e: f"{e.get('by')} invites you to seat {e.get('seat')}",
    "speaking": lambda e: "speaking: " + ", ".join(
        f"{user} {level:.2f}" for user, level in sorted((e.get("levels") or {}).items())
    ),
    "chat_message": lambda e: f"<{_who(e.get('user'), e.get('name'))}> {e.get('text')}",
    "kicked": lambda e: f"you were removed from the room ({e.get('reason')})",
    "replaced": lambda e: "a newer connection of yours took over this room",
    "room_closed": lambda e: f"room closed ({e.get('reason')})",
    "_disconnected": lambda e: f"connection lost (code {e.get('code')}), reconnecting",
    "_reconnected": lambda e: "reconnected; rejoined " + (", ".join(e.get("rooms") or []) or "-"),
    "_rejoin_failed": lambda e: f"could not rejoin {e.get('room')}: {e.get('code')}",
    "_closed": lambda e: f"connection closed ({e.get('reason')})",
    "_error": lambda e: f"server error {e.get('code')}: {e.get('message')}",
}


def format_event(event: Event) -> str:
    """One readable line for an event (the room first, when it has one)."""
    kind = str(event.get("type"))
    if kind == "room_state":
        return "\n".join(format_state(event.get("state") or {}))
    render = _EVENT_TEXT.get(kind)
    if render is not None:
        try:
            text = render(event)
        except (TypeError, ValueError, AttributeError):
            text = json.dumps(event, default=str)
    else:
        rest = {k: v for k, v in event.items() if k not in ("type", "room")}
        text = f"{kind} {json.dumps(rest, default=str, ensure_ascii=False)}"
    room = event.get("room")
    return f"[{room}] {text}" if room else text


def say(text: str, out: TextIO | None = None) -> None:
    print(text, file=out or sys.stdout, flush=True)


# ---- stdin -----------------------------------------------------------------------------------


def stdin_lines() -> asyncio.Queue[str | None]:
    """Lines typed on stdin, None at end of input. A daemon thread reads, so a pipe, a
    terminal, a file or /dev/null all work and nothing blocks the program's exit."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        try:
            for line in sys.stdin:
                loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        with contextlib.suppress(RuntimeError):  # the loop closed first
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return queue


# ---- a room session shared by `host` and `join` ---------------------------------------------


CommandFunc = Callable[[list[str]], Awaitable[Any]]


class RoomSession:
    """One client in one room: prints events, runs typed commands, stops when told to,
    when the room closes, or after `--duration`.

    A typed line is a command when it starts with "/" (or, with `bare_commands`, with a
    command's name); anything else is sent as chat."""

    bare_commands = False

    def __init__(self, client: VoiceClient, room: str, args: argparse.Namespace) -> None:
        self.client = client
        self.room = room
        self.args = args
        self.stop = asyncio.Event()
        self.commands: dict[str, tuple[str, CommandFunc]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.speaker = False  # host or seated: media sends (with --tone/--publish)
        self.host = False
        self.media: Any = None
        self.stdout_closed = False
        # Subscribe now, not when the pump starts: requests made before it (request_mic,
        # the media offer) may cause events at once, e.g. an auto-accepting host's mic_accepted.
        self.events = client.events()

    def add_command(self, word: str, usage: str, request: CommandFunc) -> None:
        """`request(words)` is a client call; its reply or error is printed."""
        self.commands[word] = (usage, request)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def call(self, label: str, request: Awaitable[dict[str, Any]]) -> dict[str, Any] | None:
        """Run a request, print its outcome; errors are printed, not raised."""
        try:
            reply = await request
        except ClientError as exc:
            say(f"{label}: error {exc.code}: {exc.message}")
            return None
        shown = {k: v for k, v in reply.items() if k not in ("id", "type", "room")}
        say(f"{label}: ok" + (f" {json.dumps(shown, ensure_ascii=False)}" if shown else ""))
        return reply

    async def on_event(self, event: Event) -> None:
        """Hook for subclasses and options (auto-accept, media): called for every event."""

    async def pump_events(self) -> None:
        async for event in self.events:
            if event.get("room") not in (None, self.room):
                continue
            try:
                say(format_event(event))
            except BrokenPipeError:
                # Nobody reads the events any more: end the session, and main() quietly.
                self.stdout_closed = True
                self.stop.set()
                return
            await self.on_event(event)
            if self.media is not None:
                self.spawn(self.media.on_event(event))
            kind = event.get("type")
            if kind in ("room_closed", "kicked", "replaced", "_closed"):
                self.stop.set()
                return

    async def pump_input(self) -> None:
        lines = stdin_lines()
        while (line := await lines.get()) is not None:
            line = line.strip()
            if not line:
                continue
            words = line.split()
            if line.startswith("/") and len(line) > 1:
                await self.run_command(words[0][1:], words[1:])
            elif self.bare_commands and words[0] in self.commands:
                await self.run_command(words[0], words[1:])
            else:
                await self.call("chat", self.client.chat(self.room, line))

    async def run_command(self, word: str, rest: list[str]) -> None:
        if word in ("quit", "exit"):
            self.stop.set()
            return
        if word == "help" or word not in self.commands:
            say("commands: " + "; ".join(usage for usage, _ in self.commands.values())
                + "; /quit; anything else is sent as chat")
            return
        usage, request = self.commands[word]
        try:
            awaitable = request(rest)
        except (ValueError, IndexError):
            say(f"usage: {usage}")
            return
        await self.call(word, awaitable)

    async def start_media(self) -> None:
        args = self.args
        tone, publish, record = (getattr(args, k, None) for k in ("tone", "publish", "record"))
        if tone is None and publish is None and record is None:
            return
        from audio.sources import FileSource, PcmSource, ToneSource
        from client.media import MemberMedia

        def source() -> PcmSource:
            if publish is not None:
                return FileSource(publish, loop=True)
            return ToneSource(float(tone or 0))

        self.media = MemberMedia(self.client, self.room,
                               source=source if tone is not None or publish is not None else None,
                               record=record, host=self.host)
        try:
            await self.media.start(self.speaker)
            say(f"media: connected ({'sending and ' if self.media.speaking else ''}receiving)")
        except ClientError as exc:
            say(f"webrtc_offer: error {exc.code}: {exc.message}")

    async def run(self) -> None:
        await self.start_media()
        self.spawn(self.pump_events())
        if not self.args.no_input:
            self.spawn(self.pump_input())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.stop.set)
        try:
            await asyncio.wait_for(self.stop.wait(), self.args.duration)
        except TimeoutError:
            pass
        finally:
            for task in list(self.tasks):
                task.cancel()
            if self.media is not None:
                await self.media.close()
                media = self.media
                if media.record is not None:
                    say(f"media: recorded {media.recorder.seconds:.1f} s to {media.record}")
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(signum)
        if self.stdout_closed:
            raise BrokenPipeError("stdout was closed")


def _seat_commands(session: RoomSession) -> None:
    """Commands every member has (most are for the seated)."""
    c, room = session.client, session.room
    session.add_command("take", "take SEAT", lambda a: c.take_seat(room, int(a[0])))
    session.add_command("switch", "switch SEAT", lambda a: c.switch_seat(room, int(a[0])))
    session.add_command("leave-seat", "leave-seat", lambda a: c.leave_seat(room))
    session.add_command("mute", "mute (yourself)", lambda a: c.mute(room))
    session.add_command("unmute", "unmute (yourself)", lambda a: c.unmute(room))
    # A member joining again gets the current state and changes nothing.
    session.add_command("state", "state", lambda a: c.join_room(room))


def _seat_arg(a: list[str]) -> int | None:
    return int(a[1]) if len(a) > 1 else None


def _moderator_commands(session: RoomSession) -> None:
    c, room = session.client, session.room
    add = session.add_command
    add("accept", "accept USER [SEAT]", lambda a: c.accept_mic(room, a[0], seat=_seat_arg(a)))
    add("reject", "reject USER", lambda a: c.reject_mic(room, a[0]))
    add("invite", "invite USER [SEAT]", lambda a: c.invite_to_seat(room, a[0], seat=_seat_arg(a)))
    add("kick-seat", "kick-seat SEAT", lambda a: c.kick_seat(room, int(a[0])))
    add("lock", "lock SEAT", lambda a: c.lock_seat(room, int(a[0])))
    add("unlock", "unlock SEAT", lambda a: c.unlock_seat(room, int(a[0])))
    add("mute-seat", "mute-seat SEAT", lambda a: c.mute_seat(room, int(a[0])))
    add("unmute-seat", "unmute-seat SEAT", lambda a: c.unmute_seat(room, int(a[0])))
    add("kick", "kick USER [ban]", lambda a: c.kick_member(room, a[0], ban=a[1:2] == ["ban"]))
    add("admin", "admin USER on|off", lambda a: c.set_admin(room, a[0], a[1] == "on"))
    add("chatroom", "chatroom (open the chatroom)", lambda a: c.open_chatroom(room))
    add("live", "live (close the chatroom)", lambda a: c.close_chatroom(room))


# ---- client set-up -----------------------------------------------------------------------------


def add_connection_arguments(parser: argparse.ArgumentParser, *, again: bool = False) -> None:
    """The connection flags; `again` adds them to a subcommand too (so they work on either
    side of it) without overriding what was given before it."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if again else value

    parser.add_argument("--url", default=default(os.environ.get(ENV_PREFIX + "URL", DEFAULT_URL)),
                        help=f"server websocket URL (default {DEFAULT_URL}) [env {ENV_PREFIX}URL]")
    parser.add_argument("--user", default=default(None),
                        help="user id (development mode; default: derived from --name)")
    parser.add_argument("--name", default=default(None), help="display name (development mode)")
    parser.add_argument("--token", default=default(os.environ.get(ENV_PREFIX + "TOKEN")),
                        help=f"HS256 token when the server has a secret [env {ENV_PREFIX}TOKEN]")
    parser.add_argument("--json", action="store_true", default=default(False),
                        help="send JSON text frames instead of MessagePack binary frames")


def open_client(args: argparse.Namespace, default_name: str | None = None) -> Any:
    """`VoiceClient.connect(...)` from the connection flags."""
    name = args.name or args.user or (None if args.token else default_name)
    if args.token is None and name is None:
        raise SystemExit("error: give --name (development mode) or --token")
    return VoiceClient.connect(
        args.url, user=args.user, name=name, token=args.token, binary=not args.json
    )


def add_session_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the commands that stay in a room (`host`, `join`)."""
    parser.add_argument("--duration", type=float, default=None,
                        help="leave after this many seconds (default: until Ctrl-C or /quit)")
    parser.add_argument("--no-input", action="store_true",
                        help="do not read commands or chat from stdin")
    # Media (client/media.py): sent while the user is a speaker, received always.
    parser.add_argument("--tone", type=float, metavar="HZ",
                        help="speak a sine tone of this frequency (a test microphone)")
    parser.add_argument("--publish", metavar="FILE",
                        help="speak this audio file (WAV, MP3, ... through pydub), looped")
    parser.add_argument("--record", metavar="OUT.WAV",
                        help="record what this user hears into a WAV file")


# ---- subcommands -------------------------------------------------------------------------------


def add_rooms_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=50, help="rooms per page (1 to 100)")
    parser.add_argument("--all", action="store_true", help="follow the cursor to the end")
    parser.add_argument("--json-output", action="store_true", help="print one JSON list")


async def run_rooms(args: argparse.Namespace) -> int:
    async with open_client(args, default_name="room-lister") as client:
        rooms: list[dict[str, Any]] = []
        cursor = None
        while True:
            reply = await client.list_rooms(limit=args.limit, cursor=cursor)
            rooms += reply.get("rooms") or []
            cursor = reply.get("cursor")
            if not args.all or not cursor:
                break
    if args.json_output:
        say(json.dumps(rooms, ensure_ascii=False))
        return 0
    if not rooms:
        say("no rooms")
    for room in rooms:
        host = room.get("host")
        host_text = _who(host.get("user"), host.get("name")) if isinstance(host, dict) else host
        say(f"{room.get('id')}\t{room.get('title')}\thost {host_text}\t{room.get('mode')}"
            f"\taudience {room.get('audience_count')}\tseated {room.get('seated')}")
    return 0


def add_host_arguments(parser: argparse.ArgumentParser) -> None:
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
    bare_commands = True  # the host types `accept USER`; other lines are chat

    async def on_event(self, event: Event) -> None:
        if event.get("type") == "mic_requested" and self.args.auto_accept:
            user = str(event.get("user"))
            self.spawn(self.call(f"accept {user}", self.client.accept_mic(self.room, user)))


async def run_host(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
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
        session = HostSession(client, room, args)
        session.speaker = session.host = True
        _seat_commands(session)
        _moderator_commands(session)
        if args.chatroom:
            await session.call("open_chatroom", client.open_chatroom(room))
        await session.run()
        if not client.closed and room in client.rooms:
            await session.call("close_room", client.close_room(room))
    return 0


def add_join_arguments(parser: argparse.ArgumentParser) -> None:
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


async def run_join(args: argparse.Namespace) -> int:
    async with open_client(args) as client:
        try:
            reply = await client.join_room(args.room)
        except ClientError as exc:
            say(f"join_room: error {exc.code}: {exc.message}")
            return 1
        say(f"joined {args.room} as {reply.get('role')}")
        for line in format_state(reply.get("room") or {}):
            say(line)
        session = JoinSession(client, args.room, args)
        seats = (reply.get("room") or {}).get("seats") or []
        session.host = reply.get("role") == "host"
        session.speaker = session.host or any(
            isinstance(seat, dict) and seat.get("user") == client.user for seat in seats)
        _seat_commands(session)
        if reply.get("role") in ("host", "admin"):
            _moderator_commands(session)
        add = session.add_command
        add("request", "request [NOTE]",
            lambda a: client.request_mic(args.room, note=" ".join(a) or None))
        add("cancel", "cancel (the mic request)", lambda a: client.cancel_mic_request(args.room))
        add("yes", "yes (accept an invitation)", lambda a: client.answer_invite(args.room, True))
        add("no", "no (decline an invitation)", lambda a: client.answer_invite(args.room, False))
        if args.request_mic:
            await session.call("request_mic", client.request_mic(args.room, note=args.note))
        await session.run()
        if not client.closed and args.room in client.rooms:
            with contextlib.suppress(ClientError):
                await client.leave_room(args.room)
    return 0


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    from client import load

    load.add_arguments(parser)


async def run_load(args: argparse.Namespace) -> int:
    from client import load

    return await load.run(args)


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Awaitable[int]]


COMMANDS: list[Command] = [
    Command("rooms", "list the open rooms", add_rooms_arguments, run_rooms),
    Command("host", "create a room and host it", add_host_arguments, run_host),
    Command("join", "join a room as audience", add_join_arguments, run_join),
    Command("load", "many clients with realistic churn; prints latencies and errors",
            add_load_arguments, run_load),
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(args.run(args))
    except ClientError as exc:
        say(f"error {exc.code}: {exc.message}", sys.stderr)
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
