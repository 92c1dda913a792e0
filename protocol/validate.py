"""Turn a decoded request map into `(id, command)`, or refuse it with a named field.

The field rules are data: `RULES` maps each wire field name to one `Rule`, and
every request dataclass in `protocol.schema` is checked field by field against
it. A few verbs give a field its own bounds (`TYPE_RULES`: `list_members`' larger
`limit`, `match_join`'s `city` choice). A targeted verb (`schema.TARGETED`) takes
exactly one of `room` or `call`. Unknown extra fields are tolerated (PROTOCOL.md
lets clients send more).
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from protocol import schema
from protocol.errors import ErrorCode, ProtocolError
from protocol.schema import CityChoice, Command, Deck, Effect, SeatMode, Which

# Request ids must survive a round trip through any client (JavaScript numbers).
MAX_ID = 2**53 - 1
TOKEN_MAX = 4096
CURSOR_MAX = 128
ROOM_MAX = 64
AUTO_CHATROOM_MAX = 1000

ROOM_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
USER_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
APP_RE = re.compile(rf"[a-z0-9_-]{{1,{schema.APP_MAX}}}")
CALL_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
CATALOGUE_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
CALL_MAX = 64
CATALOGUE_ID_MAX = 64


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
    """How one wire field is checked.

    `kind` is "str", "int", "float", "bool", "enum" or "list". A "list" is a list of at
    most `max` items, each checked by `item`; repeated items are kept once, in order, and
    the list is stored as a tuple.
    """

    kind: str
    min: int = 0
    max: int | None = None
    pattern: re.Pattern[str] | None = None
    pattern_help: str = ""
    clean: Callable[[str], str] | None = None
    not_blank: bool = False
    enum: type[StrEnum] | None = None
    item: Rule | None = None

    def describe(self) -> str:
        if self.kind == "list":
            assert self.item is not None
            return f"a list of at most {self.max} items, each {self.item.describe()}"
        if self.kind == "float":
            return f"a number from {self.min} to {self.max}"
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
        elif self.kind == "float":
            # isfinite first: a huge JSON integer cannot become a float.
            ok = isinstance(value, float) and math.isfinite(value)
            ok = ok or (isinstance(value, int) and not isinstance(value, bool))
            if ok and self.min <= value <= (self.max or 0):
                return float(value)
        elif self.kind == "list":
            assert self.item is not None and self.max is not None
            if isinstance(value, list) and len(value) <= self.max:
                try:
                    items = [self.item.check(field, item) for item in value]
                except ProtocolError:
                    pass
                else:
                    return tuple(dict.fromkeys(items))
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
    # 1.1
    "app": Rule("str", 1, schema.APP_MAX, APP_RE, "a-z 0-9 _ -"),
    "verified": Rule("bool"),
    "city": Rule("str", 0, schema.CITY_MAX, clean=_clean_label),
    "tags": Rule("list", 0, schema.TAGS_MAX, item=Rule("str", 1, schema.TAG_MAX,
                                                       clean=_clean_label)),
    "bio": Rule("str", 0, schema.BIO_MAX, clean=_clean_text),
    "which": Rule("enum", enum=Which),
    "call": Rule("str", 1, CALL_MAX, CALL_ID_RE, "A-Z a-z 0-9 _ -"),
    "video": Rule("bool"),
    "reason": Rule("str", 1, schema.REASON_MAX, clean=_clean_label, not_blank=True),
    "effect": Rule("enum", enum=Effect),
    "sound": Rule("str", 1, CATALOGUE_ID_MAX, CATALOGUE_ID_RE, "A-Z a-z 0-9 _ . -"),
    "track": Rule("str", 1, CATALOGUE_ID_MAX, CATALOGUE_ID_RE, "A-Z a-z 0-9 _ . -"),
    "loop": Rule("bool"),
    "volume": Rule("float", 0, 1),
    "count": Rule("int", 1, schema.DICE_MAX),
    "deck": Rule("enum", enum=Deck),
}

# A field whose bounds differ for one verb: verb -> field -> rule (else RULES applies).
TYPE_RULES: dict[str, dict[str, Rule]] = {
    "list_members": {"limit": Rule("int", 1, schema.MEMBERS_LIMIT_MAX)},
    "match_join": {"city": Rule("enum", enum=CityChoice)},
}

_MISSING = object()


FieldSpec = tuple[str, Rule, Any]


def _field_specs(kind: str, cls: type) -> tuple[FieldSpec, ...]:
    rules = {**RULES, **TYPE_RULES.get(kind, {})}
    specs = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default: Any = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = _MISSING
        specs.append((f.name, rules[f.name], default))
    return tuple(specs)


# Precomputed once: (field name, rule, default or _MISSING) for every request type.
SPECS: dict[str, tuple[type, tuple[FieldSpec, ...]]] = {
    name: (cls, _field_specs(name, cls)) for name, cls in schema.ALL_REQUEST_TYPES.items()
}
# The `call` forms of targeted verbs that have one (webrtc_offer -> CallOffer).
CALL_FORM_SPECS: dict[str, tuple[type, tuple[FieldSpec, ...]]] = {
    name: (cls, _field_specs(name, cls)) for name, cls in schema.CALL_FORMS.items()
}


def rule_for(kind: str, field: str) -> Rule:
    """The rule `field` is checked by in a request of type `kind`."""
    return TYPE_RULES.get(kind, {}).get(field) or RULES[field]


def _given(obj: dict[str, Any], name: str) -> bool:
    # null means absent for every optional field, the targets included.
    return obj.get(name) is not None


def _target_form(
    kind: str, obj: dict[str, Any], rid: int, spec: tuple[type, tuple[FieldSpec, ...]]
) -> tuple[type, tuple[FieldSpec, ...]]:
    """Check that exactly one target is given; the spec of the form it selects."""
    room, call = (_given(obj, name) for name in schema.TARGET_FIELDS)
    if room and call:
        raise RequestError(
            ErrorCode.BAD_REQUEST,
            "field 'call' must be absent when 'room' is given (exactly one target)",
            id=rid,
            field="call",
        )
    if not room and not call:
        raise RequestError(
            ErrorCode.BAD_REQUEST,
            "field 'room' is required, or 'call' instead (exactly one target)",
            id=rid,
            field="room",
        )
    if call and kind in CALL_FORM_SPECS:
        return CALL_FORM_SPECS[kind]
    return spec


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
    if kind in schema.TARGETED:
        spec = _target_form(kind, obj, rid, spec)
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
