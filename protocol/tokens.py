"""HS256 JSON Web Tokens, by hand: the claims are `sub` (user id), `name` and `exp`.

Pure: the caller passes `now` (seconds since the epoch). Every refusal is a
ProtocolError(not_authenticated) whose message says what was wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from protocol.errors import ErrorCode, ProtocolError
from protocol.validate import TOKEN_MAX, clean_name, is_user_id

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Claims:
    user: str
    name: str
    exp: int


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(part: str) -> bytes:
    if not part or any(c not in _B64_ALPHABET for c in part) or len(part) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _sign(secret: str | bytes, signing_input: bytes) -> bytes:
    return hmac.new(_key(secret), signing_input, hashlib.sha256).digest()


def _refuse(reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.NOT_AUTHENTICATED, f"invalid token: {reason}")


def issue_token(secret: str | bytes, user: str, name: str, ttl: float, now: float) -> str:
    """A signed token for `user` that expires `ttl` seconds after `now`."""
    if not is_user_id(user):
        raise ValueError(f"not a valid user id: {user!r}")
    if clean_name(name) is None:
        raise ValueError(f"not a valid display name: {name!r}")
    header = {"alg": ALGORITHM, "typ": "JWT"}
    payload = {"sub": user, "name": name, "exp": int(now + ttl)}
    signing_input = (
        _b64encode(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64encode(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    )
    signature = _sign(secret, signing_input.encode("ascii"))
    return signing_input + "." + _b64encode(signature)


def _json_part(part: str, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(_b64decode(part))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise _refuse(f"{what} is not base64url-encoded JSON") from None
    if not isinstance(obj, dict):
        raise _refuse(f"{what} is not a JSON object")
    return obj


def verify_token(secret: str | bytes, token: str, now: float) -> Claims:
    """Check signature, algorithm, expiry and claims; return the claims."""
    if not isinstance(token, str) or not token:
        raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "a token is required")
    if len(token) > TOKEN_MAX:
        raise _refuse(f"longer than {TOKEN_MAX} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise _refuse("expected three dot-separated parts (header.payload.signature)")
    header = _json_part(parts[0], "header")
    if header.get("alg") != ALGORITHM:
        raise _refuse(f"algorithm must be {ALGORITHM}, got {header.get('alg')!r}")
    try:
        signature = _b64decode(parts[2])
    except (ValueError, binascii.Error):
        raise _refuse("signature is not base64url") from None
    expected = _sign(secret, f"{parts[0]}.{parts[1]}".encode("ascii", "replace"))
    if not hmac.compare_digest(signature, expected):
        raise _refuse("bad signature")
    payload = _json_part(parts[1], "payload")
    exp = payload.get("exp")
    if exp is None:
        raise _refuse("missing claim 'exp'")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise _refuse("claim 'exp' must be a number")
    if exp <= now:
        raise _refuse("expired")
    sub = payload.get("sub")
    if sub is None:
        raise _refuse("missing claim 'sub'")
    if not is_user_id(sub):
        raise _refuse("claim 'sub' must be 1 to 64 characters of A-Z a-z 0-9 _ . -")
    raw_name = payload.get("name")
    if raw_name is None:
        raise _refuse("missing claim 'name'")
    name = clean_name(raw_name)
    if name is None:
        raise _refuse("claim 'name' must be a string of 1 to 64 characters")
    return Claims(user=sub, name=name, exp=int(exp))
