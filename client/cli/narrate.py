"""What a room event means to the person at this terminal, with the room in mind (RoomView):
a request that left the queue because its user sat down was accepted, not cancelled; an
invitation says how to answer it; `speaking` lines come only when who speaks changes.
Events that need no room go to output.format_event as they are.
"""

from __future__ import annotations

from client.cli.output import format_event
from client.cli.roomview import RoomView
from client.connection import Event


def narrate(view: RoomView, event: Event, *, levels: bool = False) -> str | None:
    """Applies the event to `view`; the line to print, or None for nothing new to say.
    `levels`: print every `speaking` event as it came (its raw levels)."""
    kind = event.get("type")
    room = event.get("room")
    prefix = f"[{room}] " if room else ""
    if kind == "speaking":
        before = view.speakers()
        view.apply(event)
        if levels:
            return format_event(event)
        after = view.speakers()
        if after == before:
            return None
        return prefix + "speaking: " + (", ".join(view.name(u) for u in after) or "nobody")
    view.apply(event)
    user = event.get("user")
    if kind == "mic_request_cancelled" and isinstance(user, str):
        seat = view.seat_of(user)
        done = view.handled.pop(user, None)
        if seat is not None:
            return f"{prefix}mic queue: {view.name(user)} is on seat {seat} now"
        if done is not None:
            return f"{prefix}mic queue: {view.name(user)}'s request was {done}"
        # Cancelled, declined by another moderator, or gone: the event does not say which.
        return f"{prefix}mic queue: {view.name(user)} left the queue"
    if kind == "seat_invited":
        seat = event.get("seat")
        where = "a free seat" if seat is None else f"seat {seat}"
        return (f"{prefix}{view.name(event.get('by'))} invites you to {where}:"
                " type `yes` to take it or `no` to decline")
    if kind == "member_left" and isinstance(user, str):
        return f"{prefix}{view.name(user)} left"
    if kind == "role_changed" and isinstance(user, str):
        return f"{prefix}{view.name(user)} is now {event.get('role')}"
    return format_event(event)
