"""A stream's WebRTC listeners sent to together: one call per tick builds, protects and sends
every listener's packet (media/_fanout.c), with the payload shared and no Python per listener.

Python keeps what changes rarely: which listeners are in the C group, whether each one's
route still holds (DTLS up, the same ICE pair, socket and SRTP session: looked at for a
slice of the listeners each tick, so each one every ``CHECK_TICKS``; a listener that goes is
taken out at once by ``remove``), and aiortc's packet counters for its RTCP sender reports
(brought up to date at the same time). Listeners not connected yet are looked at every tick.

Without the C module (no compiler at install) each listener's packet is staged and sent from
Python, as media/sender.py does for one listener.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from typing import Any

from media.sender import DirectSender, Endpoint, Staged, send_staged
from media.tracks import Outgoing

log = logging.getLogger(__name__)

try:
    from media import _fanout  # type: ignore[attr-defined]
except ImportError:  # built by `pip install -e .` where a C compiler is found
    _fanout = None

# Each listener's route is checked (and its RTCP counters synced) every this many ticks.
CHECK_TICKS = 25

_ids = itertools.count(1)


def _protect_address() -> int | None:
    try:
        from pylibsrtp._binding import ffi, lib
    except ImportError:
        return None
    return int(ffi.cast("uintptr_t", ffi.addressof(lib, "srtp_protect")))


_PROTECT = _protect_address() if _fanout is not None else None
BATCHED = _fanout is not None and _PROTECT is not None


class _Member:
    __slots__ = ("endpoint", "id")

    def __init__(self, endpoint: Endpoint) -> None:
        self.id = next(_ids)
        self.endpoint = endpoint


class Fanout:
    """The listeners of one stream (a room's mix) and the way to send them a packet."""

    def __init__(self, *, batched: bool = BATCHED) -> None:
        self._group: Any = _fanout.Group(_PROTECT) if batched and _fanout is not None else None
        self._members: dict[DirectSender, _Member] = {}  # in the C group
        self._waiting: dict[DirectSender, None] = {}  # not sendable yet (or any more)
        self._order: list[DirectSender] = []  # the members, for the round of checks
        self._next_check = 0

    @property
    def batched(self) -> bool:
        return self._group is not None

    def __len__(self) -> int:
        return len(self._members) + len(self._waiting)

    def __contains__(self, sender: object) -> bool:
        return sender in self._members or sender in self._waiting

    def add(self, sender: DirectSender) -> None:
        if sender not in self:
            self._waiting[sender] = None

    def remove(self, sender: DirectSender) -> None:
        self._waiting.pop(sender, None)
        member = self._members.pop(sender, None)
        if member is not None:
            self._leave(sender, member, pts=None, ntp=0)
            self._order.remove(sender)

    def send(self, payload: bytes, pts: int, ntp: int,
             own: Mapping[DirectSender, Outgoing] | None = None) -> int:
        """``payload`` to every listener, except those in ``own``, who get their own packet
        (a talker's mix-minus). Returns the packets handed to the sockets."""
        if self._group is None:
            return self._send_from_python(payload, pts, ntp, own)
        self._check(pts, ntp)
        group, members = self._group, self._members
        skipped = [members[s].id for s in own if s in members] if own else []
        for member_id in skipped:
            group.skip(member_id, True)
        try:
            sent: int = group.send(payload, pts & 0xFFFFFFFF)
        finally:
            for member_id in skipped:
                group.skip(member_id, False)
        if own:
            for sender, out in own.items():
                member = members.get(sender)
                if member is not None:
                    sent += group.send_one(member.id, out.payload, out.pts & 0xFFFFFFFF)
        return sent

    def close(self) -> None:
        for sender in list(self._members):
            self.remove(sender)
        self._waiting.clear()

    # --- keeping the C group true ------------------------------------------------------------

    def _check(self, pts: int, ntp: int) -> None:
        if self._waiting:
            for sender in list(self._waiting):
                endpoint = sender.endpoint()
                if endpoint is not None:
                    del self._waiting[sender]
                    self._join(sender, endpoint)
        order = self._order
        if not order:
            return
        count = -(-len(order) // CHECK_TICKS)  # ceil: every member once per CHECK_TICKS
        start = self._next_check % len(order)
        for sender in order[start:start + count] + order[:max(0, start + count - len(order))]:
            self._refresh(sender, pts, ntp)
        self._next_check = start + count

    def _refresh(self, sender: DirectSender, pts: int, ntp: int) -> None:
        member = self._members.get(sender)
        if member is None:
            return
        endpoint = sender.endpoint()
        old = member.endpoint
        if endpoint is not None and endpoint.pair is old.pair and endpoint.srtp is old.srtp \
                and endpoint.sock is old.sock and endpoint.fd == old.fd:
            seq, packets, octets = self._group.take(member.id)
            sender.sent_elsewhere(seq, packets, octets, pts, ntp)
            return
        # Another pair or session, or gone: out of the group, back in once sendable.
        del self._members[sender]
        self._order.remove(sender)
        self._leave(sender, member, pts, ntp)
        if endpoint is not None:
            self._join(sender, endpoint)
        elif sender.live:
            self._waiting[sender] = None

    def _join(self, sender: DirectSender, endpoint: Endpoint) -> None:
        member = _Member(endpoint)
        try:
            self._group.add(member.id, endpoint.srtp_address, endpoint.fd, endpoint.host,
                           endpoint.port, endpoint.ssrc, endpoint.pt, sender.seq, endpoint.ts0,
                           (endpoint.srtp, endpoint.sock))
        except ValueError as exc:  # an address the C side cannot parse: should not happen
            log.warning("listener endpoint %s:%s refused: %s", endpoint.host, endpoint.port, exc)
            return
        self._members[sender] = member
        self._order.append(sender)
        sender.ignore_rtcp()

    def _leave(self, sender: DirectSender, member: _Member, pts: int | None, ntp: int) -> None:
        seq, packets, octets = self._group.take(member.id)
        self._group.remove(member.id)
        sender.sent_elsewhere(seq, packets, octets, pts, ntp)

    # --- without the C module ----------------------------------------------------------------

    def _send_from_python(self, payload: bytes, pts: int, ntp: int,
                          own: Mapping[DirectSender, Outgoing] | None) -> int:
        """Every listener's packet staged (header + SRTP), then all sent: the system calls
        back to back rather than between each listener's Python."""
        staged: list[Staged] = []
        add = staged.append
        for sender in self._waiting:
            out = own.get(sender) if own else None
            item = (sender.stage(payload, pts, ntp) if out is None
                    else sender.stage(out.payload, out.pts, out.ntp))
            if item is not None:
                add(item)
        send_staged(staged)
        return len(staged)
