"""Random commands from many users over a few rooms, checked after every step.

The rooms live in a real MemoryStore (driven without an event loop: its commit must never
suspend, which is what makes it atomic). After every step: docs/protocol.md invariants 1-4 hold,
a refused command changed nothing, every change bumped the version by exactly one, and the
change's delta (rooms.delta) applied to the old room gives the new one.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from protocol.schema import (
    AcceptMic,
    AnswerInvite,
    CancelMicRequest,
    Chat,
    CloseChatroom,
    CloseRoom,
    CreateRoom,
    InviteToSeat,
    JoinRoom,
    KickMember,
    KickSeat,
    LeaveRoom,
    LeaveSeat,
    LockSeat,
    Mode,
    Mute,
    MuteSeat,
    OpenChatroom,
    RejectMic,
    RequestMic,
    SeatMode,
    SetAdmin,
    SwitchSeat,
    TakeSeat,
    UnlockSeat,
    Unmute,
    UnmuteSeat,
)
from rooms.delta import apply_delta, room_delta
from rooms.machine import SYSTEM, Actor, Disconnect, Expire, Outcome, RoomError, apply, create_room
from rooms.model import Room
from store.memory import MemoryStore
from tests.rooms.roomkit import check_invariants

T = TypeVar("T")
SLOTS = 2
HOSTS = [f"h{i}" for i in range(SLOTS)]
USERS = [*HOSTS, *(f"u{i}" for i in range(8))]


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a MemoryStore coroutine to its end in one step; it must not suspend."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise AssertionError("MemoryStore suspended inside a call")


SEATS = st.integers(-1, 8)
NOTES = st.sampled_from(["", "pick me"])
TEXTS = st.sampled_from(["hi", ""])


def user_arg(data: st.DataObject, room: Room) -> str:
    """A user argument: mostly members or queued users, sometimes anyone."""
    pools = [USERS, sorted(room.members)]
    if room.queue:
        pools.append([request.user for request in room.queue])
    pool = data.draw(st.sampled_from(pools), label="pool")
    return data.draw(st.sampled_from(pool), label="user")


def seat_arg(data: st.DataObject, room: Room) -> int:
    """Mostly a seat of the current mode, sometimes any index (bad ones included)."""
    if data.draw(st.booleans(), label="any seat"):
        return data.draw(SEATS, label="seat")
    return data.draw(st.integers(0, len(room.seats) - 1), label="seat")


def maybe_seat(data: st.DataObject, room: Room) -> int | None:
    return None if data.draw(st.booleans(), label="no seat") else seat_arg(data, room)


Maker = Callable[[st.DataObject, Room], object]

# (weight, how to make one command for a room)
MAKERS: list[tuple[int, Maker]] = [
    (6, lambda d, r: RequestMic(r.id, d.draw(NOTES))),
    (6, lambda d, r: AcceptMic(r.id, user_arg(d, r), maybe_seat(d, r))),
    (6, lambda d, r: TakeSeat(r.id, seat_arg(d, r))),
    (3, lambda d, r: InviteToSeat(r.id, user_arg(d, r), maybe_seat(d, r))),
    (3, lambda d, r: AnswerInvite(r.id, d.draw(st.booleans()))),
    (2, lambda d, r: SwitchSeat(r.id, seat_arg(d, r))),
    (2, lambda d, r: LeaveSeat(r.id)),
    (2, lambda d, r: CancelMicRequest(r.id)),
    (2, lambda d, r: RejectMic(r.id, user_arg(d, r))),
    (2, lambda d, r: OpenChatroom(r.id)),
    (1, lambda d, r: CloseChatroom(r.id)),
    (1, lambda d, r: KickSeat(r.id, seat_arg(d, r))),
    (1, lambda d, r: LockSeat(r.id, seat_arg(d, r))),
    (1, lambda d, r: UnlockSeat(r.id, seat_arg(d, r))),
    (1, lambda d, r: MuteSeat(r.id, seat_arg(d, r))),
    (1, lambda d, r: UnmuteSeat(r.id, seat_arg(d, r))),
    (1, lambda d, r: Mute(r.id)),
    (1, lambda d, r: Unmute(r.id)),
    (1, lambda d, r: KickMember(r.id, user_arg(d, r), d.draw(st.booleans()))),
    (2, lambda d, r: SetAdmin(r.id, user_arg(d, r), d.draw(st.booleans()))),
    (1, lambda d, r: Chat(r.id, d.draw(TEXTS))),
    (1, lambda d, r: LeaveRoom(r.id)),
    (1, lambda d, r: CloseRoom(r.id)),  # last: the shrinker moves away from closing
]
MAKER_TABLE = [make for weight, make in MAKERS for _ in range(weight)]
MAKER_INDEX = st.integers(0, len(MAKER_TABLE) - 1)


def draw_command(data: st.DataObject, room: Room) -> object:
    return MAKER_TABLE[data.draw(MAKER_INDEX, label="command")](data, room)


def without_version(room: Room) -> dict[str, Any]:
    data = room.to_dict()
    del data["version"]
    return data


class Rooms(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        self.now = 1000.0
        self.generation = 0
        self.slots: list[str | None] = [None] * SLOTS
        # FCFS model of each room's queue: users in the order their request_mic succeeded
        self.expected_queue: dict[str, list[str]] = {}

    # -- helpers ---------------------------------------------------------------------------

    def load(self, room_id: str) -> Room | None:
        return run_sync(self.store.load(room_id))

    def rooms(self) -> list[Room]:
        loaded = [self.load(room_id) for room_id in self.slots if room_id is not None]
        return [room for room in loaded if room is not None]

    def execute(self, room_id: str, actor: Actor, cmd: object) -> None:
        room = self.load(room_id)
        assert room is not None
        before = room.to_dict()
        try:
            outcome = apply(room, actor, cmd, self.now)
        except RoomError as exc:
            event(f"{type(cmd).__name__}: {exc.code.value}")
            assert exc.code and exc.message
            assert room.to_dict() == before, "a refused command changed its input"
            return
        event(f"{type(cmd).__name__}: ok")
        assert room.to_dict() == before, "apply changed its input room"
        try:
            run_sync(self.store.commit(room, outcome.room, outcome.events))
        except RoomError as exc:
            assert exc.code.value == "already_seated"  # the cross-room rule, store-side
            stored = self.load(room_id)
            assert stored is not None and stored.to_dict() == before
            return
        self.check_outcome(room, actor, cmd, outcome)

    def check_outcome(self, old: Room, actor: Actor, cmd: object, outcome: Outcome) -> None:
        new = outcome.room
        recipients = set(old.members) | (set(new.members) if new is not None else set())
        for sent in outcome.events:
            assert sent.to is None or sent.to <= recipients, sent
        if new is None:
            assert [e.type for e in outcome.events] == ["room_closed"]
            self.slots[self.slots.index(old.id)] = None
            self.expected_queue.pop(old.id, None)
            assert self.load(old.id) is None
            return
        assert self.load(old.id) == new
        # the gateway's signals: `_gone` for exactly the members who went, `_joined` per join
        gone = {e.data["user"] for e in outcome.events if e.type == "_gone"}
        assert gone == set(old.members) - set(new.members)
        joined = {e.data["user"] for e in outcome.events if e.type == "member_joined"}
        assert joined == set(new.members) - set(old.members)
        if isinstance(cmd, JoinRoom):
            assert outcome.events[-1].type == "_joined"
            assert outcome.events[-1].data == {"user": actor.user, "conn": actor.conn}
        counts = [e.data["count"] for e in outcome.events if e.type == "audience_changed"]
        assert (counts[-1] if counts else old.audience_count) == new.audience_count
        # invariant 3 within a step: an occupied seat is never handed to someone else
        for before, after in zip(old.seats, new.seats, strict=False):
            if before.user is not None and after.user is not None:
                assert before.user == after.user, f"seat {before.index} given twice"
        if without_version(new) != without_version(old):
            assert new.version == old.version + 1
        else:
            assert new.version in (old.version, old.version + 1)
        # What another node's copy becomes from the commit's delta is the room itself.
        delta = room_delta(old, new)
        if delta is None:
            event("members reordered: the whole room goes")
        else:
            copy = apply_delta(old, delta)
            copy.banned = set(new.banned)  # the store carries the bans beside the delta
            assert copy.to_dict() == new.to_dict()
        # FCFS: entries leave, survivors keep their order, a new request goes last
        queued = [request.user for request in new.queue]
        expected = [user for user in self.expected_queue[old.id] if user in queued]
        if isinstance(cmd, RequestMic):
            expected.append(actor.user)
            assert outcome.reply == {"position": len(expected)}
        assert queued == expected
        self.expected_queue[old.id] = expected
        if "seat" in outcome.reply and isinstance(outcome.reply["seat"], int):
            sitter = cmd.user if isinstance(cmd, AcceptMic) else actor.user
            assert new.seated_users()[sitter] == outcome.reply["seat"]
        if isinstance(cmd, JoinRoom):
            assert outcome.reply["room"] == new.state_for(actor.user)

    # -- rules -----------------------------------------------------------------------------

    def open_room(self, slot: int, seats: int, seat_mode: SeatMode, auto: int) -> Room:
        self.generation += 1
        room_id = f"r{slot}-{self.generation}"
        outcome = create_room(room_id, Actor(HOSTS[slot], HOSTS[slot].upper()),
                              CreateRoom("Room", seats, seat_mode, auto), self.now)
        assert outcome.room is not None
        run_sync(self.store.commit(None, outcome.room, outcome.events))
        self.slots[slot] = room_id
        self.expected_queue[room_id] = []
        return outcome.room

    def room_in(self, data: st.DataObject, slot: int) -> Room:
        """The room in a slot; a closed room's slot gets a new one."""
        room_id = self.slots[slot]
        room = self.load(room_id) if room_id is not None else None
        if room is None:
            room = self.open_room(slot, data.draw(st.integers(1, 8), label="seats"),
                                  data.draw(st.sampled_from(SeatMode), label="seat_mode"),
                                  data.draw(st.integers(0, 4), label="auto_chatroom_at"))
        return room

    def actor_in(self, data: st.DataObject, room: Room) -> Actor:
        """Mostly members, a third of the time the host or an admin, sometimes anyone."""
        user = data.draw(
            st.sampled_from(sorted(room.members))
            | st.sampled_from(sorted(room.moderators()))
            | st.sampled_from(USERS),
            label="actor",
        )
        return Actor(user, user.upper())

    # One rule picks what happens to a room, with weights: swarm testing (which switches
    # whole rules off) would otherwise starve the flows that fill seats.
    @rule(data=st.data(), slot=st.integers(0, SLOTS - 1),
          what=st.sampled_from(["command"] * 6 + ["join"] * 3 + ["mic_link"] * 3
                               + ["claim_seat"] * 3 + ["disconnect"]))
    def act(self, data: st.DataObject, slot: int, what: str) -> None:
        room = self.room_in(data, slot)
        getattr(self, what)(data, room)

    def join(self, data: st.DataObject, room: Room) -> None:
        for user in data.draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=3)):
            self.execute(room.id, Actor(user, user.upper()), JoinRoom(room.id))

    def command(self, data: st.DataObject, room: Room) -> None:
        actor = self.actor_in(data, room)
        self.execute(room.id, actor, draw_command(data, room))

    def mic_link(self, data: st.DataObject, room: Room) -> None:
        """An audience member asks, a moderator accepts: the way seats fill in apply mode."""
        audience = sorted(set(room.members) - room.moderators())
        if not audience:
            return
        user = data.draw(st.sampled_from(audience), label="requester")
        self.execute(room.id, Actor(user, user.upper()), RequestMic(room.id))
        moderator = data.draw(st.sampled_from(sorted(room.moderators())), label="moderator")
        seat = maybe_seat(data, room)
        self.execute(room.id, Actor(moderator, moderator.upper()), AcceptMic(room.id, user, seat))

    def claim_seat(self, data: st.DataObject, room: Room) -> None:
        """A member takes a seat (free mode, admin, or after an invite)."""
        claimants = sorted(set(room.members) - {room.host})
        if not claimants:
            return
        user = data.draw(st.sampled_from(claimants), label="claimant")
        seat = seat_arg(data, room)
        if data.draw(st.booleans(), label="via invite"):
            self.execute(room.id, Actor(room.host, room.host.upper()),
                         InviteToSeat(room.id, user, maybe_seat(data, room)))
            self.execute(room.id, Actor(user, user.upper()), AnswerInvite(room.id, True))
        else:
            self.execute(room.id, Actor(user, user.upper()), TakeSeat(room.id, seat))

    def disconnect(self, data: st.DataObject, room: Room) -> None:
        grace = data.draw(st.sampled_from([1.0, 5.0]), label="grace")
        self.execute(room.id, self.actor_in(data, room), Disconnect(room.id, grace, 2 * grace))

    @rule(seconds=st.sampled_from([0.0, 0.5, 3.0, 20.0]))
    def tick(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def sweep(self) -> None:
        for room_id in run_sync(self.store.due_rooms(self.now)):
            room = self.load(room_id)
            assert room is not None
            deadline = room.next_deadline()
            assert deadline is not None and deadline <= self.now
            self.execute(room_id, SYSTEM, Expire(room_id))
            after = self.load(room_id)
            assert after is None or (after.next_deadline() or float("inf")) > self.now

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def rooms_are_sound(self) -> None:
        seat_holders: dict[str, str] = {}
        for room in self.rooms():
            check_invariants(room)  # invariants 1, 2 (within a room) and 4
            capacity = 1 if room.mode is Mode.LIVE else room.seat_count
            assert room.seated_count() <= capacity <= 8
            for user in room.seated_users():
                assert user not in seat_holders, f"{user} seated in two rooms"
                seat_holders[user] = room.id


TestRooms = Rooms.TestCase
TestRooms.settings = settings(
    max_examples=80,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
