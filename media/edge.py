"""Edge listeners: WebRTC listeners of a room whose media another node mixes, answered by the
node they are connected to and fed from one copy of the owner's encoded mix.

An ``EdgeSession`` is the room's session on such a node: no clock, no mixer, no encoder.
Each packet the owner relays (cluster/relay.py) goes out at once to every local listener
through the same batched send as the owner's own listeners (media/fanout.py). A second
MediaEngine whose sessions are EdgeSessions answers these listeners (the server composes it:
server/edge.py); the RTP timeline of each listener stays continuous however the owner's
tick numbers jump (a restarted session, another owner).
"""

from __future__ import annotations

import re
import time

from audio.constants import FRAME_SAMPLES
from media.inbound import Inbound
from media.rtp import PayloadSink, ntp_now
from media.session import RoomMixSession
from media.tracks import Outgoing

# A relayed tick further than this from the last one (a restarted or new owner) moves the
# local timeline on by one frame instead.
MAX_TICK_STEP = 50

_MEDIA = re.compile(r"^m=(\w+) ", re.MULTILINE)
_DIRECTION = re.compile(r"^a=(sendrecv|sendonly|recvonly|inactive)\s*$", re.MULTILINE)


def listen_only(sdp: str) -> bool:
    """True when the offer's audio sections all only receive (``a=recvonly``, or
    ``inactive``), with at least one receiving: a listener that never sends audio."""
    sections = _MEDIA.split(sdp)
    # [session part, kind, body, kind, body, ...]
    session_direction = _DIRECTION.search(sections[0])
    receiving = False
    for kind, body in zip(sections[1::2], sections[2::2], strict=True):
        if kind != "audio":
            continue
        found = _DIRECTION.search(body) or session_direction
        direction = found.group(1) if found is not None else "sendrecv"
        if direction in ("sendrecv", "sendonly"):
            return False
        receiving = receiving or direction == "recvonly"
    return receiving


class EdgeSession(RoomMixSession):
    """A room's listeners on a node that does not mix the room: fed by ``feed``."""

    def __init__(self, room_id: str) -> None:
        super().__init__(room_id)
        self._running = False
        self._source: int | None = None  # whose clock the ticks are (the owner's feed)
        self._last_tick: int | None = None
        self._local_tick = 0

    # --- no inputs: a listener sends nothing, a speaker is answered by the owner --------------

    def new_input(self, user: str) -> tuple[Inbound, PayloadSink]:
        inbound = Inbound(user)
        stats = self.stats

        def sink(seq: int, payload: bytes, level: tuple[bool, int] | None) -> None:
            stats.rtp_in += 1
            stats.rtp_dropped_unheard += 1

        return inbound, sink

    def set_heard(self, users: object) -> None:
        return None

    # --- no clock: the owner's packets drive it ------------------------------------------------

    def start(self) -> None:
        self._running = True

    def pause(self) -> None:
        return None

    async def stop(self) -> None:
        self._running = False
        for output in list(self.outputs.values()):
            output.stop()
        self.fanout.close()
        self.taps.end()

    @property
    def running(self) -> bool:
        return self._running

    def feed(self, tick: int, payload: bytes, source: int = 0) -> None:
        """One relayed packet of the room's mix (tick ``tick`` of the clock ``source``: the
        owner's feed, new when the owner or its session changes) to every local listener,
        now."""
        if not self._running:
            return
        if source != self._source:
            self._source, self._last_tick = source, None  # another clock: go on from here
        last = self._last_tick
        step = tick - last if last is not None else 1
        if step <= 0:
            return  # late or repeated: the listeners have moved on
        self._last_tick = tick
        self._local_tick += step if step <= MAX_TICK_STEP else 1
        stats = self.stats
        stats.ticks += 1
        pts = self._local_tick * FRAME_SAMPLES
        ntp = ntp_now()
        cpu = time.thread_time()
        if self.taps:
            self.taps.mixed(self._local_tick, payload)
        self.fanout.send(payload, pts, ntp)
        if self._other_outputs:
            shared = Outgoing(payload, pts, ntp)
            for output in self._other_outputs.values():
                output.deliver(shared)
        sent = time.thread_time() - cpu
        stats.send_cpu_seconds += sent
        stats.send_seconds.observe(sent)
        stats.packets_sent += len(self.outputs)

    def tick(self) -> None:
        return None  # never called: there is no clock here
