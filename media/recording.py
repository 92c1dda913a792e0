"""Recording a room on the node that mixes it: a tap on the room's session (media.taps).

Files, in the recordings folder (docs/protocol.md "Recording"):
- `ID.ogg`: the room's mix, the very packets its listeners get (no re-encode), one page per
  20 ms tick, the ticks the clock skipped as pages of Opus silence.
- `ID.USER.ogg`: each heard speaker's own Opus as received (no re-encode), on the same
  timeline as the mix: silence before their first packet (placed by its arrival tick), then
  each packet placed by its RTP sequence number (silence for those lost or not heard, e.g.
  while muted), unless it arrives 2 s or more after that place (the speaker sent nothing for
  a while: silence up to its arrival); a new connection's packets start where they arrive;
  duplicates and packets too late for their place are left out.
- `ID.json`: the timeline (what the server adds through `event`, each user's speaking spans,
  milliseconds from the start), rewritten whole (atomically) at most once a second.

Pages are collected in memory and handed to a writer thread once a second (`FLUSH_TICKS`):
a node killed at any moment leaves files that play up to the last second. A write that fails
(a full disk) stops the recording: `on_failed` is called once, nothing written is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audio.constants import FRAME_MS
from audio.jitter import seq_diff
from audio.ogg import SILENCE_PACKET, OggOpusPacket, OggOpusStream
from media.recording_files import RecordingFiles

log = logging.getLogger(__name__)

FLUSH_TICKS = 50  # a second of audio per write
JSON_EVERY = 1.0  # seconds between rewrites of the timeline (when it changed)
# Where a packet goes on a stem is told by its RTP sequence number (a stall of this process or
# of the network delays packets without moving their place). Only a packet that arrives this
# many ticks after its place means the speaker sent nothing for a while (a paused track):
# silence fills the time and the stem keeps to the room's clock.
LATE_TICKS = 100
# A sequence number this far from the last one is a new stream (the speaker's new
# connection): placed where it arrives.
NEW_STREAM = 1000
REORDERED = 100  # this far back: a duplicate or a packet too late for its place
MAX_RUN = 255  # silence packets on one page

Levels = Callable[[], Mapping[str, float]]


def silence_pages(stream: OggOpusStream, count: int) -> bytes:
    """``count`` ticks of silence, up to 255 to a page (an hour of it: ~0.7 MB, 706 pages)."""
    out = []
    while count > 0:
        run = min(count, MAX_RUN)
        out.append(stream.page(OggOpusPacket.run(SILENCE_PACKET, run)))
        count -= run
    return b"".join(out)


@dataclass(eq=False)
class Stem:
    """One speaker's file: where on the timeline its next packet goes, and its last seq."""

    name: str
    stream: OggOpusStream = field(default_factory=OggOpusStream)
    next_slot: int = 0
    last_seq: int | None = None
    dropped: int = 0  # duplicates and packets too late for their place


