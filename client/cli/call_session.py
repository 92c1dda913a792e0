"""One CLI user's calls, shared by `call` and `answer`: events printed, typed commands run,
and each call carried from ringing to its end with its media.

Typed commands (one a line, with or without "/"): `hangup`, `mute`, `unmute`,
`camera on|off`, `quit`. Ctrl-C hangs up the call in progress and ends the program.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

from client.cli.explain import explain
from client.cli.output import format_call, format_event, say, who
from client.cli.session import stdin_lines
from client.connection import CallState, ClientError, VoiceClient

T = TypeVar("T")

# How long a caller waits for an answer at most: the server ends a ringing call first
# (its ring timeout, 30 s by default) and says so.
RING_WAIT = 120.0
MEDIA_CONNECT = 15.0
_PRINTED = ("call_incoming", "call_state", "call_ended", "followed", "_disconnected",
            "_reconnected", "_closed", "_error")


def add_media_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tone", type=float, metavar="HZ",
                        help="say a sine tone of this frequency (a test microphone)")
    parser.add_argument("--publish", metavar="FILE",
                        help="say this audio file (WAV, MP3, ... through pydub), looped")
    parser.add_argument("--record", metavar="OUT.WAV",
                        help="record what you hear into a WAV file (answer: one file a call,"
                             " OUT.2.wav for the second, ...)")
    parser.add_argument("--seconds", type=float,
                        help="hang up after this many seconds in the call (default: until"
                             " the other side hangs up, `hangup` or Ctrl-C)")
    parser.add_argument("--no-camera", action="store_true",
                        help="in a video call, send no video (receive only)")
    parser.add_argument("--colour", default="40,90,200", metavar="R,G,B",
                        help="the generated camera's colour (default 40,90,200)")
    parser.add_argument("--no-input", action="store_true",
                        help="do not read commands from stdin")


class CallSession:
    def __init__(self, client: VoiceClient, args: argparse.Namespace) -> None:
        self.client = client
        self.args = args
        self.stop = asyncio.Event()
        self.hangup_asked = asyncio.Event()
        self.current: str | None = None
        self.media: Any = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.events = client.events()  # subscribed now: nothing is missed

    # ---- the session around the calls -----------------------------------------------------

    def start(self) -> None:
        self._spawn(self._pump_events())
        if not self.args.no_input:
            self._spawn(self._pump_input())
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.stop.set)

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        self.events.close()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _pump_events(self) -> None:
        async for event in self.events:
            if event.get("type") in _PRINTED:
                say(format_event(event))
            if event.get("type") == "_closed":
                self.stop.set()
                return

    async def _pump_input(self) -> None:
        lines = stdin_lines()
        while (line := await lines.get()) is not None:
            words = line.strip().lstrip("/").split()
            if words:
                await self._command(words[0], words[1:])

    async def _command(self, word: str, rest: list[str]) -> None:
        if word in ("quit", "exit"):
            self.stop.set()
        elif word == "hangup":
            self.hangup_asked.set()
        elif word in ("mute", "unmute") and self.media is not None:
            self.media.set_muted(word == "mute")
            say(f"{word}: ok")
        elif word == "camera" and self.media is not None and rest[:1] in (["on"], ["off"]):
            self.media.set_camera(rest[0] == "on")
            say(f"camera {rest[0]}: ok")
        else:
            say("commands: hangup; mute; unmute; camera on|off; quit")

    async def until_stopped(self, aw: Awaitable[T]) -> T | None:
        """`aw`'s result, or None when the user stops first (`aw` is then cancelled)."""
        task = asyncio.ensure_future(aw)
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ClientError):
            await task
        return None

    # ---- one call -------------------------------------------------------------------------

    async def run_call(self, call: CallState, record: Path | None) -> str:
        """From ringing (or active) to the end; the reason it ended."""
        call_id = str(call["id"])
        self.current = call_id
        self.hangup_asked.clear()
        try:
            try:
                call = await self.until_stopped(
                    self.client.wait_call(call_id, "active", "ended", timeout=RING_WAIT)) or call
            except ClientError as exc:
                if exc.code != "timeout":
                    raise
                # The server's ring timeout should have come long before: give up ourselves.
            if call.get("state") != "active" or self.client.ended_here(call_id):
                if call.get("state") == "ringing":  # the user gave up waiting
                    await self._hangup(call_id)
                    return "cancelled"
                return str(call.get("reason") or "ended")
            say(f"in call with {who(**_party(self.client.peer_of(call)))}")
            await self._start_media(call)
            ended = await self._talk(call_id)
            if ended is None:
                await self._hangup(call_id)
                return "hangup"
            return str(ended.get("reason") or "ended")
        finally:
            self.current = None
            await self._stop_media(record)

    async def _talk(self, call_id: str) -> CallState | None:
        """Until the call ends (its CallState) or we end it (None)."""
        seconds = self.args.seconds
        ending = asyncio.ensure_future(self.client.wait_call(call_id, timeout=1e9))
        asked = asyncio.ensure_future(self.hangup_asked.wait())
        stopped = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({ending, asked, stopped}, timeout=seconds,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (asked, stopped):
                task.cancel()
        if ending.done() and ending.exception() is None:
            return ending.result()
        ending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ClientError):
            await ending
        return None

    async def _hangup(self, call_id: str) -> None:
        try:
            await self.client.hangup(call_id)
            say("hangup: ok")
        except ClientError as exc:
            say(f"hangup: error {explain(exc)}")

    # ---- media ----------------------------------------------------------------------------

    async def _start_media(self, call: CallState) -> None:
        from client.call_media import CallMedia
        from client.video import PatternTrack

        args = self.args
        video = bool(call.get("video"))
        camera = None
        if video and not args.no_camera:
            camera = PatternTrack(_colour(args.colour))
        self.media = CallMedia(_source(args), video=video, camera=camera)
        try:
            await self.media.connect(self.client, str(call["id"]))
            await self.media.wait_connected(MEDIA_CONNECT)
        except ClientError as exc:
            say(f"webrtc_offer: error {explain(exc)}")
            return
        except (TimeoutError, ConnectionError) as exc:
            say(f"media: could not connect ({exc or 'timed out'})")
            return
        sending = "sending and " if self.media.source_track is not None else ""
        say(f"media: connected ({sending}receiving{' video' if video else ''})")

    async def _stop_media(self, record: Path | None) -> None:
        media, self.media = self.media, None
        if media is None:
            return
        await media.close()
        if record is not None:
            media.save_wav(record)
            say(f"media: recorded {media.recorder.seconds:.1f} s to {record}")
        if media.video is not None:
            sink = media.sink
            say(f"media: received {sink.frames} video frames ({sink.width}x{sink.height})")


def _party(party: dict[str, Any]) -> dict[str, Any]:
    return {"user": party.get("user"), "name": party.get("name")}


def _source(args: argparse.Namespace) -> Any:
    from audio.sources import FileSource, ToneSource

    if args.publish is not None:
        return FileSource(args.publish, loop=True)
    if args.tone is not None:
        return ToneSource(float(args.tone))
    return None


def _colour(text: str) -> tuple[int, int, int]:
    try:
        r, g, b = (max(0, min(255, int(part))) for part in text.split(","))
    except ValueError:
        raise SystemExit(f"error: --colour {text!r}: give R,G,B (0 to 255 each)") from None
    return r, g, b


__all__ = ["CallSession", "add_media_arguments", "format_call"]
