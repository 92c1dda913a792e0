"""One client in one room, shared by `host` and `join`: events told (client/cli/narrate.py),
typed commands run (client/cli/commands.py lists them)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from client.cli.narrate import narrate
from client.cli.output import say
from client.cli.roomview import RoomView, UnknownUser
from client.connection import ClientError, Event, Reply, VoiceClient
from client.events import EventStream


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



CommandFunc = Callable[[list[str]], Awaitable[Any]]
# The lines that show a command's reply (default: `WORD: ok {json}`).
ShowFunc = Callable[[Reply], list[str]]


class RoomSession:
    """One client in one room: prints events, runs typed commands, stops when told to,
    when the room closes, or after `--duration`.

    A typed line is a command when its first word is a command's name, with or without a
    leading "/" (`help`, `/help`); anything else is sent as chat (`say ...` sends a line
    that starts with a command word)."""

    def __init__(self, client: VoiceClient, room: str, args: argparse.Namespace,
                 events: EventStream | None = None) -> None:
        self.client = client
        self.room = room
        self.args = args
        self.stop = asyncio.Event()
        self.commands: dict[str, tuple[str, CommandFunc, ShowFunc | None]] = {}
        self.view = RoomView(client.user)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.speaker = False  # host or seated: media sends (with --tone/--publish)
        self.host = False
        self.media: Any = None
        self.stdout_closed = False
        # Subscribe now, not when the pump starts: requests made before it (request_mic,
        # the media offer) may cause events at once, e.g. an auto-accepting host's mic_accepted.
        # A caller that joined first passes the stream it opened before the join: the events
        # right after the join's reply (who is speaking now) are in it.
        self.events = events if events is not None else client.events()

    def add_command(self, word: str, usage: str, request: CommandFunc,
                    show: ShowFunc | None = None) -> None:
        """`request(words)` is a client call; its reply (through `show`) or error is printed.
        A ValueError or IndexError from it prints the usage."""
        self.commands[word] = (usage, request, show)

    def user_arg(self, word: str) -> str:
        """The user a typed word names in this room (UnknownUser if nobody)."""
        return self.view.resolve(word)

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def call(self, label: str, request: Awaitable[dict[str, Any]],
                   show: ShowFunc | None = None) -> dict[str, Any] | None:
        """Run a request, print its outcome; errors are printed, not raised."""
        try:
            reply = await request
        except ClientError as exc:
            say(f"{label}: error {exc.code}: {exc.message}")
            return None
        if show is not None:
            for line in show(reply):
                say(line)
            return reply
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
                text = narrate(self.view, event, levels=bool(getattr(self.args, "levels", False)))
                if text is not None:
                    say(text)
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
            word = words[0][1:] if line.startswith("/") and len(line) > 1 else words[0]
            if line.startswith("/") or word in self.commands or word in ("help", "quit", "exit"):
                await self.run_command(word, words[1:])
            else:
                await self.call("chat", self.client.chat(self.room, line), show=lambda r: [])

    async def run_command(self, word: str, rest: list[str]) -> None:
        if word in ("quit", "exit"):
            self.stop.set()
            return
        if word == "help" or word not in self.commands:
            if word != "help":
                say(f"no command {word!r}")
            say("commands: " + "; ".join(usage for usage, _, _ in self.commands.values())
                + "; help; quit. Anything else is sent as chat.")
            return
        usage, request, show = self.commands[word]
        try:
            awaitable = request(rest)
        except UnknownUser as exc:
            say(f"{word}: {exc}")
            return
        except (ValueError, IndexError):
            say(f"usage: {usage}")
            return
        await self.call(word, awaitable, show)

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
