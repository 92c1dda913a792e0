"""Plain words for the error codes a person meets with people and calls.

A failed request prints `VERB: error CODE: words` (the code stays, for scripts to match;
the words say what happened and what to do). `who` is the other user, when there is one.
"""

from __future__ import annotations

from client.errors import ClientError

_WORDS: dict[str, str] = {
    "no_such_user": "there is no user {who} (they have never signed in)",
    "not_friends": "you can only call friends: you and {who} must follow each other in this app",
    "user_offline": "{who} is not online in an app this call rings in; try again later",
    "busy": "{who} is in another call right now",
    "already_in_call": "you already have a call ringing or going on; hang up first",
    "no_such_call": "that call is over, or it is not yours",
    "not_verified": "only real-name verified users can do that",
    "rate_limited": "too many requests at once; wait a moment",
    "not_authenticated": "the server wants a valid token (--token)",
    "connect_failed": "cannot reach the server (is it running? see --url)",
    "timeout": "the server did not answer in time",
    "connection_lost": "the connection to the server was lost",
}
# Codes whose server message carries the detail (which field, which rule).
_SERVER_WORDS = {"bad_request", "forbidden", "internal", "unknown_type"}


def explain(exc: ClientError, who: str | None = None) -> str:
    """`CODE: words`, e.g. `busy: bob is in another call right now`."""
    words = _WORDS.get(exc.code)
    if words is None or exc.code in _SERVER_WORDS:
        return f"{exc.code}: {exc.message}"
    return f"{exc.code}: {words.format(who=who or 'that user')}"