class Recorder:
    """A `MixTap` writing one recording. ``finish()`` ends it (the files get their last
    pages); ``ended()`` (the session stopped) finishes it too."""

    def __init__(self, recording_id: str, folder: Path, *, meta: dict[str, Any],
                 levels: Levels | None = None,
                 on_failed: Callable[[Recorder, OSError], None] | None = None,
                 files: RecordingFiles | None = None) -> None:
        self.id = recording_id
        self.files = files if files is not None else RecordingFiles(folder)
        self.meta = dict(meta)
        self.levels = levels
        self.on_failed = on_failed
        self.on_ended: Callable[[Recorder], None] | None = None
        self._ending: asyncio.Future[list[str]] | None = None
        self.mix = OggOpusStream()
        self.mix_name = f"{recording_id}.ogg"
        self.json_name = f"{recording_id}.json"
        self.stems: dict[str, Stem] = {}
        self.events: list[dict[str, Any]] = []
        self.speaking: dict[str, list[list[int | None]]] = {}
        self.start_tick: int | None = None
        self.last_tick: int | None = None
        self.started = time.monotonic()
        self.failed: OSError | None = None
        self.finished = False
        self._pending: dict[str, list[bytes]] = {self.mix_name: [self.mix.header()]}
        self._flushed_tick = 0
        self._json_dirty = True
        self._json_at = 0.0
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"rec-{recording_id}")
        self._writes: list[asyncio.Future[None]] = []
        self._done: asyncio.Future[list[str]] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._write_json(force=True)
        self._flush()

    # --- MixTap ----------------------------------------------------------------------------

    def mixed(self, tick: int, payload: bytes) -> None:
        if self.finished:
            return
        if self.start_tick is None:
            self.start_tick = tick
        last = self.last_tick
        out = self._pending[self.mix_name]
        if last is not None and tick > last + 1:
            out.append(silence_pages(self.mix, tick - last - 1))
        self.last_tick = tick
        out.append(self.mix.page(OggOpusPacket(payload)))
        if self.levels is not None:
            self._speaking(tick, self.levels())
        if tick - self._flushed_tick >= FLUSH_TICKS:
            self._flushed_tick = tick
            self._flush()
            self._write_json()

    def received(self, user: str, tick: int, seq: int, payload: bytes) -> None:
        if self.finished:
            return
        if self.start_tick is None:
            self.start_tick = tick
        slot = tick - self.start_tick  # where on the timeline it arrived
        stem = self.stems.get(user)
        if stem is None:
            stem = self.stems[user] = Stem(f"{self.id}.{user}.ogg")
            self._pending[stem.name] = [stem.stream.header()]
            self.event("stem", {"user": user, "file": stem.name})
        out = self._pending.setdefault(stem.name, [])
        step = NEW_STREAM if stem.last_seq is None else seq_diff(seq, stem.last_seq)
        if -REORDERED < step <= 0:
            stem.dropped += 1  # a duplicate, or too late: its place is written
            return
        if step >= NEW_STREAM or step <= -REORDERED:
            gap = max(0, slot - stem.next_slot)  # the first packet, or a new stream
        else:
            gap = step - 1  # lost on the way
            if slot - stem.next_slot - gap > LATE_TICKS:
                gap = slot - stem.next_slot  # they sent nothing for a while
        if gap:
            out.append(silence_pages(stem.stream, gap))
        stem.next_slot += gap + 1
        stem.last_seq = seq
        out.append(stem.stream.page(OggOpusPacket(payload)))

    def ended(self) -> None:
        """The room's media stopped (the room closed, the node is stopping): the owner
        (``on_ended``) finishes the recording, or it finishes itself."""
        if self.on_ended is not None:
            self.on_ended(self)
        else:
            self._ending = asyncio.ensure_future(self.finish())

    # --- the timeline ----------------------------------------------------------------------

    def now_ms(self) -> int:
        return round((time.monotonic() - self.started) * 1000)

    def event(self, kind: str, data: Mapping[str, Any]) -> None:
        """A line of the timeline, at the moment it is told."""
        if self.finished:
            return
        self.events.append({"at": self.now_ms(), "type": kind, **data})
        self._json_dirty = True

    def _speaking(self, tick: int, levels: Mapping[str, float]) -> None:
        at = (tick - (self.start_tick or tick)) * FRAME_MS
        now = {user for user, level in levels.items() if level > 0}
        for user in now:
            spans = self.speaking.setdefault(user, [])
            if not spans or spans[-1][1] is not None:
                spans.append([at, None])
                self._json_dirty = True
        for user, spans in self.speaking.items():
            if user not in now and spans and spans[-1][1] is None:
                spans[-1][1] = at
                self._json_dirty = True

    def timeline(self) -> dict[str, Any]:
        duration = 0 if self.start_tick is None or self.last_tick is None else \
            (self.last_tick - self.start_tick + 1) * FRAME_MS
        return {
            **self.meta,
            "id": self.id,
            "duration_ms": duration,
            "finished": self.finished,
            "files": {"mix": self.mix_name,
                      "stems": {user: stem.name for user, stem in self.stems.items()}},
            "events": self.events,
            "speaking": self.speaking,
        }

    # --- writing ---------------------------------------------------------------------------

    def _flush(self) -> None:
        batch = {name: b"".join(parts) for name, parts in self._pending.items() if parts}
        self._pending = {name: [] for name in self._pending}
        if batch and self.failed is None:
            self._submit(self.files.append, batch)

    def _write_json(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.failed is not None or not (force or (self._json_dirty
                                                     and now - self._json_at >= JSON_EVERY)):
            return
        self._json_dirty = False
        self._json_at = now
        data = json.dumps(self.timeline(), separators=(",", ":")).encode()
        self._submit(self.files.replace, self.json_name, data)

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._writer, fn, *args)
        self._writes.append(future)
        future.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[None]) -> None:
        if future in self._writes:
            self._writes.remove(future)
        exc = future.exception() if not future.cancelled() else None
        if exc is None or self.failed is not None:
            return
        if not isinstance(exc, OSError):
            exc = OSError(str(exc))
        self.failed = exc
        log.warning("recording %s stopped: %s", self.id, exc)
        self.finished = True
        if self.on_failed is not None:
            self.on_failed(self, exc)
        self._close()

    async def finish(self) -> list[str]:
        """End the recording: each file's last (EOS) page, the final timeline; returns the
        names of the files written."""
        if self._done is None:
            self._done = asyncio.get_running_loop().create_future()
            if not self.finished:
                self.finished = True
                self._pending[self.mix_name].append(self.mix.end())
                for stem in self.stems.values():
                    self._pending.setdefault(stem.name, []).append(stem.stream.end())
                self._flush()
                self._json_dirty = True
                self._write_json(force=True)
            await self._close()
            self._done.set_result(self.written())
        return await asyncio.shield(self._done)

    def written(self) -> list[str]:
        names = [self.mix_name, *(stem.name for stem in self.stems.values()), self.json_name]
        return [name for name in names if self.files.path(name).exists()]

    def _close(self) -> asyncio.Task[None]:
        """Wait for the writes, close the files, stop the writer thread (once)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_now())
        return self._closing

    async def _close_now(self) -> None:
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(self._writer, self.files.close)
        self._writer.shutdown(wait=False)
