"""What happened to rooms, for the operator's log: one INFO line per thing that matters to a
room as a whole (created, closed and why, mode switched, someone kicked or banned, an admin
named); joins, leaves and seat moves at DEBUG. Logged by the node that committed the change,
so a cluster's logs together tell each thing once.

Extra fields (`room`, `user`, `event`) ride on each record for `--log-format json`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from rooms.events import Event, EventType
from rooms.model import Room
from rooms.values import Actor

log = logging.getLogger("voiceroom.rooms")


def created(room: Room, actor: Actor) -> None:
    log.info("room %s created by %s: %r, %d chatroom seats, seats by %s", room.id, actor.user,
             room.title, room.seat_count, room.seat_mode.value,
             extra={"room": room.id, "user": actor.user, "event": "room_created"})


def committed(room_id: str, actor: Actor, events: Iterable[Event]) -> None:
    """The events of one committed command, told as the operator wants to read them."""
    for event in events:
        line = _line(room_id, actor, event)
        if line is None:
            continue
        level, text, user = line
        if log.isEnabledFor(level):
            log.log(level, "room %s %s", room_id, text,
                    extra={"room": room_id, "user": user, "event": event.type.value})


def _line(room_id: str, actor: Actor, event: Event) -> tuple[int, str, str] | None:
    by = actor.user or "the server"  # SYSTEM: a grace period ran out
    data = event.data
    kind = event.type
    if kind is EventType.ROOM_CLOSED:
        reason = data.get("reason")
        if reason == "host_left":
            why = (f"the host {actor.user} left" if actor.user
                   else "the host did not come back within the grace")
        else:
            why = f"closed by {by}" if reason == "closed" else str(reason)
        return logging.INFO, f"closed: {why}", actor.user
    if kind is EventType.MODE_CHANGED:
        how = "automatically (mic requests)" if data.get("auto") else f"by {by}"
        return logging.INFO, f"is now {data.get('mode')}, {how}", actor.user
    if kind is EventType.KICKED:
        user = next(iter(event.to)) if event.to else "?"
        return logging.INFO, f"{user} {data.get('reason', 'kicked')} by {by}", user
    if kind is EventType.ROLE_CHANGED:
        user = str(data.get("user"))
        return logging.INFO, f"{user} is now {data.get('role')} (by {by})", user
    if kind is EventType.JOINED:
        return logging.DEBUG, f"{data.get('user')} joined", str(data.get("user"))
    if kind is EventType.GONE:
        return logging.DEBUG, f"{data.get('user')} left", str(data.get("user"))
    if kind is EventType.SEAT_CHANGED:
        seat = data.get("seat") or {}
        return (logging.DEBUG, f"seat {seat.get('index')}: {seat.get('user') or 'free'}",
                str(seat.get("user") or actor.user))
    return None
