"""A small jitter buffer per speaker, keyed by RTP sequence number. PURE (no I/O, no numpy).

The mixer's tick calls `pop()` once per 20 ms; packets come in through `push(seq, payload)`
in whatever order the network delivers them. Unlike aiortc's buffer it never stalls the room
and its latency is bounded:

- It starts playing once `depth` packets are in (prefetch), oldest first but never more than
  `depth` behind the newest.
- A missing packet is played as "fec" (the next packet's in-band FEC) when the next packet is
  there, else as "plc" (concealment). The gap is not waited for.
- When nothing at all is buffered (the packet is late, or the speaker paused: DTX, muted,
  gone), up to `max_plc` ticks are concealed without giving the packet up, then the buffer
  goes "silence" and prefetches again when packets return.
- Latency only grows through those waits, and is taken back: when the buffer held more than
  `depth` packets at every tick for `shrink_ticks` ticks, one packet is skipped; and a packet
  more than `max_frames` ahead of the playout point makes it jump forward (resync).
- Sequence numbers are 16-bit and wrap around; a jump of more than RESET_DISTANCE either way
  is taken as a new stream (the sender restarted) and the buffer starts over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

SEQ_MOD: Final = 1 << 16
RESET_DISTANCE: Final = 3000  # 60 s of 20 ms packets: farther is a new stream, not a late one

Kind = Literal["frame", "fec", "plc", "silence"]


def seq_diff(a: int, b: int) -> int:
    """a - b in 16-bit sequence space, in -32768..32767."""
    d = (a - b) & 0xFFFF
    return d - SEQ_MOD if d >= 0x8000 else d


@dataclass(frozen=True, slots=True)
class JitterOut:
    """What to play this tick.

    - "frame": decode `payload` (packet `seq`).
    - "fec": packet `seq` is lost; `payload` is the next packet: decoder.decode_fec(payload).
    - "plc": packet `seq` is lost or late: decoder.conceal().
    - "silence": nothing to play (prefetching, or the speaker paused); `seq` is None.
    """

    kind: Kind
    payload: bytes | None = None
    seq: int | None = None


SILENCE: Final = JitterOut("silence")


@dataclass(slots=True)
class JitterStats:
    received: int = 0  # packets pushed
    played: int = 0  # packets returned as "frame"
    lost: int = 0  # packets that never came in time (holes played as fec/plc, gaps skipped)
    fec: int = 0  # of which recovered from the next packet's FEC
    concealed: int = 0  # ticks played as "plc" (holes and waits for a late packet)
    late: int = 0  # packets that came after their turn (or repeats of played ones): dropped
    duplicates: int = 0  # packets already in the buffer: dropped
    skipped: int = 0  # buffered packets dropped to take latency back
    resyncs: int = 0  # jumps forward to the newest packets
    resets: int = 0  # new streams (sequence numbers jumped)
    silent_ticks: int = 0  # ticks returned as "silence"


@dataclass(slots=True)
class JitterBuffer:
    depth: int = 2
    max_frames: int = 10
    max_plc: int = 5
    shrink_ticks: int = 50
    stats: JitterStats = field(default_factory=JitterStats)
    _buf: dict[int, bytes] = field(default_factory=dict, init=False, repr=False)
    # Next sequence number to play; None while prefetching.
    _next: int | None = field(default=None, init=False)
    # While prefetching after a pause: packets before this one are late.
    _floor: int | None = field(default=None, init=False, repr=False)
    # Consecutive ticks concealed while nothing was buffered.
    _waits: int = field(default=0, init=False, repr=False)
    # Fewest packets buffered at a tick since the last shrink check.
    _low: int = field(default=0, init=False, repr=False)
    _since_shrink: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.depth <= self.max_frames:
            raise ValueError("need 1 <= depth <= max_frames")
        if self.max_plc < 0 or self.shrink_ticks < 1:
            raise ValueError("max_plc must be >= 0 and shrink_ticks >= 1")
        self._low = self.max_frames + 1

    def __len__(self) -> int:
        return len(self._buf)

    def latency(self) -> int:
        """Ticks until the newest buffered packet plays (0 when empty)."""
        if not self._buf:
            return 0
        ref = self._next if self._next is not None else self._oldest()
        return max(seq_diff(s, ref) for s in self._buf) + 1

    def push(self, seq: int, payload: bytes) -> bool:
        """Add a packet; False when it is dropped (late or duplicate)."""
        seq &= 0xFFFF
        self.stats.received += 1
        ref = self._next if self._next is not None else self._floor
        if ref is not None:
            d = seq_diff(seq, ref)
            if abs(d) > RESET_DISTANCE:
                self._reset()
            elif d < 0:
                self.stats.late += 1
                return False
        if seq in self._buf:
            self.stats.duplicates += 1
            return False
        self._buf[seq] = payload
        if self._next is not None:
            if seq_diff(seq, self._next) >= self.max_frames:
                self._resync(seq)
        else:
            # Prefetching: keep only the newest max_frames sequence numbers' worth.
            self._drop_before((self._newest() - self.max_frames + 1) & 0xFFFF)
        return seq in self._buf

    def pop(self) -> JitterOut:
        """What to play this tick (call exactly once per 20 ms)."""
        if self._next is None:
            if len(self._buf) < self.depth:
                self.stats.silent_ticks += 1
                return SILENCE
            self._start()
        assert self._next is not None
        self._track_latency()
        seq = self._next
        payload = self._buf.pop(seq, None)
        if payload is not None:
            self._next = (seq + 1) & 0xFFFF
            self._waits = 0
            self.stats.played += 1
            return JitterOut("frame", payload, seq)
        if self._buf:
            # A hole with packets behind it: it's lost (or so late it would cost latency).
            self._next = (seq + 1) & 0xFFFF
            self._waits = 0
            self.stats.lost += 1
            following = self._buf.get(self._next)
            if following is not None:
                self.stats.fec += 1
                return JitterOut("fec", following, seq)
            self.stats.concealed += 1
            return JitterOut("plc", None, seq)
        # Nothing buffered: wait for the packet, concealing, for up to max_plc ticks.
        self._waits += 1
        if self._waits <= self.max_plc:
            self.stats.concealed += 1
            return JitterOut("plc", None, seq)
        # The speaker paused (DTX, muted, left): go quiet, prefetch when packets return.
        self._floor = seq
        self._next = None
        self._waits = 0
        self.stats.silent_ticks += 1
        return SILENCE

    def reset(self) -> None:
        """Drop everything (the stream changed); the next packets prefetch anew."""
        self._reset()

    # -- internals --

    def _reset(self) -> None:
        self._buf.clear()
        self._next = None
        self._floor = None
        self._waits = 0
        self._low = self.max_frames + 1
        self._since_shrink = 0
        self.stats.resets += 1

    def _oldest(self) -> int:
        ref = next(iter(self._buf))
        return min(self._buf, key=lambda s: seq_diff(s, ref))

    def _newest(self) -> int:
        ref = next(iter(self._buf))
        return max(self._buf, key=lambda s: seq_diff(s, ref))

    def _start(self) -> None:
        newest = self._newest()
        start = (newest - self.depth + 1) & 0xFFFF
        oldest = self._oldest()
        if seq_diff(oldest, start) > 0:
            start = oldest
        self._drop_before(start)
        if self._floor is not None:
            # Back after a pause: what never came in between was lost (0 after DTX).
            self.stats.lost += max(0, seq_diff(start, self._floor))
        self._next = start
        self._floor = None
        self._waits = 0
        self._low = self.max_frames + 1
        self._since_shrink = 0

    def _resync(self, newest: int) -> None:
        """Fell too far behind: jump so that `newest` plays `depth` ticks from now."""
        assert self._next is not None
        start = (newest - self.depth + 1) & 0xFFFF
        self.stats.resyncs += 1
        self._drop_before(start)
        self._next = start
        self._waits = 0

    def _drop_before(self, start: int) -> None:
        for s in [s for s in self._buf if seq_diff(s, start) < 0]:
            del self._buf[s]
            self.stats.skipped += 1

    def _track_latency(self) -> None:
        """Skip one packet when the buffer stayed above `depth` for `shrink_ticks` ticks."""
        self._low = min(self._low, len(self._buf))
        self._since_shrink += 1
        if self._since_shrink < self.shrink_ticks:
            return
        if self._low > self.depth and self._next is not None:
            if self._buf.pop(self._next, None) is not None:
                self.stats.skipped += 1
            else:
                self.stats.lost += 1
            self._next = (self._next + 1) & 0xFFFF
        self._low = self.max_frames + 1
        self._since_shrink = 0
