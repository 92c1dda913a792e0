"""HS256 JSON Web Tokens through PyJWT: claims `sub` (user id), `name`, `exp`, and 1.1's
optional `app`, `verified`, `city`; `nbf`, `iat`, `aud`, `iss` as the JWT standard has them.

Pure: the caller passes `now` (seconds since the epoch). PyJWT checks the signature, the
algorithm (pinned to HS256) and `aud`/`iss`; the time claims are checked here against
`now`, with LEEWAY seconds for clocks that disagree a little, because PyJWT reads the wall
clock itself and lets an `exp` of 1e400 escape as OverflowError. Every refusal is a
ProtocolError(not_authenticated) whose message says what was wrong.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from protocol.errors import ErrorCode, ProtocolError
from protocol.validate import APP_RE, TOKEN_MAX, clean_name, is_user_id
from protocol.vocabulary import CITY_MAX, DEFAULT_APP

ALGORITHM = "HS256"
LEEWAY = 5.0
"""Seconds of clock disagreement tolerated on `exp`, `nbf` and `iat`."""
MIN_SECRET_BYTES = 32
"""RFC 7518 §3.2: an HS256 key should be at least as long as the hash (32 bytes)."""
# Beyond datetime's range (year 9999) a time claim is garbage, and any caller that turns
# it into a date would crash on it.
_TIME_MAX = 253_402_300_799


@dataclass(frozen=True, slots=True)
class Claims:
    user: str
    name: str
    exp: int
    app: str = DEFAULT_APP
    verified: bool = False
    city: str | None = None


def _refuse(reason: str) -> ProtocolError:
    return ProtocolError(ErrorCode.NOT_AUTHENTICATED, f"invalid token: {reason}")


def _key(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


@contextmanager
def _short_secret_allowed() -> Iterator[None]:
    # PyJWT warns on every call with a secret under 32 bytes; the secret is the
    # operator's choice, told once at start (secret_warning), not once per hello.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        yield


def secret_warning(secret: str | bytes) -> str | None:
    """A warning for the operator when `secret` is too short to be safe, else None."""
    length = len(_key(secret))
    if length >= MIN_SECRET_BYTES:
        return None
    return (
        f"the token secret is {length} bytes; HS256 wants at least {MIN_SECRET_BYTES} "
        "(RFC 7518 §3.2): a short secret can be guessed offline from any token"
    )


def is_app_id(value: object) -> bool:
    return isinstance(value, str) and APP_RE.fullmatch(value) is not None


def issue_token(
    secret: str | bytes,
    user: str,
    name: str,
    ttl: float,
    now: float,
    *,
    app: str | None = None,
    verified: bool | None = None,
    city: str | None = None,
    audience: str | None = None,
    issuer: str | None = None,
) -> str:
    """A signed token for `user` that expires `ttl` seconds after `now`.

    Optional claims are written only when given, so a v1 token stays as small as before.
    """
    if not is_user_id(user):
        raise ValueError(f"not a valid user id: {user!r}")
    if clean_name(name) is None:
        raise ValueError(f"not a valid display name: {name!r}")
    if not (math.isfinite(ttl) and math.isfinite(now)):
        raise ValueError("ttl and now must be finite numbers")
    payload: dict[str, Any] = {"sub": user, "name": name, "iat": int(now), "exp": int(now + ttl)}
    if app is not None:
        if not is_app_id(app):
            raise ValueError(f"not a valid app id (1 to 32 of a-z 0-9 _ -): {app!r}")
        payload["app"] = app
    if verified is not None:
        payload["verified"] = bool(verified)
    if city is not None:
        if not isinstance(city, str) or not 1 <= len(city) <= CITY_MAX:
            raise ValueError(f"city must be 1 to {CITY_MAX} characters: {city!r}")
        payload["city"] = city
    if audience is not None:
        payload["aud"] = audience
    if issuer is not None:
        payload["iss"] = issuer
    with _short_secret_allowed():
        return jwt.encode(payload, _key(secret), algorithm=ALGORITHM)


def _time_claim(payload: dict[str, Any], claim: str) -> float | None:
    value = payload.get(claim)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _refuse(f"claim '{claim}' must be a number")
    # NaN and ±Infinity arrive from JSON's NaN/Infinity/1e400; every comparison with NaN
    # is false, so without this an `exp` of NaN would never expire.
    if not math.isfinite(value) or not 0 <= value <= _TIME_MAX:
        raise _refuse(f"claim '{claim}' is out of range")
    return float(value)


_PYJWT_OPTIONS: dict[str, Any] = {
    # Checked here against the caller's `now` (see the module docstring).
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    # `sub` is checked more strictly below (the user id alphabet).
    "verify_sub": False,
}


def _decode(secret: str | bytes, token: str, audience: str | None, issuer: str | None) -> Any:
    try:
        with _short_secret_allowed():
            return jwt.decode(
                token,
                _key(secret),
                algorithms=[ALGORITHM],
                options=_PYJWT_OPTIONS,  # type: ignore[arg-type]
                audience=audience,
                issuer=issuer,
            )
    except jwt.InvalidAlgorithmError:
        raise _refuse(f"algorithm must be {ALGORITHM}") from None
    except jwt.InvalidSignatureError:
        raise _refuse("bad signature") from None
    except jwt.InvalidAudienceError:
        raise _refuse("claim 'aud' does not name this server") from None
    except jwt.InvalidIssuerError:
        raise _refuse("claim 'iss' is not the expected issuer") from None
    except jwt.MissingRequiredClaimError as exc:
        raise _refuse(f"missing claim '{exc.claim}'") from None
    except jwt.DecodeError:
        raise _refuse("not a JWT (header.payload.signature, base64url-encoded JSON)") from None
    except jwt.PyJWTError as exc:
        raise _refuse(str(exc) or type(exc).__name__) from None
    except (ValueError, TypeError, OverflowError, RecursionError, UnicodeError):
        # PyJWT's own checks on odd headers; a token is never worth a traceback.
        raise _refuse("malformed") from None


def verify_token(
    secret: str | bytes,
    token: str,
    now: float,
    *,
    audience: str | None = None,
    issuer: str | None = None,
    leeway: float = LEEWAY,
) -> Claims:
    """Check signature, algorithm, time claims and identity claims; return the claims.

    With `audience` (or `issuer`) given, the token's `aud` must name it (its `iss` must
    equal it). A token that carries `aud` is refused when no audience is given (RFC 7519
    §4.1.3: a server not named by `aud` must not take it).
    """
    if not isinstance(token, str) or not token:
        raise ProtocolError(ErrorCode.NOT_AUTHENTICATED, "a token is required")
    if len(token) > TOKEN_MAX:
        raise _refuse(f"longer than {TOKEN_MAX} characters")
    if token.count(".") != 2:
        raise _refuse("expected three dot-separated parts (header.payload.signature)")
    payload = _decode(secret, token, audience, issuer)
    if not isinstance(payload, dict):
        raise _refuse("payload is not a JSON object")

    exp = _time_claim(payload, "exp")
    if exp is None:
        raise _refuse("missing claim 'exp'")
    if exp <= now - leeway:
        raise _refuse("expired")
    nbf = _time_claim(payload, "nbf")
    if nbf is not None and nbf > now + leeway:
        raise _refuse("not valid yet (claim 'nbf')")
    iat = _time_claim(payload, "iat")
    if iat is not None and iat > now + leeway:
        raise _refuse("issued in the future (claim 'iat')")

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

    app = payload.get("app")
    if app is None:
        app = DEFAULT_APP
    elif not is_app_id(app):
        raise _refuse("claim 'app' must be 1 to 32 characters of a-z 0-9 _ -")
    verified = payload.get("verified")
    if verified is None:
        verified = False
    elif not isinstance(verified, bool):
        raise _refuse("claim 'verified' must be true or false")
    raw_city = payload.get("city")
    city: str | None = None
    if raw_city is not None:
        # The same cleaning as a display name: controls out, 1 to 64 characters.
        city = clean_name(raw_city)
        if city is None or len(city) > CITY_MAX:
            raise _refuse(f"claim 'city' must be a string of 1 to {CITY_MAX} characters")
    return Claims(user=sub, name=name, exp=int(exp), app=app, verified=verified, city=city)
