"""The CLI's picture of its room, kept from the events: seats, the mic queue, the members
it has heard of. It lets the output say what an event means here (a request that left the
queue because its user sat down was accepted, not cancelled; who speaks now, not every level)
and lets a typed `accept Bob` find the user `bob`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

# Levels are linear in dB from -60 dBFS; speech starts near -45 dBFS (the page's threshold).
SPEAKING_LEVEL = 0.2


class UnknownUser(ValueError):
    """A typed user that names nobody in the room (the message says who is close)."""


class RoomView:
    def __init__(self, me: str | None) -> None:
        self.me = me
        self.host: str | None = None
        self.seats: dict[int, str | None] = {}
        self.queue: list[str] = []
        self.names: dict[str, str] = {}  # user -> display name, of everyone heard of
        self.levels: dict[str, float] = {}
        self.handled: dict[str, str] = {}  # user -> what this session just did ("rejected")

    # --- what the server says ------------------------------------------------------------

    def load(self, state: Mapping[str, Any]) -> None:
        """A full RoomState (create/join reply, `room_state`, a re-read)."""
        host = state.get("host") or {}
        self.host = host.get("user")
        self._know(host.get("user"), host.get("name"))
        self.seats = {}
        for seat in state.get("seats") or []:
            self._seat(seat)
        self.queue = []
        for entry in state.get("queue") or []:
            self._know(entry.get("user"), entry.get("name"))
            if entry.get("user"):
                self.queue.append(str(entry["user"]))

    def load_members(self, members: Iterable[Mapping[str, Any]]) -> None:
        """A page of `list_members`."""
        for member in members:
            self._know(member.get("user"), member.get("name"))

    def apply(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        user = event.get("user")
        if kind == "room_state":
            self.load(event.get("state") or {})
        elif kind in ("member_joined", "mic_requested"):
            self._know(user, event.get("name"))
            if kind == "mic_requested" and isinstance(user, str) and user not in self.queue:
                self.queue.append(user)
        elif kind == "mic_request_cancelled" and user in self.queue:
            self.queue.remove(user)
        elif kind == "member_left" and isinstance(user, str):
            if user in self.queue:
                self.queue.remove(user)
        elif kind == "seat_changed":
            self._seat(event.get("seat") or {})
        elif kind == "mode_changed":
            self.seats = {}
            for seat in event.get("seats") or []:
                self._seat(seat)
        elif kind == "chat_message":
            self._know(user, event.get("name"))
        elif kind == "speaking":
            for who, level in (event.get("levels") or {}).items():
                self.levels[str(who)] = float(level or 0.0)

    def _seat(self, seat: Mapping[str, Any]) -> None:
        index = seat.get("index")
        if isinstance(index, int):
            self.seats[index] = seat.get("user")
            self._know(seat.get("user"), seat.get("name"))

    def _know(self, user: Any, name: Any) -> None:
        if isinstance(user, str) and user:
            self.names[user] = str(name) if name else self.names.get(user, user)

    # --- reading it --------------------------------------------------------------------------

    def seat_of(self, user: str) -> int | None:
        return next((i for i, u in self.seats.items() if u == user), None)

    def name(self, user: Any) -> str:
        """`Name (id)`, or the id alone when the name says nothing more."""
        if not isinstance(user, str):
            return "someone"
        name = self.names.get(user)
        return f"{name} ({user})" if name and name != user else user

    def speakers(self) -> list[str]:
        """Who is speaking now (the level above speech), host first then by seat."""
        loud = {u for u, level in self.levels.items() if level >= SPEAKING_LEVEL}
        order = [self.host, *(self.seats[i] for i in sorted(self.seats))]
        ranked = [u for u in order if u in loud]
        return ranked + sorted(loud - set(ranked))

    def resolve(self, word: str) -> str:
        """The user id `word` means: an id as typed, else an id or a display name whatever
        its case. Else UnknownUser, naming the ids that come close."""
        known = dict(self.names)
        if word in known:
            return word
        folded = word.casefold()
        by_id = [u for u in known if u.casefold() == folded]
        by_name = [u for u, n in known.items() if n.casefold() == folded]
        for matches in (by_id, by_name):
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise UnknownUser(f"{word!r} could be " + ", ".join(
                    self.name(u) for u in sorted(matches)) + ": type the id")
        labels = {u.casefold(): u for u in known} | {n.casefold(): u for u, n in known.items()}
        close = difflib.get_close_matches(folded, list(labels), n=3, cutoff=0.6)
        hint = ("; close: " + ", ".join(dict.fromkeys(self.name(labels[c]) for c in close))
                if close else "; `members` lists who is here")
        raise UnknownUser(f"nobody called {word!r} in this room{hint}")
