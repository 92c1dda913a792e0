"""What one change to a room costs on the event channel: `python -m bench.room_changes`.

For rooms of a few to thousands of members, one member joins. The committing node builds the
room's blob (it writes it into Redis either way) and, now, its delta (rooms.delta); every
other node that keeps the room either decoded the whole blob or applies the delta to its
copy. Prints, per room size: bytes on the channel (blob, delta), the writer's CPU (blob,
blob + delta) and a receiver's CPU (decode the blob, apply the delta), in µs per change
(median of repeated runs, process CPU time).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

from protocol.schema import CreateRoom, JoinRoom
from rooms.delta import apply_delta, room_delta
from rooms.machine import Actor, apply, create_room
from rooms.model import Room
from store.wire import pack, room_blob, room_from_blob

NOW = 1_000.0


def room_of(members: int) -> Room:
    room = create_room("r1", Actor("host", "Host"), CreateRoom("bench"), NOW).room
    assert room is not None
    for i in range(members):
        outcome = apply(room, Actor(f"member{i:05d}", f"Member {i}"), JoinRoom("r1"), NOW)
        assert outcome.room is not None
        room = outcome.room
    return room


def write_with_delta(old: Room, new: Room) -> tuple[bytes, bytes]:
    """What store.commit_args does: the head once, for the blob and the delta."""
    head = new.head_dict()
    return room_blob(new, head), pack(room_delta(old, new, head))


def cpu_us(action: Callable[[], object], repeat: int) -> float:
    """Median process CPU µs of `action` over `repeat` runs (in batches, for small ones)."""
    batch = max(1, 2_000 // max(1, repeat))
    samples = []
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(batch):
            action()
        samples.append((time.process_time() - started) / batch * 1e6)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="8,300,2000,9998",
                        help="room sizes, comma-separated (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    print(f"{'members':>8} {'blob B':>8} {'delta B':>8} {'write blob':>11} "
          f"{'+ delta':>9} {'read blob':>10} {'apply':>8}   (µs per change)")
    for members in (int(n) for n in args.members.split(",")):
        old = room_of(members)
        joined = apply(old, Actor("late", "Late"), JoinRoom("r1"), NOW).room
        assert joined is not None
        blob = room_blob(joined)
        delta = room_delta(old, joined)
        assert delta is not None
        assert apply_delta(old, delta).to_dict() == joined.to_dict()
        write_blob = cpu_us(lambda: room_blob(joined), args.repeat)  # noqa: B023
        write_both = cpu_us(lambda: write_with_delta(old, joined), args.repeat)  # noqa: B023
        read_blob = cpu_us(lambda: room_from_blob(blob), args.repeat)  # noqa: B023
        read_delta = cpu_us(lambda: apply_delta(old, delta), args.repeat)  # noqa: B023
        print(f"{members:>8} {len(blob):>8} {len(pack(delta)):>8} {write_blob:>11.1f} "
              f"{write_both:>9.1f} {read_blob:>10.1f} {read_delta:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
