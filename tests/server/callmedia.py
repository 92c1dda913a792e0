"""A call's media over the wire: two parties offer real aiortc peers playing tones through
`webrtc_offer {call}` and check by FFT that each hears the other and not themself."""

from __future__ import annotations

from tests.support.rtc import (
    ClientMedia,
    close_all,
    connect,
    levels_db,
    tone_peer,
    wait_recorded,
)
from tests.support.server import WireClient

CALLER_HZ, CALLEE_HZ = 440.0, 660.0
HEARD_DB = -30.0  # a 0.3-amplitude tone reads about -10.5 dB
GAP_DB = 30.0


async def offer(client: WireClient, call_id: str, peer: ClientMedia) -> ClientMedia:
    async def send(sdp: str) -> str:
        return str((await client.call("webrtc_offer", call=call_id, sdp=sdp))["sdp"])

    return await connect(peer, send)


async def assert_they_hear_each_other(caller: WireClient, callee: WireClient,
                                      call_id: str) -> None:
    ann, bob = tone_peer(CALLER_HZ), tone_peer(CALLEE_HZ)
    try:
        await offer(caller, call_id, ann)
        await offer(callee, call_id, bob)
        await wait_recorded([ann, bob], 1.5)
        heard_by_ann = levels_db(ann, [CALLER_HZ, CALLEE_HZ])
        heard_by_bob = levels_db(bob, [CALLER_HZ, CALLEE_HZ])
        assert heard_by_ann[CALLEE_HZ] > HEARD_DB, heard_by_ann
        assert heard_by_ann[CALLER_HZ] < heard_by_ann[CALLEE_HZ] - GAP_DB, heard_by_ann
        assert heard_by_bob[CALLER_HZ] > HEARD_DB, heard_by_bob
        assert heard_by_bob[CALLEE_HZ] < heard_by_bob[CALLER_HZ] - GAP_DB, heard_by_bob
    finally:
        await close_all([ann, bob])
