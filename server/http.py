"""Plain HTTP answers on the websocket port: /healthz, /metrics and the static web page.

Only GET exists here (websockets does not read request bodies); `/ws` is the one path that
upgrades to a websocket.
"""

from __future__ import annotations

import mimetypes
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Response

WS_PATH = "/ws"
# Static files are small; one larger than this is not ours to serve through the handshake path.
MAX_STATIC_BYTES = 8 * 1024 * 1024

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
) -> Response:
    data = body.encode() if isinstance(body, str) else body
    headers = Headers()
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
