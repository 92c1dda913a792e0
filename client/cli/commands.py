"""The words typed into `host` and `join`: one `add_command` each, grouped by who may use them.

Users are named by id or display name in any case (`accept Bob` finds `bob`, RoomView.resolve);
seats by their index as the output shows them.
"""

from __future__ import annotations

from typing import Any

from client.cli.output import format_state, who
from client.cli.session import RoomSession
from client.connection import Reply


def common_commands(session: RoomSession) -> None:
    """What anyone in a room can type."""
    c, room = session.client, session.room
    add = session.add_command
    # A member joining again gets the current state and changes nothing.
    add("state", "state (the room as it is now)", lambda a: c.join_room(room),
        show=lambda reply: [*format_state(reply.get("room") or {}),
                            f"you are {reply.get('role')}"])
    add("members", "members (everyone in the room)", lambda a: all_members(session),
        show=show_members)
    add("mute", "mute (your own mic; host or seated)", lambda a: c.mute(room))
    add("unmute", "unmute (your own mic)", lambda a: c.unmute(room))
    add("say", "say TEXT (chat, even if it starts with a command word)",
        lambda a: c.chat(room, " ".join(a)) if a else _usage(), show=lambda reply: [])


def seat_commands(session: RoomSession) -> None:
    """Seats, for everyone but the host (who speaks without one)."""
    c, room = session.client, session.room
    add = session.add_command
    add("take", "take SEAT", lambda a: c.take_seat(room, int(a[0])))
    add("switch", "switch SEAT", lambda a: c.switch_seat(room, int(a[0])))
    add("leave-seat", "leave-seat", lambda a: c.leave_seat(room))


def audience_commands(session: RoomSession) -> None:
    c, room = session.client, session.room
    add = session.add_command
    add("request", "request [NOTE] (ask for the mic)",
        lambda a: c.request_mic(room, note=" ".join(a) or None))
    add("cancel", "cancel (the mic request)", lambda a: c.cancel_mic_request(room))
    add("yes", "yes (accept an invitation)", lambda a: c.answer_invite(room, True))
    add("no", "no (decline an invitation)", lambda a: c.answer_invite(room, False))


def _seat_arg(a: list[str]) -> int | None:
    return int(a[1]) if len(a) > 1 else None


def moderator_commands(session: RoomSession) -> None:
    c, room = session.client, session.room
    add = session.add_command
    user = session.user_arg

    def reject(a: list[str]) -> Any:
        target = user(a[0])
        session.view.handled[target] = "rejected"  # its queue event then says so
        return c.reject_mic(room, target)

    add("accept", "accept USER [SEAT]", lambda a: c.accept_mic(room, user(a[0]), seat=_seat_arg(a)))
    add("reject", "reject USER", reject)
    add("invite", "invite USER [SEAT]",
        lambda a: c.invite_to_seat(room, user(a[0]), seat=_seat_arg(a)))
    add("kick-seat", "kick-seat SEAT", lambda a: c.kick_seat(room, int(a[0])))
    add("lock", "lock SEAT", lambda a: c.lock_seat(room, int(a[0])))
    add("unlock", "unlock SEAT", lambda a: c.unlock_seat(room, int(a[0])))
    add("mute-seat", "mute-seat SEAT", lambda a: c.mute_seat(room, int(a[0])))
    add("unmute-seat", "unmute-seat SEAT", lambda a: c.unmute_seat(room, int(a[0])))
    add("kick", "kick USER [ban]", lambda a: c.kick_member(room, user(a[0]), ban=a[1:2] == ["ban"]))
    add("admin", "admin USER on|off", lambda a: c.set_admin(room, user(a[0]), _on_off(a[1])))
    add("queue", "queue (who waits for the mic)", lambda a: _queue(session),
        show=lambda reply: reply["lines"])
    add("chatroom", "chatroom (open the chatroom)", lambda a: c.open_chatroom(room))
    add("live", "live (close the chatroom)", lambda a: c.close_chatroom(room))


async def all_members(session: RoomSession) -> Reply:
    """Every page of `list_members`; what it learns goes into the session's view."""
    members: list[dict[str, Any]] = []
    cursor = None
    while True:
        reply = await session.client.list_members(session.room, limit=200, cursor=cursor)
        members += reply.get("members") or []
        cursor = reply.get("cursor")
        if not cursor:
            break
    session.view.load_members(members)
    return {"members": members}


def show_members(reply: Reply) -> list[str]:
    lines = []
    for m in reply.get("members") or []:
        flags = [str(m.get("role"))]
        if m.get("seat") is not None:
            flags.append(f"seat {m['seat']}")
        if m.get("away"):
            flags.append("away")
        lines.append(f"  {who(m.get('user'), m.get('name'))} [{', '.join(flags)}]")
    return [f"{len(lines)} in the room:", *lines]


async def _queue(session: RoomSession) -> Reply:
    view = session.view
    lines = [f"  {n}. {view.name(u)}" for n, u in enumerate(view.queue, 1)]
    return {"lines": [f"{len(lines)} waiting for the mic" + (":" if lines else ""), *lines]}


def _on_off(word: str) -> bool:
    if word not in ("on", "off"):
        raise ValueError(word)
    return word == "on"


def _usage() -> Any:
    raise ValueError("no text")
