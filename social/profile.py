"""A known user's profile: what `hello` records and `set_profile` edits.

PROTOCOL.md: a user is known once they have said `hello`; their profile `{user, name,
city|null, tags, verified}` is kept for good. `bio` is 1.1's free text (`set_profile`), sent
beside the contract's fields. The city of a token (or of a development `hello`) wins over the
one `set_profile` gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from protocol.schema import SetProfile


@dataclass(frozen=True, slots=True)
class Profile:
    user: str
    name: str
    city: str | None = None
    tags: tuple[str, ...] = ()
    verified: bool = False
    bio: str = ""

    def wire(self, *, online: bool | None = None) -> dict[str, Any]:
        """The wire form; `online` is added only when given (it is shown to friends only)."""
        out: dict[str, Any] = {
            "user": self.user,
            "name": self.name,
            "city": self.city,
            "tags": list(self.tags),
            "verified": self.verified,
            "bio": self.bio,
        }
        if online is not None:
            out["online"] = online
        return out

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Profile:
        """The inverse of `wire()` (`online` ignored): how a store reads a profile back."""
        return cls(
            user=str(data["user"]),
            name=str(data["name"]),
            city=data.get("city"),
            tags=tuple(data.get("tags") or ()),
            verified=bool(data.get("verified", False)),
            bio=str(data.get("bio") or ""),
        )

    def card(self) -> dict[str, Any]:
        """`{user, name, city, tags}`: what `match_found` shows of a peer."""
        return {"user": self.user, "name": self.name, "city": self.city, "tags": list(self.tags)}


def signed_in(
    previous: Profile | None,
    *,
    user: str,
    name: str,
    verified: bool,
    city: str | None,
) -> Profile:
    """The profile after a `hello`: name and verification as the session says them.

    `city` is the session's (token claim, or development `hello`): given, it replaces the
    stored one; None keeps what `set_profile` stored. An empty city counts as none given.
    """
    base = previous if previous is not None else Profile(user=user, name=name)
    return replace(base, name=name, verified=verified, city=city or base.city)


def edited(profile: Profile, command: SetProfile, *, session_city: str | None) -> Profile:
    """The profile after `set_profile`; fields the command leaves None stay as they are.

    `city=""` clears the city, `tags=()` the tags, `bio=""` the bio. A session city (from the
    token) wins: the command's city is then ignored, silently, like any other field the
    session owns.
    """
    city = profile.city
    if session_city:
        city = session_city
    elif command.city is not None:
        city = command.city or None
    tags = profile.tags if command.tags is None else tuple(command.tags)
    bio = profile.bio if command.bio is None else command.bio
    return replace(profile, city=city, tags=tags, bio=bio)
