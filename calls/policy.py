"""The app policy: who may call whom, and where a call rings (`--apps FILE`).

PROTOCOL.md: a call from a connection of app A to user U is allowed when the two are
friends in A's graph (`calls_need: "friends"`; `"anyone"` drops the check); it rings every
connection of U whose app is in A's `rings_in`. A connection of an app the policy does not
name gets `forbidden` for `call`. The default policy is one app, `main`, whose calls need
friends and ring in `main`.

The seed's two-app policy (docs/apps.example.json): a Duoshan friend's call rings in both
Duoshan and Douyin, while Douyin's calls ring in Douyin only and need friends there, so a
Douyin user can call back from Douyin only after a mutual follow in Douyin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from calls.errors import CallError, PolicyError
from protocol.errors import ErrorCode
from protocol.schema import DEFAULT_APP

APP_NAME_RE = re.compile(r"[a-z0-9_-]{1,32}")
_APP_KEYS = {"calls_need", "rings_in"}


class CallsNeed(StrEnum):
    FRIENDS = "friends"
    ANYONE = "anyone"


@dataclass(frozen=True, slots=True)
class AppRule:
    calls_need: CallsNeed
    rings_in: frozenset[str]


@dataclass(frozen=True, slots=True)
class AppPolicy:
    apps: Mapping[str, AppRule]

    @classmethod
    def default(cls) -> AppPolicy:
        return cls({DEFAULT_APP: AppRule(CallsNeed.FRIENDS, frozenset({DEFAULT_APP}))})

    @classmethod
    def from_json(cls, text: str) -> AppPolicy:
        """Parse and check a policy file; `PolicyError` (one line) for anything wrong."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise PolicyError(f"not JSON: {str(exc).splitlines()[0]}") from None
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: Any) -> AppPolicy:
        """`{"apps": {name: {"calls_need": "friends"|"anyone", "rings_in": [app, ...]}}}`."""
        if not isinstance(data, dict) or set(data) != {"apps"}:
            raise PolicyError('the policy must be an object with one key, "apps"')
        apps = data["apps"]
        if not isinstance(apps, dict) or not apps:
            raise PolicyError('"apps" must be an object naming at least one app')
        rules: dict[str, AppRule] = {}
        for name, spec in apps.items():
            if APP_NAME_RE.fullmatch(name) is None:
                raise PolicyError(f"app name {name[:40]!r}: 1 to 32 characters of a-z 0-9 _ -")
            rules[name] = _rule(name, spec, apps)
        return cls(rules)

    # -- questions the server asks -----------------------------------------------------------

    def knows(self, app: str) -> bool:
        return app in self.apps

    def rule(self, app: str) -> AppRule:
        """The app's rule; `forbidden` for an app the policy does not name."""
        try:
            return self.apps[app]
        except KeyError:
            raise CallError(ErrorCode.FORBIDDEN,
                            f"calls are not enabled for app {app!r}") from None

    def may_call(self, from_app: str, are_friends_in_from_app: bool) -> bool:
        """May a connection of `from_app` call someone? (`forbidden` for an unknown app.)"""
        return (self.rule(from_app).calls_need is CallsNeed.ANYONE
                or are_friends_in_from_app)

    def rings_in(self, app: str) -> frozenset[str]:
        """The apps whose connections of the callee ring for a call from `app`."""
        return self.rule(app).rings_in


def _rule(name: str, spec: Any, apps: Mapping[str, Any]) -> AppRule:
    where = f"app {name!r}"
    if not isinstance(spec, dict) or set(spec) != _APP_KEYS:
        raise PolicyError(f'{where}: must be an object with "calls_need" and "rings_in"')
    try:
        need = CallsNeed(spec["calls_need"])
    except (ValueError, TypeError):
        raise PolicyError(f'{where}: "calls_need" must be "friends" or "anyone"') from None
    rings = spec["rings_in"]
    if not isinstance(rings, list) or not rings or not all(isinstance(r, str) for r in rings):
        raise PolicyError(f'{where}: "rings_in" must be a non-empty list of app names')
    unknown = [r for r in rings if r not in apps]
    if unknown:
        raise PolicyError(f'{where}: "rings_in" names {unknown[0][:40]!r}, which the policy '
                          "does not define")
    return AppRule(need, frozenset(rings))
