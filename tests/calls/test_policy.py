"""The app policy file: the shipped example, the default, every way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from calls.errors import CallError, PolicyError
from calls.policy import AppPolicy, CallsNeed
from protocol.errors import ErrorCode

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "apps.example.json"


def test_the_shipped_example_is_the_seeds_one_way_rule() -> None:
    policy = AppPolicy.from_json(EXAMPLE.read_text(encoding="utf-8"))
    assert policy.rings_in("duoshan") == {"duoshan", "douyin"}
    assert policy.rings_in("douyin") == {"douyin"}
    assert policy.may_call("douyin", True) and not policy.may_call("douyin", False)


def test_default_is_one_app_main_needing_friends() -> None:
    policy = AppPolicy.default()
    assert set(policy.apps) == {"main"}
    assert policy.rule("main").calls_need is CallsNeed.FRIENDS
    assert policy.rings_in("main") == {"main"}
    assert not policy.may_call("main", False)


@pytest.mark.parametrize("call", [
    lambda p: p.may_call("tiktok", True), lambda p: p.rings_in("tiktok"),
    lambda p: p.rule(""),
])
def test_unknown_app_is_forbidden(call: object) -> None:
    with pytest.raises(CallError) as info:
        call(AppPolicy.default())  # type: ignore[operator]
    assert info.value.code is ErrorCode.FORBIDDEN
    assert not AppPolicy.default().knows("tiktok")


BAD_FILES = [
    ("", "not JSON"),
    ("{", "not JSON"),
    ("[]", '"apps"'),
    ('{"apps": {}}', "at least one app"),
    ('{"apps": [], "x": 1}', '"apps"'),
    ('{"apps": {"main": {"calls_need": "friends", "rings_in": ["main"]}}, "x": 1}', '"apps"'),
    ('{"apps": {"Main": {"calls_need": "friends", "rings_in": ["Main"]}}}', "app name"),
    ('{"apps": {"' + "a" * 33 + '": {"calls_need": "friends", "rings_in": ["a"]}}}',
     "app name"),
    ('{"apps": {"main": {"calls_need": "friends"}}}', '"rings_in"'),
    ('{"apps": {"main": {"calls_need": "everyone", "rings_in": ["main"]}}}', '"calls_need"'),
    ('{"apps": {"main": {"calls_need": 1, "rings_in": ["main"]}}}', '"calls_need"'),
    ('{"apps": {"main": {"calls_need": "anyone", "rings_in": []}}}', '"rings_in"'),
    ('{"apps": {"main": {"calls_need": "anyone", "rings_in": "main"}}}', '"rings_in"'),
    ('{"apps": {"main": {"calls_need": "anyone", "rings_in": [1]}}}', '"rings_in"'),
    ('{"apps": {"main": {"calls_need": "anyone", "rings_in": ["other"]}}}', "'other'"),
    ('{"apps": {"main": {"calls_need": "anyone", "rings_in": ["main"], "x": 0}}}',
     '"calls_need" and "rings_in"'),
    ('{"apps": {"main": 5}}', "must be an object"),
    ("[" * 100_000, "not JSON"),
]


@pytest.mark.parametrize(("text", "says"), BAD_FILES)
def test_bad_files_give_one_line(text: str, says: str) -> None:
    with pytest.raises(PolicyError) as info:
        AppPolicy.from_json(text)
    message = str(info.value)
    assert says in message
    assert "\n" not in message and len(message) < 200
