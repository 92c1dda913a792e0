"""The calls' media on this node (MediaEngine's call half): one CallMedia per active call
with at least one connection, made by a party's first offer, closed when the call ends.

The engine follows the call state it is given (``offer``'s and ``changed``'s CallState); it
never changes it. Closing is immediate (no more media in or out) and the connections are
closed in the background: ``changed``/``end`` return a task that finishes when they are.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import fields

from calls.model import CallState, CallStatus
from media.background import Background, done, quiet_gather
from media.call_media import CallMedia, CallStats
from media.call_peer import AudioSenderFactory, direct_audio
from media.offer_policy import OfferPolicy, screen_offer
from protocol.errors import ErrorCode, ProtocolError

# Ended calls remembered so that a late offer (with a CallState read before the end) cannot
# bring one back; call ids are never reused.
ENDED_REMEMBERED = 10_000


class CallEngine:
    def __init__(self, *, announce_address: str | None = None,
                 policy: OfferPolicy | None = None) -> None:
        self.announce_address = announce_address
        # The same screening as a room's offers (fingerprint, candidate cap, networks).
        self.policy = policy if policy is not None else OfferPolicy()
        # How a leg's audio is sent (benchmarks plug in aiortc's own sender to compare).
        self.audio_sender: AudioSenderFactory = direct_audio
        self.calls: dict[str, CallMedia] = {}
        self.stats = CallStats()
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._closing = Background()
        self._closed = False

    async def offer(self, call: CallState, user: str, sdp: str) -> str:
        """Answer ``user``'s full offer for ``call``; replaces their previous connection.

        docs/protocol.md, Calls: ``no_such_call`` for someone who is not a party or a call that
        ended (here or meanwhile), ``forbidden`` while it still rings (media connects once
        answered), ``bad_request`` (field ``sdp``) for an offer that cannot be answered."""
        if self._closed:
            raise ProtocolError(ErrorCode.INTERNAL, "media engine is closed")
        if call.role_of(user) is None:
            raise ProtocolError(ErrorCode.NO_SUCH_CALL, "not a party to this call")
        if call.state is CallStatus.ENDED or call.id in self._ended:
            raise ProtocolError(ErrorCode.NO_SUCH_CALL, "the call ended")
        if call.state is not CallStatus.ACTIVE:
            raise ProtocolError(ErrorCode.FORBIDDEN, "the call is not answered yet")
        media = self.calls.get(call.id)
        if media is None:
            media = self.calls[call.id] = CallMedia(
                call, self.stats, announce_address=self.announce_address,
                background=self._closing.track, audio_sender=self.audio_sender,
                connect_timeout=self.policy.connect_timeout,
            )
        try:
            answer = await media.offer(user, screen_offer(sdp, self.policy))
        except ValueError as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"sdp: {exc}", field="sdp") from exc
        finally:
            if not media.legs and not media.answering and self.calls.get(call.id) is media:
                # Nothing connected and nothing on its way (a refused first offer).
                del self.calls[call.id]
                media.close()
        if answer is None:
            raise ProtocolError(ErrorCode.NO_SUCH_CALL, "the call ended")
        return answer

    def changed(self, call: CallState) -> asyncio.Task[None]:
        """Follow the call's new state: an ended call's media stops."""
        if call.state is CallStatus.ENDED:
            return self.end(call.id)
        return done()

    def end(self, call_id: str) -> asyncio.Task[None]:
        self._ended[call_id] = None
        while len(self._ended) > ENDED_REMEMBERED:
            self._ended.popitem(last=False)
        media = self.calls.pop(call_id, None)
        if media is None:
            return done()
        media.close()
        return asyncio.ensure_future(quiet_gather(self._closing.pending()))

    def media(self, call_id: str) -> CallMedia | None:
        """The call's media here (props plug effects and sounds into it), if any."""
        return self.calls.get(call_id)

    async def close(self) -> None:
        self._closed = True
        for call_id in list(self.calls):
            self.end(call_id)
        await self._closing.drain()

    def stats_dict(self) -> dict[str, float]:
        """Figures for /metrics: `media_calls`, `media_call_peers` now, and the counters."""
        out = {
            "media_calls": float(len(self.calls)),
            "media_call_peers": float(sum(len(m.legs) for m in self.calls.values())),
        }
        for f in fields(self.stats):
            value = getattr(self.stats, f.name)
            if isinstance(value, int):
                out[f"media_call_{f.name}"] = float(value)
        for f in fields(self.stats.video):
            out[f"media_call_video_{f.name}"] = float(getattr(self.stats.video, f.name))
        return out

