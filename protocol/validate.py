"""Turn a decoded request map into `(id, command)`, or refuse it with a named field.

The field rules are data: `RULES` maps each wire field name to one `Rule`, and
every request dataclass in `protocol.schema` is checked field by field against
it. Unknown extra fields are tolerated (PROTOCOL.md lets clients send more).
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from protocol import schema
from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import Command, SeatMode

# Request ids must survive a round trip through any client (JavaScript numbers).
MAX_ID = 2**53 - 1
TOKEN_MAX = 4096
CURSOR_MAX = 128
ROOM_MAX = 64
AUTO_CHATROOM_MAX = 1000

ROOM_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
USER_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class RequestError(ProtocolError):
    """A refused request; `id` is the request's id, or None when it had no valid one."""

    def __init__(
        self, code: ErrorCode, message: str, *, id: int | None, field: str | None = None
    ) -> None:
        super().__init__(code, message, field=field)
        self.id = id

    def __repr__(self) -> str:
        return f"RequestError({self.code.value!r}, {self.message!r}, id={self.id!r})"


def strip_controls(text: str, keep: str = "") -> str:
    """Drop control characters (Unicode category Cc) except those in `keep`."""
    return "".join(ch for ch in text if ch in keep or unicodedata.category(ch) != "Cc")


def _clean_label(text: str) -> str:
    return strip_controls(text).strip()


def _clean_text(text: str) -> str:
    # Chat keeps line breaks and tabs; other control characters would corrupt displays.
    return strip_controls(text, keep="\n\t")


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and USER_ID_RE.fullmatch(value) is not None


def clean_name(value: object) -> str | None:
    """A display name as `hello` accepts it (control characters stripped), or None."""
    if not isinstance(value, str) or _has_surrogates(value):
        return None
    cleaned = _clean_label(value)
    return cleaned if 1 <= len(cleaned) <= schema.NAME_MAX else None


def _has_surrogates(text: str) -> bool:
    # JSON "\ud800" escapes decode to lone surrogates, which no encoder can send back.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@dataclass(frozen=True, slots=True)
class Rule:
    """How one wire field is checked. `kind` is "str", "int", "bool" or "enum"."""

    kind: str
    min: int = 0
    max: int | None = None
    pattern: re.Pattern[str] | None = None
    pattern_help: str = ""
    clean: Callable[[str], str] | None = None
    not_blank: bool = False
    enum: type[StrEnum] | None = None

    def describe(self) -> str:
        if self.kind == "int":
            upper = f" and <= {self.max}" if self.max is not None else ""
            return f"an integer >= {self.min}{upper}"
        if self.kind == "bool":
            return "a boolean (true or false)"
        if self.kind == "enum":
            assert self.enum is not None
            return "one of " + ", ".join(f'"{m.value}"' for m in self.enum)
        size = (
            f"at most {self.max} characters"
            if self.min == 0
            else f"{self.min} to {self.max} characters"
        )
        if self.pattern_help:
            size += f" of {self.pattern_help}"
        if self.not_blank:
            size += ", not only whitespace"
        return f"a string of {size}"

    def check(self, field: str, value: Any) -> Any:
        """Return the value to store, or raise ProtocolError(bad_request) naming `field`."""
        if self.kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
            if ok and value >= self.min and (self.max is None or value <= self.max):
                return value
        elif self.kind == "bool":
            if isinstance(value, bool):
                return value
        elif self.kind == "enum":
            assert self.enum is not None
            if isinstance(value, str):
                try:
                    return self.enum(value)
                except ValueError:
                    pass
        elif isinstance(value, str) and not _has_surrogates(value):
            text = self.clean(value) if self.clean is not None else value
            ok = self.min <= len(text) and (self.max is None or len(text) <= self.max)
            ok = ok and (self.pattern is None or self.pattern.fullmatch(text) is not None)
            ok = ok and not (self.not_blank and not text.strip())
            if ok:
                return text
        raise ProtocolError(
            ErrorCode.BAD_REQUEST, f"field '{field}' must be {self.describe()}", field=field
        )


_ROOM = Rule("str", 1, ROOM_MAX, ROOM_ID_RE, "A-Z a-z 0-9 _ -")
_USER = Rule("str", 1, schema.USER_MAX, USER_ID_RE, "A-Z a-z 0-9 _ . -")
_SEAT = Rule("int", 0, schema.MAX_SEATS - 1)

RULES: dict[str, Rule] = {
    "room": _ROOM,
    "user": _USER,
    "name": Rule("str", 1, schema.NAME_MAX, clean=_clean_label),
    "token": Rule("str", 0, TOKEN_MAX),  # an empty token is not_authenticated, later
    "title": Rule("str", 1, schema.TITLE_MAX, clean=_clean_label),
    "seats": Rule("int", 1, schema.MAX_SEATS),
    "seat_mode": Rule("enum", enum=SeatMode),
    "auto_chatroom_at": Rule("int", 0, AUTO_CHATROOM_MAX),
    "limit": Rule("int", 1, schema.LIST_LIMIT_MAX),
    "cursor": Rule("str", 0, CURSOR_MAX),
    "note": Rule("str", 0, schema.NOTE_MAX, clean=_clean_label),
    "seat": _SEAT,
    "accept": Rule("bool"),
    "admin": Rule("bool"),
    "ban": Rule("bool"),
    "text": Rule("str", 1, schema.CHAT_MAX, clean=_clean_text, not_blank=True),
    "sdp": Rule("str", 1, schema.SDP_MAX),
}

_MISSING = object()


def _field_specs(cls: type) -> tuple[tuple[str, Rule, Any], ...]:
    specs = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = _MISSING
        specs.append((f.name, RULES[f.name], default))
    return tuple(specs)


# Precomputed once: (field name, rule, default or _MISSING) for every request type.
SPECS: dict[str, tuple[type, tuple[tuple[str, Rule, Any], ...]]] = {
    name: (cls, _field_specs(cls)) for name, cls in schema.REQUEST_TYPES.items()
}


def parse_id(obj: dict[str, Any]) -> int | None:
    """The request's id if it is a valid one (a positive int, not a bool), else None."""
    rid = obj.get("id")
    if isinstance(rid, int) and not isinstance(rid, bool) and 1 <= rid <= MAX_ID:
        return rid
    return None


def parse_request(obj: dict[str, Any]) -> tuple[int, Command]:
    """Validate a decoded request map; raise RequestError with the wire error code."""
    rid = parse_id(obj)
    if rid is None:
        raise RequestError(
            ErrorCode.BAD_REQUEST,
            f"field 'id' must be an integer >= 1 and <= {MAX_ID}",
            id=None,
            field="id",
        )
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise RequestError(
            ErrorCode.BAD_REQUEST, "field 'type' must be a string", id=rid, field="type"
        )
    spec = SPECS.get(kind)
    if spec is None:
        shown = kind if len(kind) <= 40 else kind[:40] + "..."
        raise RequestError(ErrorCode.UNKNOWN_TYPE, f"unknown request type {shown!r}", id=rid)
    cls, fields = spec
    values: dict[str, Any] = {}
    for name, rule, default in fields:
        value = obj.get(name, _MISSING)
        if value is _MISSING or (value is None and default is None):
            if default is _MISSING:
                raise RequestError(
                    ErrorCode.BAD_REQUEST,
                    f"field '{name}' is required ({rule.describe()})",
                    id=rid,
                    field=name,
                )
            continue
        try:
            values[name] = rule.check(name, value)
        except ProtocolError as exc:
            raise RequestError(exc.code, exc.message, id=rid, field=name) from None
    command: Command = cls(**values)
    return rid, command
