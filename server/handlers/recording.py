"""Recording verbs (docs/protocol.md "Recording"): `start_recording`, `stop_recording`.

The step is the room's (rooms.recording: host only, the state every node and joiner sees);
the files are this node's (server/recording.py follows the state where the room is mixed).
A server without `--recordings DIR` refuses both with `forbidden` ("recording is off"), after
the room's own checks, so that a stranger learns nothing more than elsewhere.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import StartRecording, StopRecording
from rooms.model import Room
from rooms.recording import start_recording, stop_recording
from rooms.rules import Access, check_access
from rooms.values import Actor, Outcome, RoomError
from server.delivery import Delivery
from server.handlers.rooms import actor_of
from server.handlers.table import HandlerTable, Request
from server.recording import Recordings, new_recording_id
from server.recording_route import RecordingRoute

log = logging.getLogger(__name__)

OFF = "recording is off on this server (it runs without --recordings DIR)"


class RecordingHandlers:
    def __init__(self, service: Any, delivery: Delivery, recordings: Recordings, *,
                 cluster: Any | None = None) -> None:
        self.service = service  # services.rooms.RoomService: update, get_room
        self.delivery = delivery
        self.recordings = recordings
        self.cluster = cluster  # cluster.cluster.Cluster, or None

    def register(self, table: HandlerTable) -> None:
        table.register(StartRecording, self.start)
        table.register(StopRecording, self.stop)
        self.delivery.followers.append(self.recordings.follow)

    async def _refuse_when_off(self, actor: Actor, room_id: str) -> None:
        if self.recordings.enabled:
            return
        room = await self.service.get_room(room_id)
        if room is None:
            raise RoomError(ErrorCode.NO_SUCH_ROOM, f"no room {room_id!r}")
        check_access(room, actor.user, Access.HOST)
        raise ProtocolError(ErrorCode.FORBIDDEN, OFF)

    async def start(self, request: Request) -> None:
        command: StartRecording = request.command
        actor = actor_of(request.conn)
        await self._refuse_when_off(actor, command.room)
        recording_id = new_recording_id(command.room, time.time())

        def step(room: Room, actor: Actor, now: float) -> Outcome:
            return start_recording(room, actor, recording_id, now)

        in_flight = self.delivery.begin(request.conn, command.room)
        try:
            outcome = await self.service.update(actor, command.room, step)
            if self.cluster is not None and outcome.events:
                # The room's media node records; a room nobody has media for yet is claimed
                # here, before this node's delivery, which then starts the recorder.
                await self.cluster.media_node(command.room)
            request.ok(**outcome.reply)
            await self._deliver(in_flight, outcome)
        finally:
            self.delivery.end(in_flight)

    async def stop(self, request: Request) -> None:
        command: StopRecording = request.command
        actor = actor_of(request.conn)
        await self._refuse_when_off(actor, command.room)
        in_flight = self.delivery.begin(request.conn, command.room)
        try:
            outcome = await self.service.update(actor, command.room, stop_recording)
            reply = dict(outcome.reply["recording"])
            # Finished here before the reply, so that it can name the files written.
            self.recordings.finish(command.room, last=(
                "recording_changed", {"active": False, "by": actor.user}))
            reply["files"] = await self.recordings.files_of(reply["id"])
            request.ok(recording=reply)
            await self._deliver(in_flight, outcome)
        finally:
            self.delivery.end(in_flight)

    async def _deliver(self, in_flight: Any, outcome: Outcome) -> None:
        try:
            await self.delivery.answered(in_flight, outcome)
        except Exception:
            log.exception("delivery after a recording verb failed")


def build_recording(settings: Any, service: Any, delivery: Delivery, media: Any | None,
                    cluster: Any | None, table: HandlerTable) -> tuple[Recordings,
                                                                      RecordingRoute]:
    """Recording wired in (server/app.py): the verbs, the follower, the download route."""
    folder = getattr(settings, "recordings", None)
    recordings = Recordings(folder, media=media, update=service.update,
                            deliver=delivery.deliver_outcome,
                            owns=cluster.owns if cluster is not None else None)
    RecordingHandlers(service, delivery, recordings, cluster=cluster).register(table)
    return recordings, RecordingRoute(settings.secret, folder)
