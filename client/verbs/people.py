"""People verbs (docs/protocol.md "Identity, apps and profiles", "Follows, friends and
blocks"): profiles, the follow graph of the connection's app, blocks.

Each method is one request and returns its `ok` reply (or raises `ClientError`);
`following()`, `followers()`, `friends()` and `blocked()` follow the cursor to the end of
the list.
A `followed {user, name, mutual}` event arrives unasked when someone follows this user.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from client.errors import Reply
from client.transport import Transport

# A list page's size when the helpers walk a whole list (the protocol's bound).
PAGE = 100
# How many pages the helpers read at most: a list longer than this is not a friends list.
MAX_PAGES = 1000


class PeopleVerbs(Transport):
    # ---- profiles -----------------------------------------------------------------------

    async def set_profile(
        self,
        *,
        city: str | None = None,
        tags: Sequence[str] | None = None,
        bio: str | None = None,
    ) -> Reply:
        """Change the fields given (`{profile}`); a token's `city` wins over this one."""
        return await self.request("set_profile", city=city,
                                  tags=None if tags is None else list(tags), bio=bio)

    async def get_profile(self, user: str) -> Reply:
        """`{profile: {user, name, city, tags, verified, online?}}`; `online` for a friend
        only; `no_such_user` for someone who never said hello."""
        return await self.request("get_profile", user=user)

    # ---- follows ------------------------------------------------------------------------

    async def follow(self, user: str) -> Reply:
        """`{mutual}`: whether the two are now friends in this connection's app."""
        return await self.request("follow", user=user)

    async def unfollow(self, user: str) -> Reply:
        return await self.request("unfollow", user=user)

    async def list_follows(
        self, which: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Reply:
        """One page of `following`, `followers`, `friends` or `blocked` (this server's
        extension): `{users: [{user, name, mutual, online?}], cursor?}`."""
        return await self.request("list_follows", which=which, limit=limit, cursor=cursor)

    async def friends(self) -> list[dict[str, Any]]:
        """Every friend in this connection's app, with `online`."""
        return await self._whole_list("friends")

    async def following(self) -> list[dict[str, Any]]:
        return await self._whole_list("following")

    async def followers(self) -> list[dict[str, Any]]:
        return await self._whole_list("followers")

    async def blocked(self) -> list[dict[str, Any]]:
        """Every user this user blocks (in any app; docs/protocol.md: our extension)."""
        return await self._whole_list("blocked")

    async def _whole_list(self, which: str) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            reply = await self.list_follows(which, limit=PAGE, cursor=cursor)
            users += [u for u in reply.get("users") or [] if isinstance(u, dict)]
            next_cursor = reply.get("cursor")
            if not isinstance(next_cursor, str) or not next_cursor or next_cursor == cursor:
                break
            cursor = next_cursor
        return users

    # ---- blocks -------------------------------------------------------------------------

    async def block(self, user: str) -> Reply:
        """Removes every follow between the two in every app; the other is never told."""
        return await self.request("block", user=user)

    async def unblock(self, user: str) -> Reply:
        return await self.request("unblock", user=user)
