"""`GET /recordings/NAME`: a recording's files (`ID.ogg`, `ID.USER.ogg`, `ID.json`) for the
room's host (docs/protocol.md "Recording").

Who asks as in server/streams.py: with a secret `?token=`, without one `?user=` (required
here); missing or bad: `401`. A name that is not one of ours (a separator, a leading dot,
another extension: nothing can reach outside the folder) or a recording that does not exist:
`404`. Anyone but the host who made it (its `ID.json` says): `403`. A recording still being
written is served as far as it is written. Large files stream from a thread, at the pace the
client reads.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from media.recording_files import safe_name
from server import http
from server.http_body import HttpBody, take_over
from server.streams import Refused, asker

RECORDING_RE = re.compile(r"/recordings/([^/]+)")
TYPES = {".ogg": "audio/ogg", ".json": "application/json"}
CHUNK = 256 * 1024
MAX_TIMELINE = 64 * 1024 * 1024  # an ID.json larger than this is not one of ours


def recording_id_of(name: str) -> str:
    return name.split(".", 1)[0]


def _host_of(folder: Path, recording_id: str) -> str | None:
    path = folder / f"{recording_id}.json"
    try:
        if path.stat().st_size > MAX_TIMELINE:
            return None
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    host = data.get("host") if isinstance(data, dict) else None
    return host if isinstance(host, str) else None


def _open(folder: Path, name: str) -> tuple[BinaryIO, int] | None:
    try:
        root = folder.resolve(strict=True)
        path = (root / name).resolve(strict=True)
        if path.parent != root or not path.is_file():
            return None
        file = open(path, "rb")  # noqa: SIM115 - closed when the streaming task ends
    except OSError:
        return None
    size = file.seek(0, 2)
    file.seek(0)
    return file, size


class RecordingRoute:
    def __init__(self, secret: str | None, folder: Path | None) -> None:
        self.secret = secret
        self.folder = folder
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, ws: ServerConnection, request: Request,
                 path: str) -> Awaitable[Response] | None:
        match = RECORDING_RE.fullmatch(path)
        if match is None:
            return None
        return self._serve(ws, request, match.group(1))

    async def _serve(self, ws: ServerConnection, request: Request, name: str) -> Response:
        loop = asyncio.get_running_loop()
        try:
            user = asker(self.secret, request, required=True)
            suffix = name[name.rfind("."):] if "." in name else ""
            if self.folder is None or not safe_name(name) or suffix not in TYPES:
                raise Refused(HTTPStatus.NOT_FOUND, "no such recording")
            host = await loop.run_in_executor(None, _host_of, self.folder,
                                              recording_id_of(name))
            if host is None:
                raise Refused(HTTPStatus.NOT_FOUND, "no such recording")
            if user != host:
                raise Refused(HTTPStatus.FORBIDDEN, "only the room's host may fetch its "
                              "recordings")
            # Opened here, not in a thread: a request cancelled while a thread opened the file
            # would drop the open file with the thread's result (a few system calls on a
            # local folder).
            opened = _open(self.folder, name)
            if opened is None:
                raise Refused(HTTPStatus.NOT_FOUND, "no such file")
        except Refused as refused:
            return refused.response()
        file, size = opened
        body = take_over(ws, chunked=False)
        body.start("200 OK", {"Content-Type": TYPES[suffix], "Content-Length": str(size),
                              "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
                              "Content-Disposition": f'attachment; filename="{name}"'})
        # Streamed by a task of its own: websockets' handshake timeout bounds this call.
        task = asyncio.create_task(self._stream(body, file, size), name=f"recording-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Closed however the task ends, cancelled before its first step included.
        task.add_done_callback(lambda _: file.close())
        return http.response(HTTPStatus.OK, b"")  # never sent: the socket is ours

    async def _stream(self, body: HttpBody, file: BinaryIO, size: int) -> None:
        loop = asyncio.get_running_loop()
        left = size
        try:
            if not left:
                body.finish()
                return
            while left > 0 and not body.closed:
                data = await loop.run_in_executor(None, file.read, min(CHUNK, left))
                if not data:
                    break  # the file shrank: what there was went out
                left -= len(data)
                if left <= 0:
                    body.finish(data)
                    return
                body.send(data)
                await body.drain()
            body.abort()
        except (ConnectionError, OSError):
            body.abort()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

