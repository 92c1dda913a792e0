"""HS256 tokens: issue/verify, tampering, expiry, algorithms, and interop with a hand-built JWT."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from protocol.errors import ErrorCode, ProtocolError
from protocol.tokens import Claims, issue_token, verify_token

SECRET = "s3cret-for-tests"
NOW = 1_800_000_000.0


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_built(
    payload: dict[str, Any], secret: str = SECRET, header: dict[str, Any] | None = None
) -> str:
    """A JWT built the way any other library would, independent of protocol.tokens."""
    head = b64(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def refused(token: Any, now: float = NOW, secret: str = SECRET) -> str:
    with pytest.raises(ProtocolError) as info:
        verify_token(secret, token, now)
    assert info.value.code is ErrorCode.NOT_AUTHENTICATED
    return info.value.message


def test_issue_then_verify() -> None:
    token = issue_token(SECRET, "ada.l", "Ada Lovelace", ttl=3600, now=NOW)
    assert verify_token(SECRET, token, NOW + 10) == Claims("ada.l", "Ada Lovelace", int(NOW) + 3600)


def test_issued_token_is_a_standard_jwt() -> None:
    token = issue_token(SECRET, "bob", "Bob ✓", ttl=60, now=NOW)
    head, body, sig = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    assert json.loads(base64.urlsafe_b64decode(pad(head))) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(base64.urlsafe_b64decode(pad(body))) == {
        "sub": "bob",
        "name": "Bob ✓",
        "exp": int(NOW) + 60,
    }
    expected = hmac.new(SECRET.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert base64.urlsafe_b64decode(pad(sig)) == expected


def test_verifies_independently_built_token() -> None:
    token = hand_built({"sub": "carol", "name": "Carol", "exp": int(NOW) + 5, "iat": 1})
    assert verify_token(SECRET, token, NOW) == Claims("carol", "Carol", int(NOW) + 5)


def test_bytes_secret_equals_str_secret() -> None:
    token = issue_token(SECRET.encode(), "dan", "Dan", ttl=60, now=NOW)
    assert verify_token(SECRET, token, NOW).user == "dan"


def test_wrong_secret() -> None:
    token = issue_token(SECRET, "eve", "Eve", ttl=60, now=NOW)
    assert "signature" in refused(token, secret="other")


@pytest.mark.parametrize("part", [0, 1, 2])
def test_tampered_parts_are_refused(part: int) -> None:
    token = issue_token(SECRET, "eve", "Eve", ttl=60, now=NOW)
    parts = token.split(".")
    # Flip one character in the middle of the part.
    s = parts[part]
    i = len(s) // 2
    parts[part] = s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1 :]
    refused(".".join(parts))


def test_swapped_payload_is_refused() -> None:
    token = issue_token(SECRET, "eve", "Eve", ttl=60, now=NOW)
    head, _, sig = token.split(".")
    forged = b64(json.dumps({"sub": "admin", "name": "Eve", "exp": int(NOW) + 60}).encode())
    assert "signature" in refused(f"{head}.{forged}.{sig}")


def test_expired() -> None:
    token = issue_token(SECRET, "fay", "Fay", ttl=60, now=NOW)
    verify_token(SECRET, token, NOW + 59)
    assert "expired" in refused(token, now=NOW + 60)
    assert "expired" in refused(token, now=NOW + 10_000)


@pytest.mark.parametrize("alg", ["none", "HS512", "RS256", "hs256", None])
def test_wrong_alg(alg: str | None) -> None:
    header = {"alg": alg, "typ": "JWT"} if alg is not None else {"typ": "JWT"}
    token = hand_built({"sub": "g", "name": "G", "exp": int(NOW) + 60}, header=header)
    assert "algorithm" in refused(token)


def test_alg_none_without_signature() -> None:
    head = b64(json.dumps({"alg": "none"}).encode())
    body = b64(json.dumps({"sub": "g", "name": "G", "exp": int(NOW) + 60}).encode())
    refused(f"{head}.{body}.")


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ({"name": "H", "exp": NOW + 60}, "'sub'"),
        ({"sub": "h", "exp": NOW + 60}, "'name'"),
        ({"sub": "h", "name": "H"}, "'exp'"),
        ({"sub": "h", "name": "H", "exp": "tomorrow"}, "'exp'"),
        ({"sub": "h", "name": "H", "exp": True}, "'exp'"),
        ({"sub": "bad user", "name": "H", "exp": NOW + 60}, "'sub'"),
        ({"sub": "", "name": "H", "exp": NOW + 60}, "'sub'"),
        ({"sub": 42, "name": "H", "exp": NOW + 60}, "'sub'"),
        ({"sub": "h", "name": "", "exp": NOW + 60}, "'name'"),
        ({"sub": "h", "name": "n" * 65, "exp": NOW + 60}, "'name'"),
        ({"sub": "h", "name": ["H"], "exp": NOW + 60}, "'name'"),
    ],
)
def test_bad_claims(payload: dict[str, Any], words: str) -> None:
    assert words in refused(hand_built(payload))


def test_non_object_payload() -> None:
    refused(hand_built([1, 2]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "!!!.@@@.###", "....", "é.é.é", "x" * 5000, None, 5, b"a.b.c"],
)
def test_malformed(token: Any) -> None:
    message = refused(token)
    assert message


def test_name_with_control_characters_is_cleaned() -> None:
    token = hand_built({"sub": "ivy", "name": "\x1bIvy\x00", "exp": NOW + 60})
    assert verify_token(SECRET, token, NOW).name == "Ivy"


def test_issue_refuses_invalid_identity() -> None:
    with pytest.raises(ValueError):
        issue_token(SECRET, "not valid", "N", ttl=1, now=NOW)
    with pytest.raises(ValueError):
        issue_token(SECRET, "ok", "", ttl=1, now=NOW)
