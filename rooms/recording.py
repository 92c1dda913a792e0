"""Starting and stopping a room's recording (PURE): the host's, as room state.

docs/protocol.md "Recording". Each step works like `rooms.machine.apply` on a copy, returns an
`Outcome`, and raises `RoomError` changing nothing when refused (`banned`, `not_in_room`,
`forbidden` for anyone but the host, in the protocol's order). The recording itself (files,
the room's media) is the server's: it follows `Room.recording` and `recording_changed`.

- `start_recording` while a recording runs: the running one's `{id, started_at}`, nothing
  changes (a client that lost the reply may ask again).
- `stop_recording` while none runs: `wrong_mode` ("not recording").
- `recording_failed`: the server's, when it cannot go on (a full disk, the recording node
  lost): `recording_changed {active: false, by: null}` to all, `recording_error {id, reason,
  message}` to the host.
"""

from __future__ import annotations

from typing import Any

from protocol.errors import ErrorCode
from rooms.events import EventType
from rooms.model import Room
from rooms.recstate import Recording
from rooms.rules import Access, Tx, check_access
from rooms.values import SYSTEM, Actor, Outcome, RoomError


def _started(recording: Recording) -> dict[str, Any]:
    return {"recording": {"id": recording.id, "started_at": recording.started_at}}


def start_recording(room: Room, actor: Actor, recording_id: str, now: float) -> Outcome:
    """``recording_id`` is the server's (unique, safe as a file name)."""
    check_access(room, actor.user, Access.HOST)
    tx = Tx(room.copy(), actor, now)
    running = tx.room.recording
    if running is not None:
        tx.unchanged()
        return Outcome(tx.room, _started(running), tx.events)
    recording = Recording(recording_id, now, actor.user)
    tx.room.recording = recording
    tx.emit(EventType.RECORDING_CHANGED, {"active": True, "by": actor.user})
    tx.room.version = room.version + 1
    return Outcome(tx.room, _started(recording), tx.events)


def stop_recording(room: Room, actor: Actor, now: float) -> Outcome:
    """The reply holds `{recording: {id, seconds}}`; the server adds the files."""
    check_access(room, actor.user, Access.HOST)
    running = room.recording
    if running is None:
        raise RoomError(ErrorCode.WRONG_MODE, "the room is not being recorded")
    tx = Tx(room.copy(), actor, now)
    tx.room.recording = None
    tx.emit(EventType.RECORDING_CHANGED, {"active": False, "by": actor.user})
    tx.room.version = room.version + 1
    seconds = round(max(0.0, now - running.started_at), 3)
    return Outcome(tx.room, {"recording": {"id": running.id, "seconds": seconds}}, tx.events)


def recording_failed(room: Room, recording_id: str, reason: str, message: str,
                     now: float) -> Outcome:
    """The server stops recording ``recording_id`` (if it still runs) and tells the host why."""
    tx = Tx(room.copy(), SYSTEM, now)
    running = room.recording
    if running is None or running.id != recording_id:
        tx.unchanged()  # stopped already (by the host, or a failure told once)
        return Outcome(tx.room, {}, tx.events)
    tx.room.recording = None
    tx.emit(EventType.RECORDING_CHANGED, {"active": False, "by": None})
    tx.to_user(room.host, EventType.RECORDING_ERROR,
               {"id": recording_id, "reason": reason, "message": message})
    tx.room.version = room.version + 1
    return Outcome(tx.room, {}, tx.events)
