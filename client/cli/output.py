"""The CLI's output: one readable line per event, flushed, so other programs can read it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from client.connection import Event


def who(user: Any, name: Any) -> str:
    if user is None:
        return "(empty)"
    return f"{name} ({user})" if name and name != user else str(user)


def format_seat(seat: dict[str, Any]) -> str:
    flags = [flag for flag in ("muted", "self_muted", "locked", "away") if seat.get(flag)]
    text = f"seat {seat.get('index')}: {who(seat.get('user'), seat.get('name'))}"
    return text + (f" [{', '.join(flags)}]" if flags else "")


def format_state(state: dict[str, Any]) -> list[str]:
    host = state.get("host") or {}
    lines = [
        f"room {state.get('id')} \"{state.get('title')}\""
        f" host {who(host.get('user'), host.get('name'))}"
        f" mode {state.get('mode')} seat_mode {state.get('seat_mode')}"
        f" audience {state.get('audience_count')}"
    ]
    lines += ["  " + format_seat(seat) for seat in state.get("seats") or []]
    if state.get("admins"):
        lines.append("  admins: " + ", ".join(map(str, state["admins"])))
    queue = state.get("queue")
    if queue:
        lines.append("  queue: " + ", ".join(who(q.get("user"), q.get("name")) for q in queue))
    return lines


def format_call(call: dict[str, Any]) -> str:
    """`video call c1 from Ada (ada) to bob: active [bob away]`."""
    caller, callee = call.get("caller") or {}, call.get("callee") or {}
    away = [str(p.get("user")) for p in (caller, callee) if p.get("away")]
    app = f" in {caller['app']}" if caller.get("app") else ""
    text = (f"{'video ' if call.get('video') else ''}call {call.get('id')}"
            f" from {who(caller.get('user'), caller.get('name'))}{app}"
            f" to {who(callee.get('user'), callee.get('name'))}: {call.get('state')}")
    if call.get("reason"):
        text += f" ({call['reason']})"
    return text + (f" [{', '.join(away)} away]" if away else "")


def format_game(event: Event) -> str:
    """`Ada (ada) rolled 3 + 5 = 8`, `Ada (ada) drew a truth card: ...`."""
    player = who(event.get("user"), event.get("name"))
    result = event.get("result") or {}
    if event.get("game") == "dice":
        values = [int(v) for v in result.get("values") or []]
        rolled = " + ".join(map(str, values)) + (f" = {sum(values)}" if len(values) > 1 else "")
        return f"{player} rolled {rolled}"
    deck = str(result.get("deck"))
    return f"{player} drew {'an' if deck[:1] in 'aeiou' else 'a'} {deck} card: {result.get('text')}"


def format_music(event: Event) -> str:
    if not event.get("playing"):
        return f"music: stopped (volume {event.get('volume')})"
    loop = ", looping" if event.get("loop") else ""
    return f"music: {event.get('track')} playing{loop} (volume {event.get('volume')})"


_EVENT_TEXT: dict[str, Callable[[Event], str]] = {
    "audience_changed": lambda e: f"audience: {e.get('count')}",
    "role_changed": lambda e: f"{e.get('user')} is now {e.get('role')}",
    "member_joined": lambda e: f"{who(e.get('user'), e.get('name'))} joined as {e.get('role')}",
    "member_left": lambda e: f"{e.get('user')} left",
    "mic_requested": lambda e: (
        f"mic request from {who(e.get('user'), e.get('name'))} (position {e.get('position')})"
        + (f": {e['note']}" if e.get("note") else "")
    ),
    "mic_request_cancelled": lambda e: f"{e.get('user')} cancelled their mic request",
    "mic_accepted": lambda e: f"your mic request was accepted: seat {e.get('seat')}",
    "mic_rejected": lambda e: "your mic request was rejected",
    "seat_changed": lambda e: format_seat(e.get("seat") or {}),
    "mode_changed": lambda e: (
        f"mode is now {e.get('mode')}{' (automatic)' if e.get('auto') else ''},"
        f" {len(e.get('seats') or [])} seat(s)"
    ),
    "seat_invited": lambda e: f"{e.get('by')} invites you to seat {e.get('seat')}",
    "speaking": lambda e: "speaking: " + ", ".join(
        f"{user} {level:.2f}" for user, level in sorted((e.get("levels") or {}).items())
    ),
    "chat_message": lambda e: f"<{who(e.get('user'), e.get('name'))}> {e.get('text')}",
    "kicked": lambda e: f"you were removed from the room ({e.get('reason')})",
    "replaced": lambda e: "a newer connection of yours took over this room",
    "room_closed": lambda e: f"room closed ({e.get('reason')})",
    "followed": lambda e: (
        f"{who(e.get('user'), e.get('name'))} follows you"
        + (" (friends: you follow each other)" if e.get("mutual") else "")
    ),
    "call_incoming": lambda e: f"incoming {format_call(e.get('call') or {})}",
    "call_state": lambda e: format_call(e.get("call") or {}),
    "call_ended": lambda e: (
        f"call {(e.get('call') or {}).get('id')} ended"
        f" ({e.get('reason') or (e.get('call') or {}).get('reason')})"
    ),
    "game_event": format_game,
    "sound_played": lambda e: f"{e.get('user')} played the sound {e.get('sound')}",
    "voice_effect": lambda e: f"{e.get('user')}'s voice effect: {e.get('effect')}",
    "music_state": format_music,
    "_disconnected": lambda e: f"connection lost (code {e.get('code')}), reconnecting",
    "_reconnected": lambda e: "reconnected; rejoined " + (", ".join(e.get("rooms") or []) or "-"),
    "_rejoin_failed": lambda e: f"could not rejoin {e.get('room')}: {e.get('code')}",
    "_closed": lambda e: f"connection closed ({e.get('reason')})",
    "_error": lambda e: f"server error {e.get('code')}: {e.get('message')}",
}


def format_event(event: Event) -> str:
    """One readable line for an event (the room first, when it has one)."""
    kind = str(event.get("type"))
    if kind == "room_state":
        return "\n".join(format_state(event.get("state") or {}))
    render = _EVENT_TEXT.get(kind)
    if render is not None:
        try:
            text = render(event)
        except (TypeError, ValueError, AttributeError):
            text = json.dumps(event, default=str)
    else:
        rest = {k: v for k, v in event.items() if k not in ("type", "room")}
        text = f"{kind} {json.dumps(rest, default=str, ensure_ascii=False)}"
    room = event.get("room")
    return f"[{room}] {text}" if room else text


def say(text: str, out: TextIO | None = None) -> None:
    print(text, file=out or sys.stdout, flush=True)
