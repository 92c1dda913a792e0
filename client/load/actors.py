"""What the load test's clients do: an audience member's random walk, a host answering
requests and freeing seats now and then."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from client.connection import ClientError, Event, VoiceClient
from client.load.stats import Stats


class Actor:
    def __init__(
        self, client: VoiceClient, room: str, rng: random.Random, think: float, stats: Stats
    ) -> None:
        self.client = client
        self.room = room
        self.rng = rng
        self.think = think
        self.stats = stats

    def on_event(self, event: Event) -> None:
        raise NotImplementedError


class Audience(Actor):
    """One listener's behaviour: a random walk over what audience members do."""

    def __init__(
        self, client: VoiceClient, room: str, rng: random.Random, think: float, stats: Stats
    ) -> None:
        super().__init__(client, room, rng, think, stats)
        self.seat: int | None = None
        self.requested = False
        self.in_room = False
        self.chats = 0

    @property
    def seated(self) -> bool:
        return self.seat is not None

    def find_seat(self, seats: list[Any]) -> None:
        me = self.client.user
        self.seat = next(
            (s.get("index") for s in seats if isinstance(s, dict) and s.get("user") == me), None
        )

    def on_event(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "mic_accepted":
            self.seat, self.requested = event.get("seat"), False
        elif kind == "mic_rejected":
            self.requested = False
        elif kind == "seat_changed":
            seat = event.get("seat") or {}
            if seat.get("user") == self.client.user:
                self.seat = seat.get("index")
            elif seat.get("index") == self.seat:
                self.seat = None
        elif kind == "mode_changed":
            self.find_seat(event.get("seats") or [])
        elif kind in ("room_closed", "kicked"):
            self.in_room = self.requested = False
            self.seat = None

    async def act(self, deadline: float) -> None:
        c = self.client
        while time.monotonic() < deadline:
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.think)
            if time.monotonic() >= deadline:
                break
            try:
                if not self.in_room:
                    reply = await c.join_room(self.room)
                    self.in_room = True
                    self.find_seat(reply["room"].get("seats") or [])
                    continue
                roll = self.rng.random()
                if roll < 0.40:
                    self.chats += 1
                    await c.chat(self.room, f"hello #{self.chats} from {c.user}")
                elif roll < 0.62:
                    if self.seated:
                        await c.leave_seat(self.room)
                        self.seat = None
                    elif not self.requested:
                        await c.request_mic(self.room, note="load")
                        self.requested = True
                    else:
                        await c.cancel_mic_request(self.room)
                        self.requested = False
                elif roll < 0.72:
                    if self.seated:
                        await c.mute(self.room)
                        await c.unmute(self.room)
                elif roll < 0.82:
                    await c.list_rooms(limit=20)
                else:
                    await c.leave_room(self.room)
                    self.in_room = self.requested = False
                    self.seat = None
            except ClientError as exc:
                self.stats.note_client_error(exc)
                if exc.code == "not_seated":
                    self.seat = None
                elif exc.code == "no_such_request":
                    self.requested = False
                elif exc.code in ("already_seated", "already_requested"):
                    # Our view lagged behind the events: re-read the room.
                    self.in_room = False
                elif exc.code in ("closed", "connection_lost", "timeout"):
                    await asyncio.sleep(0.1)


class Host(Actor):
    """A room's host: accepts every request, frees a seat now and then."""

    def __init__(
        self, client: VoiceClient, room: str, rng: random.Random, think: float, stats: Stats
    ) -> None:
        super().__init__(client, room, rng, think, stats)
        self.requests: asyncio.Queue[str] = asyncio.Queue()
        self.seats: dict[int, str | None] = {}

    def on_event(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "mic_requested" and event.get("room") == self.room:
            self.requests.put_nowait(str(event.get("user")))
        elif kind == "seat_changed":
            seat = event.get("seat") or {}
            self.seats[int(seat.get("index", 0))] = seat.get("user")
        elif kind == "mode_changed":
            seats = event.get("seats") or []
            self.seats = {int(s.get("index", i)): s.get("user") for i, s in enumerate(seats)}

    async def answer(self, deadline: float) -> None:
        c = self.client
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                user = await asyncio.wait_for(self.requests.get(), remaining)
            except TimeoutError:
                return
            try:
                await c.accept_mic(self.room, user)
            except ClientError as exc:
                self.stats.note_client_error(exc)
                if exc.code == "seats_full":
                    try:
                        await c.reject_mic(self.room, user)
                    except ClientError as again:
                        self.stats.note_client_error(again)

    async def churn(self, deadline: float) -> None:
        c = self.client
        while time.monotonic() < deadline:
            await asyncio.sleep(self.rng.uniform(2.0, 4.0) * self.think)
            occupied = [i for i, user in self.seats.items() if user is not None]
            if occupied and time.monotonic() < deadline:
                try:
                    await c.kick_seat(self.room, self.rng.choice(occupied))
                except ClientError as exc:
                    self.stats.note_client_error(exc)
