"""Pulling a room's mix from the node that owns its media: one HTTP/1.1 GET of the owner's
listen.ogg per room per node, however many listeners this node serves (server/listening.py).

The owner's Ogg pages are read back into Opus packets (audio.ogg_read) and handed to the local
feed, which writes each local listener's own Ogg stream: the same packets, no decode. The
request says it is a relay (`RELAY_HEADER`), so the node asked serves it only from its own
media, never by pulling from yet another node. With a secret set, the request carries a
short-lived token of the relay user, signed with the cluster's shared secret.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

from audio.ogg_read import OggPacketReader
from media.listen import ListenFeed
from protocol.tokens import issue_token

RELAY_HEADER = "X-Voiceroom-Relay"
RELAY_USER = "_relay"
TOKEN_TTL = 60.0
CONNECT_TIMEOUT = 5.0
# No bytes for this long from an owner that should send a page every 20 ms: it is gone.
READ_TIMEOUT = 5.0
MAX_HEADER_BYTES = 16 * 1024
MAX_CHUNK = 1 << 20


class UpstreamError(Exception):
    """The owner refused the request or sent what is not a chunked Ogg stream."""


def listen_path(room_id: str, secret: str | None) -> str:
    path = f"/rooms/{quote(room_id, safe='')}/listen.ogg"
    if secret:
        path += "?token=" + issue_token(secret, RELAY_USER, RELAY_USER, TOKEN_TTL, time.time())
    return path


async def pull_mix(host: str, port: int, room_id: str, feed: ListenFeed, *,
                   secret: str | None) -> None:
    """Feed ``feed`` the owner's packets until its stream ends (returns) or fails (raises)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port),
                                            CONNECT_TIMEOUT)
    try:
        request = (f"GET {listen_path(room_id, secret)} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                   f"{RELAY_HEADER}: 1\r\nUser-Agent: voiceroom-relay\r\n\r\n")
        writer.write(request.encode("ascii"))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        if len(head) > MAX_HEADER_BYTES:
            raise UpstreamError("response header too long")
        status, _, rest = head.decode("latin-1").partition("\r\n")
        if status.split(" ", 2)[1:2] != ["200"]:
            raise UpstreamError(f"upstream answered {status!r}")
        chunked = "transfer-encoding: chunked" in rest.lower()
        ogg = OggPacketReader()
        tick = 0
        while not ogg.eos:
            data = await _next_data(reader, chunked)
            if not data:
                return
            for packet in ogg.feed(data):
                feed.mixed(tick, packet)
                tick += 1
    finally:
        writer.close()


async def _next_data(reader: asyncio.StreamReader, chunked: bool) -> bytes:
    if not chunked:
        return await asyncio.wait_for(reader.read(65536), READ_TIMEOUT)
    line = await asyncio.wait_for(reader.readuntil(b"\r\n"), READ_TIMEOUT)
    try:
        size = int(line.split(b";", 1)[0].strip(), 16)
    except ValueError:
        raise UpstreamError(f"bad chunk size line {line[:40]!r}") from None
    if size > MAX_CHUNK:
        raise UpstreamError("chunk too large")
    if size == 0:
        return b""
    data = await asyncio.wait_for(reader.readexactly(size + 2), READ_TIMEOUT)
    return data[:-2]
