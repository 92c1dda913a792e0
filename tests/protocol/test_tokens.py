"""HS256 tokens: issue/verify, tampering, time claims, algorithms, 1.1 claims, and interop
with a hand-built JWT and with PyJWT itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from protocol.errors import ErrorCode, ProtocolError
from protocol.tokens import LEEWAY, Claims, issue_token, secret_warning, verify_token

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
        "iat": int(NOW),
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


def test_expired_after_the_leeway() -> None:
    token = issue_token(SECRET, "fay", "Fay", ttl=60, now=NOW)
    verify_token(SECRET, token, NOW + 59)
    verify_token(SECRET, token, NOW + 60 + LEEWAY - 0.5)  # a clock a little ahead
    assert "expired" in refused(token, now=NOW + 60 + LEEWAY)
    assert "expired" in refused(token, now=NOW + 10_000)
    with pytest.raises(ProtocolError):
        verify_token(SECRET, token, NOW + 60, leeway=0)


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


# --- time claims that are not plain numbers: never anything but not_authenticated --------

BASE = {"sub": "kim", "name": "Kim"}


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e300"])
def test_non_finite_or_absurd_time_claims(claim: str, raw: str) -> None:
    extra = "" if claim == "exp" else f', "exp": {int(NOW) + 60}'
    body = '{"sub": "kim", "name": "Kim", "%s": %s%s}' % (claim, raw, extra)  # noqa: UP031
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(body.encode())
    sig = hmac.new(SECRET.encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    assert f"'{claim}'" in refused(f"{head}.{payload}.{b64(sig)}")


@pytest.mark.parametrize("claim", ["nbf", "iat"])
@pytest.mark.parametrize("value", ["soon", True, [1], {"t": 1}])
def test_time_claims_of_other_types(claim: str, value: Any) -> None:
    token = hand_built({**BASE, "exp": int(NOW) + 60, claim: value})
    assert f"'{claim}'" in refused(token)


def test_not_before_with_leeway() -> None:
    token = hand_built({**BASE, "exp": int(NOW) + 600, "nbf": int(NOW) + 100})
    assert "nbf" in refused(token)
    assert "nbf" in refused(token, now=NOW + 100 - LEEWAY - 1)
    assert verify_token(SECRET, token, NOW + 100 - LEEWAY + 0.5).user == "kim"


def test_issued_in_the_future_with_leeway() -> None:
    token = hand_built({**BASE, "exp": int(NOW) + 600, "iat": int(NOW) + 60})
    assert "iat" in refused(token)
    assert verify_token(SECRET, token, NOW + 60 - LEEWAY + 0.5).user == "kim"
    past = hand_built({**BASE, "exp": int(NOW) + 600, "iat": int(NOW) - 86_400})
    assert verify_token(SECRET, past, NOW).user == "kim"


# --- audience and issuer --------------------------------------------------------------


def test_audience_and_issuer_round_trip() -> None:
    token = issue_token(SECRET, "lea", "Lea", 60, NOW, audience="voiceroom", issuer="auth.example")
    claims = verify_token(SECRET, token, NOW, audience="voiceroom", issuer="auth.example")
    assert claims.user == "lea"
    assert "'aud'" in refused_with(token, audience="another", issuer="auth.example")
    assert "'iss'" in refused_with(token, audience="voiceroom", issuer="evil.example")


def test_audience_list_naming_us_is_accepted() -> None:
    token = hand_built({**BASE, "exp": int(NOW) + 60, "aud": ["other", "voiceroom"]})
    assert verify_token(SECRET, token, NOW, audience="voiceroom").user == "kim"


def test_required_audience_or_issuer_missing_from_token() -> None:
    token = issue_token(SECRET, "lea", "Lea", 60, NOW)
    assert "'aud'" in refused_with(token, audience="voiceroom")
    assert "'iss'" in refused_with(token, issuer="auth.example")


def test_token_for_another_audience_is_refused_by_a_server_without_one() -> None:
    token = issue_token(SECRET, "lea", "Lea", 60, NOW, audience="some-other-service")
    refused(token)


@pytest.mark.parametrize("aud", [5, [5], {"a": 1}, None])
def test_malformed_audience(aud: Any) -> None:
    token = hand_built({**BASE, "exp": int(NOW) + 60, "aud": aud})
    if aud is None:  # a null claim is as good as absent
        assert verify_token(SECRET, token, NOW).user == "kim"
    else:
        refused_with(token, audience="voiceroom")


def refused_with(token: str, **kwargs: Any) -> str:
    with pytest.raises(ProtocolError) as info:
        verify_token(SECRET, token, NOW, **kwargs)
    assert info.value.code is ErrorCode.NOT_AUTHENTICATED
    return info.value.message


# --- 1.1 claims: app, verified, city --------------------------------------------------


def test_v1_token_gets_the_defaults() -> None:
    claims = verify_token(SECRET, issue_token(SECRET, "mo", "Mo", 60, NOW), NOW)
    assert (claims.app, claims.verified, claims.city) == ("main", False, None)


def test_new_claims_round_trip() -> None:
    token = issue_token(SECRET, "mo", "Mo", 60, NOW, app="duoshan", verified=True, city="Hangzhou")
    claims = verify_token(SECRET, token, NOW)
    assert claims == Claims("mo", "Mo", int(NOW) + 60, "duoshan", True, "Hangzhou")


def test_new_claims_from_another_issuer() -> None:
    token = hand_built(
        {**BASE, "exp": int(NOW) + 60, "app": "dou_yin-2", "verified": False, "city": " 北京\x07 "}
    )
    claims = verify_token(SECRET, token, NOW)
    assert (claims.app, claims.verified, claims.city) == ("dou_yin-2", False, "北京")


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("app", ""),
        ("app", "Douyin"),
        ("app", "a" * 33),
        ("app", "dou yin"),
        ("app", 7),
        ("app", ["main"]),
        ("verified", "true"),
        ("verified", 1),
        ("verified", [True]),
        ("city", ""),
        ("city", "   "),
        ("city", "c" * 65),
        ("city", 12),
        ("city", {"name": "Paris"}),
    ],
)
def test_malformed_new_claims(claim: str, value: Any) -> None:
    token = hand_built({**BASE, "exp": int(NOW) + 60, claim: value})
    assert f"'{claim}'" in refused(token)


def test_issue_refuses_malformed_new_claims() -> None:
    bad: list[dict[str, Any]] = [{"app": "Main"}, {"app": ""}, {"city": ""}, {"city": "x" * 65}]
    for kwargs in bad:
        with pytest.raises(ValueError):
            issue_token(SECRET, "mo", "Mo", 60, NOW, **kwargs)
    with pytest.raises(ValueError):
        issue_token(SECRET, "mo", "Mo", float("nan"), NOW)


# --- PyJWT itself, headers, secrets ----------------------------------------------------


def test_interop_with_pyjwt_both_ways() -> None:
    import jwt

    long_secret = "k" * 40
    theirs = jwt.encode({**BASE, "exp": int(NOW) + 60}, long_secret, algorithm="HS256")
    assert verify_token(long_secret, theirs, NOW).user == "kim"
    ours = issue_token(long_secret, "kim", "Kim", 60, NOW, verified=True)
    lenient: Any = {"verify_exp": False, "verify_iat": False}  # NOW is in the future
    decoded = jwt.decode(ours, long_secret, algorithms=["HS256"], options=lenient)
    assert decoded["sub"] == "kim" and decoded["verified"] is True


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "HS256", "crit": ["exp"]},
        {"alg": "HS256", "kid": 5},
        {"alg": "HS256", "b64": False},
        {"alg": ["HS256"]},
    ],
)
def test_odd_headers_are_refused(header: dict[str, Any]) -> None:
    refused(hand_built({**BASE, "exp": int(NOW) + 60}, header=header))


def test_short_secret_works_without_warnings_and_is_reported_once() -> None:
    # pytest turns warnings into errors here: PyJWT's per-call key warning must not leak.
    token = issue_token("s3", "nia", "Nia", 60, NOW)
    assert verify_token("s3", token, NOW).user == "nia"
    assert "bytes" in (secret_warning("s3") or "")
    assert secret_warning("x" * 32) is None
    assert secret_warning(b"y" * 31) is not None
