"""The follow graph per app, and blocks, as pure rules over one pair of users.

`Relations` is everything between two users: who follows whom in which app, who blocks
whom. A store keeps it however it likes (per-user sets in Redis) and hands the pair's value
to these rules; each rule returns the new value and what the reply and events need.

The rules (PROTOCOL.md "Follows, friends and blocks"):

- Each app has its own graph: a follow is `(app, follower)`. Two users who follow each
  other in an app, and between whom there is no block, are friends (`mutual`) in it.
- Following oneself is `bad_request` (a pair of one user cannot be formed); following again
  changes nothing.
- `block` removes every follow between the two, in every app, and until `unblock` refuses
  follows, calls and matches between them, both ways.
- A blocked user is never told. Their `follow` of the user who blocks them is answered like
  any follow of someone who does not follow back, `{mutual: false}`, and is stored as a
  *hidden* follow: it shows in the follower's own `following` list (as any follow they made
  would), but not in the blocker's `followers`, never makes them friends, and sends no
  `followed` event. An error would tell them at once; a `{mutual: false}` with nothing
  stored would tell them on their next `list_follows`. When the blocker unblocks, the hidden
  follow becomes an ordinary one, silently (no `followed` event for an old follow).
  A call or match they try fails as with a stranger: `not_friends` (the calls package).
- The blocker knows they block: their own `follow` of the blocked user is `forbidden`.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass, replace

from protocol.errors import ErrorCode
from protocol.schema import Which
from social.errors import SocialError


@dataclass(frozen=True, slots=True)
class FollowOutcome:
    """The pair after a `follow`, the reply's `mutual`, and whether the followed user's
    connections of that app get `followed {user, name, mutual}`."""

    relations: Relations
    mutual: bool
    notify: bool


@dataclass(frozen=True, slots=True)
class Relations:
    """Everything between users `a` and `b` (`a < b`; build it with `between`).

    `follows` holds `(app, follower)` pairs, `blocks` the users who block the other.
    """

    a: str
    b: str
    follows: frozenset[tuple[str, str]] = frozenset()
    blocks: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.a < self.b:
            raise ValueError("Relations needs a < b: build it with Relations.between")

    @classmethod
    def between(
        cls,
        x: str,
        y: str,
        *,
        follows: Iterable[tuple[str, str]] = (),
        blocks: Iterable[str] = (),
    ) -> Relations:
        """The pair `{x, y}` in either order; `x == y` is `bad_request` (field `user`)."""
        if x == y:
            raise SocialError(ErrorCode.BAD_REQUEST, "field 'user' must be someone else",
                              field="user")
        a, b = sorted((x, y))
        pair = frozenset((a, b))
        follows = frozenset(follows)
        if any(follower not in pair for _, follower in follows) or not set(blocks) <= pair:
            raise ValueError("a follow or block names a user outside the pair")
        return cls(a, b, follows, frozenset(blocks))

    # -- reading ---------------------------------------------------------------------------

    def other(self, user: str) -> str:
        if user == self.a:
            return self.b
        if user == self.b:
            return self.a
        raise ValueError(f"{user!r} is not in this pair")

    def follows_(self, follower: str, app: str) -> bool:
        """Is there a follow (hidden or not) by `follower` in `app`?"""
        return (app, follower) in self.follows

    def blocks_(self, blocker: str) -> bool:
        return blocker in self.blocks

    @property
    def blocked(self) -> bool:
        """Is there a block either way? Then no follow, call or match between them."""
        return bool(self.blocks)

    def hidden(self, follower: str, app: str) -> bool:
        """A follow by a user whom the followed one blocks: seen by its follower only."""
        return self.follows_(follower, app) and self.blocks_(self.other(follower))

    def sees_follow(self, viewer: str, follower: str, app: str) -> bool:
        """Does `viewer` (one of the pair) see `follower`'s follow in `app`?"""
        if not self.follows_(follower, app):
            return False
        return viewer == follower or not self.hidden(follower, app)

    def mutual(self, app: str) -> bool:
        """Friends in `app`: each follows the other there, and no block."""
        return (
            not self.blocked and self.follows_(self.a, app) and self.follows_(self.b, app)
        )

    def may_interact(self) -> bool:
        """May either call or be matched with the other? (No block either way.)"""
        return not self.blocked

    # -- changing --------------------------------------------------------------------------

    def follow(self, follower: str, app: str) -> FollowOutcome:
        """`follower` follows the other in `app` (see the module's rules)."""
        other = self.other(follower)
        if self.blocks_(follower):
            raise SocialError(ErrorCode.FORBIDDEN,
                              "you block this user: unblock them first", field="user")
        if self.follows_(follower, app):
            return FollowOutcome(self, self.mutual(app), notify=False)
        after = replace(self, follows=self.follows | {(app, follower)})
        if self.blocks_(other):
            return FollowOutcome(after, mutual=False, notify=False)
        return FollowOutcome(after, after.mutual(app), notify=True)

    def unfollow(self, follower: str, app: str) -> Relations:
        """`follower` stops following the other in `app` (not following: no change)."""
        self.other(follower)
        return replace(self, follows=self.follows - {(app, follower)})

    def block(self, blocker: str) -> Relations:
        """`blocker` blocks the other: every follow between them, in every app, is gone."""
        self.other(blocker)
        return replace(self, follows=frozenset(), blocks=self.blocks | {blocker})

    def unblock(self, blocker: str) -> Relations:
        """`blocker` lifts their block (follows removed by it stay removed; a hidden follow
        made since becomes an ordinary one)."""
        self.other(blocker)
        return replace(self, blocks=self.blocks - {blocker})


