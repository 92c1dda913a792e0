"""Consumers of a room's encoded audio besides its WebRTC listeners: HTTP listeners,
recorders, node-to-node relays. The session hands each tick's encoded mix (and each heard
speaker's payloads as they arrive) to every tap; a tap that raises is dropped, so a broken
consumer never costs the room its audio.
"""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger(__name__)


class MixTap(Protocol):
    """Called on the session's tick, in the event loop: a tap only copies or queues, never
    blocks.

    ``mixed``: the tick's encoded full mix, the very packet every listener gets, once per
    tick (silent ticks included; the tick number jumps when the clock skips ticks).
    ``received``: a heard speaker's Opus payload as it arrived (before the jitter buffer),
    with the number of the next tick to run and its RTP sequence number.
    ``ended``: the session stopped (the room closed or the node is going); no more calls.
    """

    def mixed(self, tick: int, payload: bytes) -> None: ...

    def received(self, user: str, tick: int, seq: int, payload: bytes) -> None: ...

    def ended(self) -> None: ...


class Taps:
    """The taps on one session, in the order they were added."""

    __slots__ = ("_taps", "room_id")

    def __init__(self, room_id: str) -> None:
        self.room_id = room_id
        self._taps: dict[MixTap, None] = {}

    def __bool__(self) -> bool:
        return bool(self._taps)

    def __len__(self) -> int:
        return len(self._taps)

    def __contains__(self, tap: object) -> bool:
        return tap in self._taps

    def add(self, tap: MixTap) -> None:
        self._taps[tap] = None

    def remove(self, tap: MixTap) -> None:
        self._taps.pop(tap, None)

    def mixed(self, tick: int, payload: bytes) -> None:
        for tap in list(self._taps):
            try:
                tap.mixed(tick, payload)
            except Exception:
                self._broken(tap)

    def received(self, user: str, tick: int, seq: int, payload: bytes) -> None:
        for tap in list(self._taps):
            try:
                tap.received(user, tick, seq, payload)
            except Exception:
                self._broken(tap)

    def end(self) -> None:
        """Tell every tap the audio has ended, and forget them."""
        taps = list(self._taps)
        self._taps.clear()
        for tap in taps:
            try:
                tap.ended()
            except Exception:
                log.exception("room %s: tap %r failed to end", self.room_id, tap)

    def _broken(self, tap: MixTap) -> None:
        log.exception("room %s: tap %r failed; removed", self.room_id, tap)
        self._taps.pop(tap, None)
        try:
            tap.ended()
        except Exception:
            log.exception("room %s: tap %r failed to end", self.room_id, tap)
