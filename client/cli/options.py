"""Flags shared by the subcommands: the connection, and staying in a room."""

from __future__ import annotations

import argparse
import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from client.connection import VoiceClient

DEFAULT_URL = "ws://127.0.0.1:8765/ws"
ENV_PREFIX = "VOICEROOM_"
WS_PATH = "/ws"
SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}


def websocket_url(text: str) -> str:
    """The server's websocket URL from what a person types: `HOST:PORT`, `http://HOST:PORT`
    (the page's address) and `ws://HOST:PORT` all mean `ws://HOST:PORT/ws`."""
    text = text.strip()
    if "://" not in text:
        text = "ws://" + text
    parts = urlsplit(text)
    scheme = SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the server's address, e.g. ws://127.0.0.1:8765/ws")
    path = parts.path if parts.path not in ("", "/") else WS_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def add_connection_arguments(parser: argparse.ArgumentParser, *, again: bool = False) -> None:
    """The connection flags; `again` adds them to a subcommand too (so they work on either
    side of it) without overriding what was given before it."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if again else value

    parser.add_argument("--url", type=websocket_url,
                        default=default(os.environ.get(ENV_PREFIX + "URL", DEFAULT_URL)),
                        help=f"the server: ws://HOST:PORT/ws, or just HOST:PORT (default "
                        f"{DEFAULT_URL}) [env {ENV_PREFIX}URL]")
    parser.add_argument("--user", default=default(None),
                        help="user id (development mode; default: derived from --name)")
    parser.add_argument("--name", default=default(None), help="display name (development mode)")
    parser.add_argument("--token", default=default(os.environ.get(ENV_PREFIX + "TOKEN")),
                        help=f"HS256 token when the server has a secret [env {ENV_PREFIX}TOKEN]")
    parser.add_argument("--json", action="store_true", default=default(False),
                        help="send JSON text frames instead of MessagePack binary frames")
    parser.add_argument("--app", default=default(os.environ.get(ENV_PREFIX + "APP")),
                        help="the app this connection belongs to, e.g. douyin (development"
                             f" mode; default: the server's, main) [env {ENV_PREFIX}APP]")
    parser.add_argument("--verified", action="store_true", default=default(False),
                        help="claim to be real-name verified (development mode)")


def open_client(args: argparse.Namespace, default_name: str | None = None) -> Any:
    """`VoiceClient.connect(...)` from the connection flags."""
    name = args.name or args.user or (None if args.token else default_name)
    if args.token is None and name is None:
        raise SystemExit("error: give --name (development mode) or --token")
    return VoiceClient.connect(
        args.url, user=args.user, name=name, token=args.token, binary=not args.json,
        app=args.app, verified=True if args.verified else None,
    )


def add_session_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of the commands that stay in a room (`host`, `join`)."""
    parser.add_argument("--duration", type=float, default=None,
                        help="leave after this many seconds (default: until Ctrl-C or /quit)")
    parser.add_argument("--no-input", action="store_true",
                        help="do not read commands or chat from stdin")
    parser.add_argument("--levels", action="store_true",
                        help="print every `speaking` event with its levels (default: a line "
                        "when who is speaking changes)")
    # Media (client/media.py): sent while the user is a speaker, received always.
    parser.add_argument("--tone", type=float, metavar="HZ",
                        help="speak a sine tone of this frequency (a test microphone)")
    parser.add_argument("--publish", metavar="FILE",
                        help="speak this audio file (WAV, MP3, ... through pydub), looped")
    parser.add_argument("--record", metavar="OUT.WAV",
                        help="record what this user hears into a WAV file")
