"""bench/audience.py end to end at a tiny size: three nodes on a private Redis, the edge
listeners really receive the room, the figures are printed."""

from __future__ import annotations

import re

from tests.media.test_media_bench import run
from tests.support.redis import require_redis


async def test_audience_bench_reports_every_figure() -> None:
    require_redis()  # redis-server is there (with CI=true: or the test fails)
    text = await run("bench.audience", "--listeners", "2", "--http", "5", "--seconds", "1.5",
                     "--warmup", "1")
    delivered = re.search(r"WebRTC delivered: (\d+) % / (\d+) % / (\d+) %", text)
    assert delivered, text
    # The owner's listeners and both edges' got the room's packets.
    assert all(int(x) > 50 for x in delivered.groups()), text
    assert re.search(r"edge listener vs owner listener, same packet: \+-?[\d.]+ ms median", text)
    assert re.search(r"HTTP: -?\d+ µs of c's CPU per listener-second .* 100 % delivered", text)
    assert re.search(r"edge: -?[\d.]+ / -?[\d.]+ µs per listener-packet", text)
    assert re.search(r"send loop per packet .*: owner [\d.]+ µs, edge b [\d.]+ µs", text), text
