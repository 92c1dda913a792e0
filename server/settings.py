"""One Settings object, read once at start from CLI flags and VOICEROOM_* environment variables.

Flags win over the environment, the environment over the defaults. Bad values end the program
through argparse (a one-line message, exit status 2), never with a traceback.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from calls.errors import PolicyError
from calls.machine import DEFAULT_RING_TIMEOUT
from calls.policy import AppPolicy
from media.offer_policy import CONNECT_TIMEOUT, MAX_REMOTE_CANDIDATES, parse_networks
from services.rooms import (
    DEFAULT_GRACE,
    DEFAULT_HOST_GRACE,
    DEFAULT_MAX_ROOMS_PER_HOST,
    DEFAULT_OFFERS_IN_FLIGHT,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
# A client's sustained request rate and the burst it may spend at once: far above what a person
# clicking does, far below what a flood does. The one definition (the gateway's TokenBucket
# takes them from here).
DEFAULT_RATE = 20.0
DEFAULT_BURST = 40
DEFAULT_MAX_CONNECTIONS = 10_000
# Seconds a new websocket has to say hello before it is closed (1008).
DEFAULT_HELLO_TIMEOUT = 10.0
# Seconds a store call (a room command in all) may take before the request gets `internal`.
DEFAULT_STORE_TIMEOUT = 5.0
# Repository root: the default web/ folder lives beside the packages.
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WEB_DIR = REPO_ROOT / "web"
ENV_PREFIX = "VOICEROOM_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    redis: str | None = None
    node_id: str = field(default="")
    secret: str | None = None
    grace: float = DEFAULT_GRACE
    host_grace: float = DEFAULT_HOST_GRACE
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    # Bounds against abuse (docs/security.md names each and what it protects).
    hello_timeout: float = DEFAULT_HELLO_TIMEOUT
    max_connections_per_address: int = 0  # 0: no bound (every local client shares 127.0.0.1)
    store_timeout: float = DEFAULT_STORE_TIMEOUT
    # GET /metrics wants `Authorization: Bearer <this>` when set (default: open).
    metrics_token: str | None = None
    max_rooms_per_host: int = DEFAULT_MAX_ROOMS_PER_HOST
    offers_in_flight: int = DEFAULT_OFFERS_IN_FLIGHT
    max_candidates: int = MAX_REMOTE_CANDIDATES
    media_networks: tuple[str, ...] = ()
    media_connect_timeout: float = CONNECT_TIMEOUT
    announce_address: str | None = None
    # UDP port of the edge relay between nodes (server/edge.py; 0: a free one, with --redis).
    relay_port: int = 0
    web_dir: Path = DEFAULT_WEB_DIR
    media: bool = True
    log_level: str = "INFO"
    log_format: str = "text"
    # Who may call whom, where calls ring (--apps FILE; default: one app `main`).
    apps: AppPolicy = field(default_factory=AppPolicy.default)
    ring_timeout: float = DEFAULT_RING_TIMEOUT
    # Catalogues of props (WAV/MP3/Ogg files): sounds (default: the built-in set) and music.
    sounds: Path | None = None
    music: Path | None = None
    # Where recordings are written (start_recording); None: recording is off.
    recordings: Path | None = None

    def __post_init__(self) -> None:
        if not self.node_id:
            object.__setattr__(self, "node_id", default_node_id(self.port))

    @property
    def dev_mode(self) -> bool:
        """No secret: users are taken as they name themselves (announced loudly at start)."""
        return not self.secret


def default_node_id(port: int) -> str:
    if port == 0:
        # The port is not known yet: nodes started with --port 0 must still differ.
        return f"{socket.gethostname()}:0.{secrets.token_hex(3)}"
    return f"{socket.gethostname()}:{port}"


# --- value parsers: each raises ValueError with a message fit for the user -----------------------


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"must be {what}") from None


def _float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"must be {what}") from None


def _port(text: str) -> int:
    value = _int(text, "a port number 0 to 65535")
    if not 0 <= value <= 65535:
        raise ValueError("must be 0 to 65535")
    return value


def _seconds(text: str) -> float:
    value = _float(text, "a number of seconds >= 0")
    if not value >= 0 or value == float("inf"):
        raise ValueError("must be a number of seconds >= 0")
    return value


def _positive_float(text: str) -> float:
    value = _float(text, "a number > 0")
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a number > 0")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = _int(text, f"an integer >= {minimum}")
        if value < minimum:
            raise ValueError(f"must be an integer >= {minimum}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _networks(text: str) -> tuple[str, ...]:
    ranges = tuple(part.strip() for part in text.split(",") if part.strip())
    try:
        parse_networks(ranges)
    except ValueError:
        raise ValueError("must be address ranges like 10.0.0.0/8,fd00::/8") from None
    return ranges


def _redis_url(text: str) -> str:
    parsed = urlparse(text)
    if parsed.scheme not in ("redis", "rediss", "unix") or not (parsed.hostname or parsed.path):
        raise ValueError("must be a URL like redis://HOST:PORT/DB")
    return text


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _apps(text: str) -> AppPolicy:
    try:
        with open(text, encoding="utf-8") as file:
            content = file.read()
    except OSError as exc:
        raise ValueError(f"cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError("cannot read it: not UTF-8 text") from None
    try:
        return AppPolicy.from_json(content)
    except PolicyError as exc:
        raise ValueError(str(exc)) from None


def _folder(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise ValueError("must be a folder")
    return path


def _log_level(text: str) -> str:
    value = text.upper()
    if value not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value


def _log_format(text: str) -> str:
    value = text.lower()
    if value not in LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
    return value


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


@dataclass(frozen=True, slots=True)
class _Option:
    name: str  # the Settings field
    flag: str
    parse: Callable[[str], Any]
    help: str
    metavar: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()


OPTIONS: tuple[_Option, ...] = (
    _Option("host", "--host", _non_empty, f"address to listen on (default {DEFAULT_HOST})", "HOST"),
    _Option("port", "--port", _port, f"port for /ws, /healthz, /metrics and the page "
            f"(default {DEFAULT_PORT}; 0 picks a free one)", "PORT"),
    _Option("redis", "--redis", _redis_url, "share rooms between nodes through this Redis "
            "(default: in-memory, one node)", "URL"),
    _Option("node_id", "--node-id", _non_empty, "unique id of this node (default HOSTNAME:PORT)",
            "ID"),
    _Option("secret", "--secret", _non_empty, "HS256 secret: turns token auth on (default: "
            "development mode, users name themselves)", "S"),
    _Option("grace", "--grace", _seconds, f"seconds a dropped user's seat is held "
            f"(default {DEFAULT_GRACE:g})", "SECONDS"),
    _Option("host_grace", "--host-grace", _seconds, f"seconds a room waits for a dropped host "
            f"(default {DEFAULT_HOST_GRACE:g})", "SECONDS"),
    _Option("rate", "--rate", _positive_float, f"requests per second per connection "
            f"(default {DEFAULT_RATE:g})", "PER_SECOND"),
    _Option("burst", "--burst", _positive_int, f"request burst per connection "
            f"(default {DEFAULT_BURST})", "N"),
    _Option("max_connections", "--max-connections", _positive_int, f"open websockets at most "
            f"(default {DEFAULT_MAX_CONNECTIONS})", "N"),
    _Option("hello_timeout", "--hello-timeout", _positive_float, "seconds a new connection has "
            f"to say hello (default {DEFAULT_HELLO_TIMEOUT:g})", "SECONDS"),
    _Option("max_connections_per_address", "--max-connections-per-address", _non_negative_int,
            "open websockets per client address (default 0: no bound)", "N"),
    _Option("metrics_token", "--metrics-token", _non_empty, "bearer token GET /metrics asks "
            "for (default: none, /metrics is open)", "TOKEN"),
    _Option("store_timeout", "--store-timeout", _positive_float, "seconds a Redis call (a room "
            f"command in all) may take before the request fails (default "
            f"{DEFAULT_STORE_TIMEOUT:g})", "SECONDS"),
    _Option("max_rooms_per_host", "--max-rooms-per-host", _positive_int, "rooms one user may "
            f"host at once (default {DEFAULT_MAX_ROOMS_PER_HOST})", "N"),
    _Option("offers_in_flight", "--offers-in-flight", _positive_int, "webrtc_offers of one "
            f"user being answered at once on a node (default {DEFAULT_OFFERS_IN_FLIGHT})", "N"),
    _Option("max_candidates", "--max-candidates", _positive_int, "remote ICE candidates taken "
            f"from one offer, the rest ignored (default {MAX_REMOTE_CANDIDATES})", "N"),
    _Option("media_networks", "--media-networks", _networks, "address ranges media peers may "
            "have, e.g. 10.0.0.0/8,192.168.0.0/16 (default: any)", "CIDR,..."),
    _Option("media_connect_timeout", "--media-connect-timeout", _positive_float, "seconds an "
            f"answered media connection has to connect (default {CONNECT_TIMEOUT:g})",
            "SECONDS"),
    _Option("announce_address", "--announce-address", _non_empty, "address put in media ICE "
            "candidates (default: the machine's own addresses)", "ADDR"),
    _Option("relay_port", "--relay-port", _port, "UDP port on --host where other nodes send "
            "this node the mix of rooms it has listeners of (default 0: a free one)", "PORT"),
    _Option("web_dir", "--web-dir", Path, "folder of the web page (default: web/ of the "
            "repository)", "DIR"),
    _Option("apps", "--apps", _apps, "JSON app policy: who may call whom and where calls "
            "ring (default: one app `main`, calls between friends; see docs/apps.example.json)",
            "FILE"),
    _Option("ring_timeout", "--ring-timeout", _positive_float, f"seconds a call rings before "
            f"it ends unanswered (default {DEFAULT_RING_TIMEOUT:g})", "SECONDS"),
    _Option("sounds", "--sounds", _folder, "folder of WAV, MP3 or Ogg sounds for play_sound "
            "(default: the built-in sounds)", "DIR"),
    _Option("music", "--music", _folder, "folder of WAV, MP3 or Ogg music tracks for "
            "play_music (default: none)", "DIR"),
    _Option("recordings", "--recordings", _folder, "folder for room recordings "
            "(start_recording; default: recording is off)", "DIR"),
    _Option("log_level", "--log-level", _log_level, "DEBUG, INFO, WARNING or ERROR "
            "(default INFO: what happens to rooms; DEBUG adds sockets and ICE)", "LEVEL"),
    _Option("log_format", "--log-format", _log_format, "text, or json: one JSON object a "
            "line for log shippers (default text)", "FORMAT"),
)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Voice live-room server: one websocket port for signaling, the web page, "
        "/healthz and /metrics. Every flag can also be set as VOICEROOM_<NAME> "
        "(e.g. VOICEROOM_SECRET); flags win.",
        epilog="Subcommand: `token --secret S --user U --name N [--ttl SECONDS]` prints a "
        "client token.",
    )
    for option in OPTIONS:
        # Parsed later as text so that flags and environment share one validation.
        parser.add_argument(option.flag, dest=option.name, metavar=option.metavar,
                            help=f"{option.help} [env {option.env}]")
    parser.add_argument("--no-media", dest="media", action="store_false", default=None,
                        help="serve signaling only: this node answers no webrtc_offer itself "
                        "(`internal`, unless another node of a --redis cluster serves the "
                        f"room) [env {ENV_PREFIX}MEDIA=false]")
    return parser


def parse_settings(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    prog: str | None = None,
) -> Settings:
    """Read the Settings; on a bad flag or variable, argparse prints why and exits with 2."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    environ = os.environ if env is None else env
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = getattr(args, option.name)
        source = option.flag
        if raw is None:
            raw = environ.get(option.env)
            source = option.env
        if raw is None or (source == option.env and raw == ""):
            continue
        try:
            values[option.name] = option.parse(raw)
        except ValueError as exc:
            parser.error(f"{source} {raw!r}: {exc}")
    if args.media is not None:
        values["media"] = args.media
    elif environ.get(ENV_PREFIX + "MEDIA"):
        try:
            values["media"] = _bool(environ[ENV_PREFIX + "MEDIA"])
        except ValueError as exc:
            parser.error(f"{ENV_PREFIX}MEDIA: {exc}")
    web_dir = values.get("web_dir")
    if web_dir is not None and not Path(web_dir).is_dir():
        parser.error(f"web dir {str(web_dir)!r} is not a folder")
    return Settings(**values)
