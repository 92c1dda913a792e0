"""Paging of follow lists: an opaque cursor that stays valid while the list changes.

A list is sorted by user id and the cursor carries the last id a page showed, so the next
page starts right after it whoever was added or removed meanwhile: no one is shown twice,
and no one present through the whole walk is skipped. The cursor is base64 so that clients
treat it as opaque (its form may change).
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import TypeVar

from protocol.errors import ErrorCode
from protocol.validate import USER_ID_RE
from social.errors import SocialError

T = TypeVar("T")
_PREFIX = "u:"


def encode_cursor(last_user: str) -> str:
    return base64.urlsafe_b64encode((_PREFIX + last_user).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The last user id of the previous page; `bad_request` (field `cursor`) if forged."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    user = raw[len(_PREFIX):]
    if not raw.startswith(_PREFIX) or USER_ID_RE.fullmatch(user) is None:
        raise SocialError(ErrorCode.BAD_REQUEST, "field 'cursor' must be a cursor this "
                          "server gave", field="cursor")
    return user


def page(
    items: Sequence[T], limit: int, cursor: str | None, *, key: Callable[[T], str]
) -> tuple[list[T], str | None]:
    """One page of `items` (sorted by `key`, a user id) after `cursor`, and the next cursor
    (None on the last page). O(log n + limit)."""
    after = page_start(limit, cursor)
    start = 0 if after is None else bisect_right(items, after, key=key)
    chunk = list(items[start:start + limit])
    more = start + limit < len(items)
    return chunk, next_cursor([key(item) for item in chunk], more)


def page_start(limit: int, cursor: str | None) -> str | None:
    """Check a request's `limit` and `cursor`: the id the page starts after (None: the
    list's start). A store reads the page itself from there (`listed` per candidate)."""
    if limit < 1:
        raise SocialError(ErrorCode.BAD_REQUEST, "field 'limit' must be >= 1", field="limit")
    return None if cursor is None else decode_cursor(cursor)


def next_cursor(shown: Sequence[str], more: bool) -> str | None:
    """The cursor after a page showing `shown` (ids in order), None on the last page."""
    return encode_cursor(shown[-1]) if more and shown else None
