"""Plain HTTP answers on the websocket port: /healthz, /metrics and the static web page.

Only GET exists here (websockets does not read request bodies); `/ws` is the one path that
upgrades to a websocket. `HttpGate` stands in front of websockets' parser: another method,
or a request with a body, gets its answer (405, 400) instead of a silently closed socket, and
bytes pipelined after a request head wait for the handshake to end instead of being parsed as
websocket frames in the middle of it (which made websockets log a traceback per request).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Response
from websockets.protocol import State

WS_PATH = "/ws"
# Static files are small; one larger than this is not ours to serve through the handshake path.
MAX_STATIC_BYTES = 8 * 1024 * 1024
# A request head longer than this goes to websockets' parser unread (it answers 414 / 431).
MAX_HEAD = 16 * 1024
# Bytes a client may send after its request head before the handshake is over.
MAX_HELD = 64 * 1024

# mimetypes reads the machine's tables, which differ between machines; the page's own types
# are fixed here so that ES modules always load.
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".wasm": "application/wasm",
    ".txt": "text/plain; charset=utf-8",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".woff2": "font/woff2",
}


def content_type(path: Path) -> str:
    known = CONTENT_TYPES.get(path.suffix.lower())
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def response(
    status: HTTPStatus,
    body: bytes | str,
    content_type: str = "text/plain; charset=utf-8",
    *,
    cache: str = "no-store",
    extra: Mapping[str, str] | None = None,
) -> Response:
    data = body.encode() if isinstance(body, str) else body
    headers = Headers()
    for name, value in (extra or {}).items():
        headers[name] = value
    headers["Content-Type"] = content_type
    headers["Content-Length"] = str(len(data))
    headers["Cache-Control"] = cache
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Connection"] = "close"
    return Response(status.value, status.phrase, headers, data)


def request_path(target: str) -> str:
    """The decoded path of a request target, without its query."""
    return unquote(urlsplit(target).path or "/")


def resolve_static(web_dir: Path, path: str) -> Path | None:
    """The file under `web_dir` that `path` names, or None when there is none or it escapes.

    "/" serves index.html; dotfiles and anything outside web_dir (.., symlinks out, NUL) are
    refused.
    """
    if "\x00" in path or "\\" in path:
        return None
    relative = path.lstrip("/") or "index.html"
    parts = relative.split("/")
    if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
        return None
    try:
        root = web_dir.resolve(strict=True)
        candidate = (root / relative).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if candidate.is_dir():
        candidate = candidate / "index.html"
        if not candidate.is_file():
            return None
    if not candidate.is_file() or not candidate.is_relative_to(root):
        return None
    return candidate


def static_response(web_dir: Path, path: str) -> Response:
    file = resolve_static(web_dir, path)
    if file is None:
        return response(HTTPStatus.NOT_FOUND, "not found\n")
    try:
        if file.stat().st_size > MAX_STATIC_BYTES:
            return response(HTTPStatus.NOT_FOUND, "not found\n")
        data = file.read_bytes()
    except OSError:
        return response(HTTPStatus.NOT_FOUND, "not found\n")
    return response(HTTPStatus.OK, data, content_type(file), cache="no-cache")


def refusal(head: bytes) -> Response | None:
    """The answer to a request head this server never serves, or None to let it through."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        return None  # malformed: websockets' parser refuses it
    if parts[0] != b"GET":
        return response(HTTPStatus.METHOD_NOT_ALLOWED, "only GET is served here\n",
                        extra={"Allow": "GET"})
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding" or (name == b"content-length"
                                            and value.strip() not in (b"", b"0")):
            return response(HTTPStatus.BAD_REQUEST, "requests here carry no body\n")
    return None


class HttpGate(ServerConnection):
    """websockets' server connection behind a gate that reads the request head first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = bytearray()
        self._passed = False
        # What came after the request head, kept until the handshake is over: a websocket's
        # first frames go to it then; anything else is dropped with the connection.
        self._held: bytearray | None = None

    def data_received(self, data: bytes) -> None:
        if self._passed:
            if self._held is None:
                super().data_received(data)
            elif len(self._held) + len(data) <= MAX_HELD:
                self._held += data
            else:
                self.transport.abort()
            return
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            if len(self._head) > MAX_HEAD:
                self._pass(bytes(self._head), b"")
            return
        self._pass(bytes(self._head[:end + 4]), bytes(self._head[end + 4:]))

    def _pass(self, head: bytes, rest: bytes) -> None:
        self._passed = True
        self._head = bytearray()
        answer = refusal(head)
        if answer is not None:
            self.transport.write(answer.serialize())
            self.transport.close()
            return
        self._held = bytearray(rest)
        super().data_received(head)

    def eof_received(self) -> None:
        if not self._passed and self._head:
            self._pass(bytes(self._head), b"")
        super().eof_received()

    async def handshake(self, *args: Any, **kwargs: Any) -> None:
        try:
            await super().handshake(*args, **kwargs)
        finally:
            held, self._held = self._held, None
            if held and self.protocol.state is State.OPEN:
                super().data_received(bytes(held))
