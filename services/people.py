"""`PeopleService`: profiles, the follow graph per app, blocks (docs/protocol.md "Identity,
apps and profiles", "Follows, friends and blocks").

The rules are `social/`'s; the store keeps their values (a pair's change atomic on any
node); presence (store/presence.py) says who is online in which app. Events (`followed`) go
back to the caller as a `UserBatch`, sent after the reply.

`online` (get_profile, list_follows; friends only) means: the friend has a connection in an
app where a call from the viewer's app rings (the policy's `rings_in`; for an app the policy
does not name, the viewer's own app) - the green dot says "you can call them now".
"""

from __future__ import annotations

from typing import Any

from calls.machine import Actor, Recipients
from calls.policy import AppPolicy
from protocol import messages
from protocol.errors import ErrorCode
from protocol.schema import SetProfile, Which
from social.errors import SocialError
from social.graph import FollowOutcome, Relations
from social.paging import next_cursor, page_start
from social.profile import Profile, edited
from store.people import PeopleStore
from store.presence import Presence
from store.user_events import UserBatch, UserEvent


class PeopleService:
    def __init__(self, store: PeopleStore, presence: Presence,
                 policy: AppPolicy | None = None) -> None:
        self.store = store
        self.presence = presence
        self.policy = policy or AppPolicy.default()

    # -- identity and profiles ---------------------------------------------------------------

    async def signed_in(self, user: str, name: str, *, verified: bool,
                        city: str | None) -> Profile:
        """A `hello`: the session's name and verification, and its city when it has one."""
        fields: dict[str, Any] = {"name": name, "verified": verified}
        if city:
            fields["city"] = city
        return await self.store.update_profile(user, fields)

    async def set_profile(self, actor: Actor, session_city: str | None,
                          city: str | None, tags: tuple[str, ...] | None,
                          bio: str | None) -> Profile:
        current = await self._known(actor.user)
        after = edited(current, SetProfile(city=city, tags=tags, bio=bio),
                       session_city=session_city)
        fields: dict[str, Any] = {}
        if tags is not None:
            fields["tags"] = after.tags
        if bio is not None:
            fields["bio"] = after.bio
        if city is not None and not session_city:
            fields["city"] = after.city
        if not fields:
            return current
        return await self.store.update_profile(actor.user, fields)

    async def get_profile(self, actor: Actor, user: str) -> dict[str, Any]:
        profile = await self._known(user)
        if user == actor.user:
            return profile.wire()
        relations = await self.store.relations(actor.user, user)
        if not relations.mutual(self._app(actor)):
            return profile.wire()
        return profile.wire(online=await self._online(actor, user))

    # -- follows and blocks ------------------------------------------------------------------

    async def follow(self, actor: Actor, user: str) -> tuple[bool, UserBatch]:
        """`{mutual}`, and `followed` to the followed user's connections of the app (unless
        the follow is hidden or was there already)."""
        Relations.between(actor.user, user)  # oneself: bad_request, before the lookup
        await self._known(user)
        app = self._app(actor)

        def change(relations: Relations) -> tuple[Relations, FollowOutcome]:
            outcome = relations.follow(actor.user, app)
            return outcome.relations, outcome

        _, outcome = await self.store.change_relations(actor.user, user, change)
        events = []
        if outcome.notify:
            events.append(UserEvent(
                messages.personal_event("followed", user=actor.user, name=actor.name,
                                        mutual=outcome.mutual),
                Recipients(frozenset({user}), frozenset({app}))))
        return outcome.mutual, UserBatch(events)

    async def unfollow(self, actor: Actor, user: str) -> None:
        await self._change(actor, user, lambda r: r.unfollow(actor.user, self._app(actor)))

    async def block(self, actor: Actor, user: str) -> None:
        await self._change(actor, user, lambda r: r.block(actor.user))

    async def unblock(self, actor: Actor, user: str) -> None:
        await self._change(actor, user, lambda r: r.unblock(actor.user))

    async def _change(self, actor: Actor, user: str, rule: Any) -> None:
        Relations.between(actor.user, user)
        await self._known(user)
        await self.store.change_relations(actor.user, user, lambda r: (rule(r), None))

    async def list_follows(self, actor: Actor, which: Which, limit: int,
                           cursor: str | None) -> dict[str, Any]:
        # One page from the store, in O(log n + limit) (store/people.py `follow_page`): never
        # the whole list, which for a star is a million followers.
        after = page_start(limit, cursor)
        chunk, more = await self.store.follow_page(actor.user, self._app(actor), which,
                                                   after, limit)
        users = [user for user, _ in chunk]
        next_page = next_cursor(users, more)
        profiles = await self.store.profiles(users)
        friends = [user for user, mutual in chunk if mutual]
        reach = self._reach(actor)
        apps = await self.presence.apps_of(friends)
        entries = []
        for user, mutual in chunk:
            profile = profiles.get(user)
            entry: dict[str, Any] = {"user": user,
                                     "name": profile.name if profile else user,
                                     "mutual": mutual}
            if mutual:
                entry["online"] = bool(apps.get(user, frozenset()) & reach)
            entries.append(entry)
        reply: dict[str, Any] = {"users": entries}
        if next_page is not None:
            reply["cursor"] = next_page
        return reply

    # -- helpers -----------------------------------------------------------------------------

    async def _known(self, user: str) -> Profile:
        profile = await self.store.profile(user)
        if profile is None:
            raise SocialError(ErrorCode.NO_SUCH_USER, f"no user {user!r}", field="user")
        return profile

    @staticmethod
    def _app(actor: Actor) -> str:
        assert actor.app is not None, "a signed-in actor has an app"
        return actor.app

    def _reach(self, actor: Actor) -> frozenset[str]:
        app = self._app(actor)
        return self.policy.rings_in(app) if self.policy.knows(app) else frozenset({app})

    async def _online(self, actor: Actor, user: str) -> bool:
        return bool(await self.presence.apps(user) & self._reach(actor))
