"""Recordings on this node: a `Recorder` (media.recording) per room this node mixes while the
room's state says it is being recorded.

The room's state is the truth (`Room.recording`, changed by `start_recording`,
`stop_recording` and failures through rooms.recording); this follows it on every batch of the
room's events (a delivery follower), on the node that mixes the room (the only node, or the
cluster's media owner):
- `recording_changed {active: true}` with the room's recording: a recorder starts (a tap on
  the room's session, which is started if nobody has media yet);
- the recording gone from the state, or another one, or the room closed: the recorder
  finishes its files;
- the state says recording but this node never recorded it (the node that did died, this
  one took the room over): the recording is ended as failed (`node_lost`), so the room
  never claims to record when nothing does. Its files end at the last second written.
The batch's events go to the running recorder's timeline.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from media.recording import Recorder
from rooms.events import Event, EventType
from rooms.model import Room
from rooms.recording import recording_failed
from rooms.values import SYSTEM, Actor, Outcome

log = logging.getLogger(__name__)

# What goes into a recording's timeline (besides speaking spans, stems and host mutes).
TIMELINE = frozenset({
    EventType.MEMBER_JOINED, EventType.MEMBER_LEFT, EventType.SEAT_CHANGED,
    EventType.MODE_CHANGED, EventType.ROLE_CHANGED, EventType.KICKED, EventType.CHAT_MESSAGE,
    EventType.MIC_ACCEPTED, EventType.VOICE_EFFECT, EventType.SOUND_PLAYED,
    EventType.MUSIC_STATE, EventType.GAME_EVENT, EventType.RECORDING_CHANGED,
})

Step = Callable[[Room, Actor, float], Outcome]


class RecordingMedia(Protocol):
    """media.engine.MediaEngine, as recording uses it."""

    def add_tap(self, room: Room, tap: Any) -> None: ...

    def remove_tap(self, room_id: str, tap: Any) -> Any: ...

    def speaking_levels(self, room_id: str) -> Mapping[str, float]: ...


def new_recording_id(room_id: str, now: float) -> str:
    """Unique, and safe in a file name (A-Z a-z 0-9 _ -, no dot: `ID.USER.ogg` splits)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return f"{room_id}-{stamp}-{secrets.token_hex(2)}"


