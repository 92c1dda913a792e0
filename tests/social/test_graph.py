"""The follow graph and blocks, driven as plain values: no store, no I/O."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import ErrorCode
from protocol.schema import Which
from social.errors import SocialError
from social.graph import Relations, follow_view, listed

A, B = "ann", "bob"


def pair(*follows: tuple[str, str], blocks: tuple[str, ...] = ()) -> Relations:
    return Relations.between(B, A, follows=follows, blocks=blocks)


def test_pair_is_canonical_and_refuses_oneself() -> None:
    assert Relations.between(B, A) == Relations.between(A, B)
    assert (Relations.between(B, A).a, Relations.between(B, A).b) == (A, B)
    with pytest.raises(SocialError) as info:
        Relations.between(A, A)
    assert info.value.code is ErrorCode.BAD_REQUEST and info.value.field == "user"
    with pytest.raises(ValueError):
        Relations(B, A)
    with pytest.raises(ValueError):
        Relations.between(A, B, follows=[("main", "eve")])


# (starting follows, starting blocks, follower, app) -> (mutual, notify, stored)
FOLLOW_CASES = [
    ((), (), A, "main", False, True, True),
    ((("main", B),), (), A, "main", True, True, True),
    ((("duoshan", B),), (), A, "main", False, True, True),  # graphs are per app
    ((("main", A),), (), A, "main", False, False, True),  # again: nothing changes
    ((("main", A), ("main", B)), (), A, "main", True, False, True),
    ((), (B,), A, "main", False, False, True),  # blocked: hidden, told nothing
    ((("main", A),), (B,), A, "main", False, False, True),
]


@pytest.mark.parametrize(("follows", "blocks", "who", "app", "mutual", "notify", "stored"),
                         FOLLOW_CASES)
def test_follow(follows: tuple[tuple[str, str], ...], blocks: tuple[str, ...], who: str,
                app: str, mutual: bool, notify: bool, stored: bool) -> None:
    before = pair(*follows, blocks=blocks)
    out = before.follow(who, app)
    assert (out.mutual, out.notify) == (mutual, notify)
    assert out.relations.follows_(who, app) is stored
    assert before.follows == frozenset(follows)  # values are never changed in place
    if (app, who) in follows:
        assert out.relations == before


def test_blocked_follower_cannot_tell_from_the_reply_or_their_list() -> None:
    blocked = pair(blocks=(B,)).follow(A, "main")
    stranger = pair().follow(A, "main")
    assert blocked.mutual == stranger.mutual is False
    rel = blocked.relations
    assert rel.sees_follow(A, A, "main") and not rel.sees_follow(B, A, "main")
    assert rel.hidden(A, "main") and not rel.mutual("main")
    # The follower's own list shows it; the blocker's followers do not.
    assert follow_view(Which.FOLLOWING, following=[B], followers=[], blocking=set()) == [
        (B, False)]
    assert follow_view(Which.FOLLOWERS, following=[], followers=[A], blocking={A}) == []


def test_blocker_may_not_follow_until_unblocking() -> None:
    rel = pair(blocks=(A,))
    with pytest.raises(SocialError) as info:
        rel.follow(A, "main")
    assert info.value.code is ErrorCode.FORBIDDEN
    assert rel.unblock(A).follow(A, "main").notify


def test_block_removes_every_follow_in_every_app_and_refuses_interaction() -> None:
    rel = pair(("main", A), ("main", B), ("douyin", A), ("duoshan", B))
    assert rel.mutual("main") and rel.may_interact()
    blocked = rel.block(B)
    assert blocked.follows == frozenset() and blocked.blocks_(B) and not blocked.blocks_(A)
    assert not blocked.may_interact() and not blocked.mutual("main")
    assert blocked.block(B) == blocked


def test_unblock_keeps_removed_follows_removed_and_surfaces_hidden_ones() -> None:
    rel = pair(("main", A), ("main", B)).block(B).follow(A, "main").relations
    after = rel.unblock(B)
    assert after.sees_follow(B, A, "main") and not after.mutual("main")
    assert not after.follows_(B, "main")
    # Two blocks: one lifted leaves the other in force.
    both = pair(blocks=(A, B)).unblock(A)
    assert not both.may_interact()


def test_unfollow() -> None:
    rel = pair(("main", A), ("main", B))
    assert not rel.unfollow(A, "main").mutual("main")
    assert rel.unfollow(A, "douyin") == rel
    with pytest.raises(ValueError):
        rel.unfollow("eve", "main")


OPS = st.lists(
    st.tuples(st.sampled_from(["follow", "unfollow", "block", "unblock"]),
              st.sampled_from([A, B]), st.sampled_from(["main", "douyin"])),
    max_size=30,
)


@given(OPS)
def test_graph_invariants(ops: list[tuple[str, str, str]]) -> None:
    rel = Relations.between(A, B)
    for op, who, app in ops:
        try:
            if op == "follow":
                out = rel.follow(who, app)
                assert out.mutual == out.relations.mutual(app) or out.relations.blocked
                assert not (out.notify and out.relations.blocked)
                rel = out.relations
            elif op == "unfollow":
                rel = rel.unfollow(who, app)
            elif op == "block":
                rel = rel.block(who)
                assert not rel.follows
            else:
                rel = rel.unblock(who)
        except SocialError as exc:
            assert exc.code is ErrorCode.FORBIDDEN and rel.blocks_(who)
        # Friends only without a block; a blocker never follows the one they block.
        for app_ in ("main", "douyin"):
            assert not (rel.mutual(app_) and rel.blocked)
            for blocker in rel.blocks:
                assert not rel.follows_(blocker, app_)


VIEW_CASES = [
    (Which.FOLLOWING, [("cat", False), ("dan", True)]),
    (Which.FOLLOWERS, [("dan", True), ("eve", False)]),
    (Which.FRIENDS, [("dan", True)]),
    (Which.BLOCKED, [("fay", False)]),
]


@pytest.mark.parametrize(("which", "expected"), VIEW_CASES)
def test_follow_view(which: Which, expected: list[tuple[str, bool]]) -> None:
    # ann follows cat and dan; dan, eve and fay follow ann; ann blocks fay (hidden follower).
    view = follow_view(which, following=["dan", "cat"], followers=["eve", "dan", "fay"],
                       blocking={"fay"})
    assert view == expected


def test_blocked_view_is_every_block_sorted_and_never_mutual() -> None:
    view = follow_view(Which.BLOCKED, following=["bob"], followers=["bob"],
                       blocking={"zed", "amy", "bob"})
    assert view == [("amy", False), ("bob", False), ("zed", False)]


@pytest.mark.parametrize("which", list(Which))
def test_listed_is_follow_view_one_user_at_a_time(which: Which) -> None:
    """Every combination of the three facts about one user: `listed` (what the stores apply
    to each candidate of a page) says what the whole-list view says."""
    for follows, followed_by, blocks in itertools.product((False, True), repeat=3):
        view = follow_view(which, following=["x"] if follows else [],
                           followers=["x"] if followed_by else [],
                           blocking={"x"} if blocks else set())
        mutual = listed(which, follows=follows, followed_by=followed_by, blocks=blocks)
        assert view == ([] if mutual is None else [("x", mutual)])
