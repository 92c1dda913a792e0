"""Listening without WebRTC: a room's encoded mix as one Ogg Opus stream per HTTP listener.

One `ListenFeed` per room on this node, a tap on the room's session (media.taps): each
tick's packet, the very one the WebRTC listeners get, is laid out once as the shared tail of
an Ogg page (`OggOpusPacket`); each listener's `OggOpusStream` adds its own page header
(serial, sequence, granule), so a listener who comes late starts with its own header pages,
on a page boundary. Ticks the clock skipped become pages of Opus silence, so the granule
positions follow the room's 20 ms ticks.

Pages go out in batches of `batch_ticks` ticks: a player buffers seconds anyway, and one
write per listener per batch instead of per tick divides the system calls (the cost of an
HTTP listener) by the batch (docs/benchmarks.md, bench/http_listeners.py).

A listener that does not take its bytes is dropped once what it holds back is `behind`
seconds of audio: its bytes wait in its own buffer only, so nobody else waits for it.
The transport (HTTP framing, sockets) is the caller's: a `ListenerSink`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol

from audio.constants import FRAME_SECONDS
from audio.ogg import SILENCE_PACKET, OggOpusPacket, OggOpusStream

log = logging.getLogger(__name__)

BATCH_TICKS = 5  # 100 ms of audio per write
BEHIND_SECONDS = 5.0
# Ticks the clock skipped are filled with silence up to this many (the clock itself skips
# only after MAX_BEHIND_TICKS; a larger jump is a stalled process, not audio anyone missed).
MAX_GAP_TICKS = 250

_SILENCE = OggOpusPacket(SILENCE_PACKET)


class ListenerSink(Protocol):
    """Where one listener's bytes go (server/streams.py: an HTTP response body)."""

    def send(self, data: bytes) -> None:
        """Queue ``data``; never blocks."""

    def backlog(self) -> int:
        """Bytes sent but not yet taken by the network."""

    def finish(self, data: bytes) -> None:
        """The last bytes of the stream, then close."""

    def abort(self) -> None:
        """Close at once, dropping what is queued."""


class Listener:
    """One HTTP listener: its Ogg stream and what it has not taken yet."""

    __slots__ = ("_marks", "closed", "sink", "stream", "written")

    def __init__(self, sink: ListenerSink, serial: int | None = None) -> None:
        self.sink = sink
        self.stream = OggOpusStream(serial)
        self.written = 0
        # (bytes written when a batch ended, the tick its first page carried), oldest first:
        # the batches the network has not taken in full.
        self._marks: deque[tuple[int, int]] = deque()
        self.closed = False

    def start(self) -> None:
        header = self.stream.header()
        self.written += len(header)
        self.sink.send(header)

    def send(self, pages: list[OggOpusPacket], first_tick: int) -> None:
        page = self.stream.page
        data = page(pages[0]) if len(pages) == 1 else b"".join([page(p) for p in pages])
        self.written += len(data)
        self._marks.append((self.written, first_tick))
        self.sink.send(data)

    def behind_since(self) -> int | None:
        """The tick of the oldest page the network has not taken, or None: all taken."""
        backlog = self.sink.backlog()
        marks = self._marks
        if not backlog:
            marks.clear()
            return None
        taken = self.written - backlog
        while marks and marks[0][0] <= taken:
            marks.popleft()
        return marks[0][1] if marks else None


class ListenFeed:
    """A room's HTTP listeners on this node, fed by the session's tap (a `MixTap`).

    ``on_empty(feed)``: the last listener went (the owner detaches the tap);
    ``on_end(feed)``: the room's audio ended (each listener got its last page).
    """

    def __init__(
        self,
        room_id: str,
        *,
        batch_ticks: int = BATCH_TICKS,
        behind: float = BEHIND_SECONDS,
        on_empty: Callable[[ListenFeed], None] | None = None,
        on_end: Callable[[ListenFeed], None] | None = None,
    ) -> None:
        if batch_ticks < 1:
            raise ValueError("batch_ticks must be >= 1")
        self.room_id = room_id
        self.batch_ticks = batch_ticks
        self.behind_ticks = max(1, round(behind / FRAME_SECONDS))
        self.on_empty = on_empty
        self.on_end = on_end
        self.listeners: dict[Listener, None] = {}
        self.finished = False
        self.dropped = 0  # listeners dropped for being too far behind
        self._batch: list[OggOpusPacket] = []
        self._batch_tick = 0
        self._last_tick: int | None = None

    def __len__(self) -> int:
        return len(self.listeners)

    def add(self, sink: ListenerSink) -> Listener:
        """A new listener: its header pages go out now, the room's pages from the next
        batch on."""
        if self.finished:
            raise RuntimeError("the room's audio has ended")
        listener = Listener(sink)
        listener.start()
        self.listeners[listener] = None
        return listener

    def remove(self, listener: Listener) -> None:
        """The listener went (its connection closed)."""
        listener.closed = True
        if self.listeners.pop(listener, 0) is None and not self.listeners \
                and not self.finished and self.on_empty is not None:
            self.on_empty(self)

    # --- MixTap ----------------------------------------------------------------------------

    def mixed(self, tick: int, payload: bytes) -> None:
        batch = self._batch
        last = self._last_tick
        self._last_tick = tick
        if not batch:
            self._batch_tick = tick
        if last is not None and tick > last + 1:
            batch.extend([_SILENCE] * min(tick - last - 1, MAX_GAP_TICKS))
        batch.append(OggOpusPacket(payload))
        if len(batch) >= self.batch_ticks:
            self.flush()

    def received(self, user: str, tick: int, seq: int, payload: bytes) -> None:
        return None  # the mix only

    def ended(self) -> None:
        self.end()

    # --- writing ---------------------------------------------------------------------------

    def flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        first = self._batch_tick
        too_old = (self._last_tick or 0) - self.behind_ticks
        late: list[Listener] = []
        for listener in self.listeners:
            listener.send(batch, first)
            since = listener.behind_since()
            if since is not None and since <= too_old:
                late.append(listener)
        for listener in late:
            self.dropped += 1
            log.info("room %s: an HTTP listener fell %.0f s behind; dropped", self.room_id,
                     self.behind_ticks * FRAME_SECONDS)
            self.listeners.pop(listener, None)
            listener.closed = True
            listener.sink.abort()
        if late and not self.listeners and self.on_empty is not None:
            self.on_empty(self)

    def end(self) -> None:
        """The room's audio ended: what is batched goes out, then each stream's last page."""
        if self.finished:
            return
        self.flush()
        self.finished = True
        listeners = list(self.listeners)
        self.listeners.clear()
        for listener in listeners:
            listener.closed = True
            try:
                listener.sink.finish(listener.stream.end())
            except Exception:
                log.exception("room %s: ending an HTTP listener failed", self.room_id)
        if self.on_end is not None:
            self.on_end(self)