class Recordings:
    def __init__(self, folder: Path | None, *, media: RecordingMedia | None,
                 update: Callable[[Actor, str, Step], Awaitable[Outcome]],
                 deliver: Callable[[str, Outcome], Awaitable[None]],
                 owns: Callable[[str], bool] | None = None) -> None:
        self.folder = folder
        self.media = media
        self.update = update
        self.deliver = deliver
        # Whether this node mixes the room (a cluster's media owner); None: one node.
        self.owns = owns
        self.recorders: dict[str, Recorder] = {}
        self._host_muted: dict[str, bool] = {}
        self._done_ids: set[str] = set()  # recorded here and ended: never again
        self._finishing: dict[str, asyncio.Task[list[str]]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def enabled(self) -> bool:
        return self.folder is not None and self.media is not None

    def _mixes_here(self, room_id: str) -> bool:
        return self.media is not None and (self.owns is None or self.owns(room_id))

    # --- following the room ----------------------------------------------------------------

    def follow(self, room_id: str, room: Room | None, events: Sequence[Event]) -> None:
        recorder = self.recorders.get(room_id)
        if recorder is not None:
            for event in events:
                if event.type in TIMELINE:
                    recorder.event(event.type.value, event.data)
            if room is not None and room.host_self_muted != self._host_muted.get(room_id):
                self._host_muted[room_id] = room.host_self_muted
                recorder.event("host_muted", {"user": room.host, "muted": room.host_self_muted})
        if room is None:
            if recorder is not None:
                recorder.event("room_closed", {})
                self.finish(room_id)
            return
        running = room.recording
        if recorder is not None and (running is None or running.id != recorder.id):
            self.finish(room_id)
            recorder = None
        if running is None or recorder is not None or running.id in self._done_ids \
                or not self._mixes_here(room_id):
            return
        started = any(e.type is EventType.RECORDING_CHANGED and e.data.get("active")
                      for e in events)
        if started and self.enabled:
            self._start(room, running.id)
        else:
            self._done_ids.add(running.id)
            self._spawn(self._fail(room_id, running.id, "node_lost",
                                   "the node that recorded this room is gone; the files end "
                                   "where it stopped"))

    def _start(self, room: Room, recording_id: str) -> None:
        assert self.folder is not None and self.media is not None
        media = self.media
        rec = room.recording
        meta = {"room": room.id, "title": room.title, "host": room.host,
                "started_at": rec.started_at if rec is not None else time.time(),
                "by": rec.by if rec is not None else room.host,
                "start": {"members": sorted(room.members), "seats": room.seats_wire(),
                          "host_muted": room.host_self_muted}}
        try:
            recorder = Recorder(recording_id, self.folder, meta=meta,
                                levels=lambda: media.speaking_levels(room.id),
                                on_failed=self._failed)
            media.add_tap(room, recorder)
        except Exception as exc:
            log.exception("room %s: recording %s could not start", room.id, recording_id)
            self._done_ids.add(recording_id)
            self._spawn(self._fail(room.id, recording_id, "io_error",
                                   f"the recording could not start: {exc}"))
            return
        recorder.on_ended = lambda r: self._ended(room.id, r)
        self.recorders[room.id] = recorder
        self._host_muted[room.id] = room.host_self_muted
        log.info("room %s: recording %s started", room.id, recording_id)

    def finish(self, room_id: str, *, last: tuple[str, dict[str, Any]] | None = None,
               ) -> asyncio.Task[list[str]] | None:
        """Stop the room's recorder (if any) and finish its files, ``last`` the timeline's
        last line; the task gives the files' names."""
        recorder = self.recorders.pop(room_id, None)
        self._host_muted.pop(room_id, None)
        if recorder is None:
            return None
        if last is not None:
            recorder.event(*last)
        self._done_ids.add(recorder.id)
        if self.media is not None:
            self.media.remove_tap(room_id, recorder)
        task = asyncio.ensure_future(recorder.finish())
        self._finishing[recorder.id] = task
        task.add_done_callback(lambda _: self._finishing.pop(recorder.id, None))
        log.info("room %s: recording %s finished", room_id, recorder.id)
        return task

    async def files_of(self, recording_id: str) -> list[str]:
        """The files of a recording this node finished or is finishing (waits for them), else
        those the folder holds (a shared folder in a cluster)."""
        task = self._finishing.get(recording_id)
        if task is not None:
            return await asyncio.shield(task)
        if self.folder is None:
            return []
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, _listed, self.folder, recording_id)

    async def close(self) -> None:
        for room_id in list(self.recorders):
            self.finish(room_id)
        await asyncio.gather(*self._finishing.values(), *self._tasks, return_exceptions=True)

    # --- failures --------------------------------------------------------------------------

    def _ended(self, room_id: str, recorder: Recorder) -> None:
        # The room's media stopped (it closed, this node lost it or is stopping). A closing
        # room's batch reaches `follow` right after: it finishes with the timeline's last line.
        def later() -> None:
            if self.recorders.get(room_id) is recorder:
                self.finish(room_id, last=("media_ended", {}))

        asyncio.get_running_loop().call_soon(later)

    def _failed(self, recorder: Recorder, exc: OSError) -> None:
        room_id = next((r for r, rec in self.recorders.items() if rec is recorder), None)
        if room_id is None:
            return
        self.finish(room_id)
        full = exc.errno == 28  # ENOSPC
        self._spawn(self._fail(room_id, recorder.id, "disk_full" if full else "io_error",
                               f"the recording stopped: {exc.strerror or exc}; what was "
                               "written before is kept"))

    async def _fail(self, room_id: str, recording_id: str, reason: str, message: str) -> None:
        def step(room: Room, actor: Actor, now: float) -> Outcome:
            return recording_failed(room, recording_id, reason, message, now)

        try:
            outcome = await self.update(SYSTEM, room_id, step)
            await self.deliver(room_id, outcome)
        except Exception:
            log.exception("room %s: telling that recording %s stopped failed", room_id,
                          recording_id)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _listed(folder: Path, recording_id: str) -> list[str]:
    prefix = recording_id + "."
    try:
        return sorted(p.name for p in folder.iterdir() if p.name.startswith(prefix)
                      and p.suffix in (".ogg", ".json"))
    except OSError:
        return []