def listed(which: Which, *, follows: bool, followed_by: bool, blocks: bool) -> bool | None:
    """One user's place in the viewer's `list_follows` of one app: None when the list
    `which` leaves them out, else their `mutual` flag.

    `follows`: the viewer follows them (a hidden follow of the viewer's included);
    `followed_by`: they follow the viewer (stored, hidden or not); `blocks`: the viewer
    blocks them. Hidden follows are those of users the viewer blocks, so they drop out of
    `followers`; the viewer's own hidden follows (made while blocked) stay in `following`,
    unmutual, as the module explains. A user who blocks the viewer has no follow left with
    them, so needs no filter. The stores apply it to each candidate of a page
    (store/people.py `walk_page`); `follow_view` is the same rule over whole sets (a test
    checks they agree on every case).
    """
    seen_following = followed_by and not blocks
    mutual = follows and seen_following
    if which is Which.FOLLOWING:
        return mutual if follows else None
    if which is Which.FOLLOWERS:
        return mutual if seen_following else None
    if which is Which.FRIENDS:
        return True if mutual else None
    return False if blocks else None


def follow_view(
    which: Which,
    *,
    following: Iterable[str],
    followers: Iterable[str],
    blocking: Set[str],
) -> list[tuple[str, bool]]:
    """A user's whole `list_follows` in one app, as `(user, mutual)` sorted by user id.

    The rule `listed` states, by set algebra over whole sets: the stores page with `listed`
    and never call this; it is the independent reference their pages are tested against
    (tests/store/test_follow_pages.py), and what one page cost before (bench.follow_pages).

    `following` and `followers` are the viewer's stored follows in the app (hidden ones
    included); `blocking` the users the viewer blocks.

    `blocked` (our extension) is `blocking` itself, in no app (a block is per user), never
    mutual: a block removed every follow. It is only ever the blocker's own list, so a
    blocked user still learns nothing.
    """
    if which is Which.BLOCKED:
        return [(user, False) for user in sorted(blocking)]
    out_set = set(following)
    in_set = set(followers) - blocking
    mutual = (out_set & in_set) - blocking
    if which is Which.FOLLOWING:
        chosen = out_set
    elif which is Which.FOLLOWERS:
        chosen = in_set
    else:
        chosen = mutual
    return [(user, user in mutual) for user in sorted(chosen)]
