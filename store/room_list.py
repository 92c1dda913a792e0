"""The room list's pages as RedisStore reads them (`list_rooms`): newest rooms first, from the
room list sorted set (store/keys.py), a page after a cursor through store/lua.py's PAGE."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from store import lua
from store.keys import Keys
from store.lua import Script
from store.wire import as_text, decode_cursor, encode_cursor, unpack

RunScript = Callable[[Script, list[str], list[Any]], Awaitable[Any]]


async def room_page(redis: aioredis.Redis, keys: Keys, script: RunScript, limit: int,
                    cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Summaries of the newest rooms first, and a cursor for the next page (None: no more)."""
    limit = max(0, limit)
    if limit == 0:
        return [], None
    if cursor is None:
        raw_ids = await redis.zrevrange(keys.rooms, 0, limit)
    else:
        score, after = decode_cursor(cursor)
        raw_ids = await script(
            lua.PAGE, [keys.rooms], [repr(score), after, limit + 1])
    more = len(raw_ids) > limit
    ids = [as_text(room_id) for room_id in raw_ids[:limit]]
    if not ids:
        return [], None
    pipe = redis.pipeline(transaction=False)
    for room_id in ids:
        pipe.hget(keys.room(room_id), "s")
    pipe.zscore(keys.rooms, ids[-1])
    *summaries, last_score = await pipe.execute()
    # A room closed between the two reads is left out rather than shown half-gone.
    rooms = [unpack(raw) for raw in summaries if raw is not None]
    next_cursor = None
    if more and last_score is not None:
        next_cursor = encode_cursor(float(last_score), ids[-1])
    return rooms, next_cursor
