"""Streamed GET routes on the websocket port (docs/protocol.md, "Listening without WebRTC,
recording"):

- `/rooms/ID/listen.ogg`: the room's mix as Ogg Opus, chunked (close-delimited for an
  HTTP/1.0 client, as Icecast's relay is), until the room closes.
- `/recordings/NAME`: a recording's files, for the room's host (server/recording_files.py).

Who asks: with a secret, `?token=` (a client token) is required: missing, malformed, expired
or badly signed: `401`. Without a secret (development mode), `?user=` names the asker, as
`hello` does, and may be left out for listening. A user banned from the room: `403`. No such
room: `404`.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from media.listen import ListenFeed
from protocol.errors import ProtocolError
from protocol.tokens import verify_token
from protocol.validate import is_user_id
from rooms.model import Room
from server import http
from server.http_body import take_over
from server.listening import ListenHub, MediaLocator, TapEngine
from server.stream_proxy import RELAY_HEADER, pull_mix

log = logging.getLogger(__name__)

LISTEN_RE = re.compile(r"/rooms/([^/]+)/listen\.ogg")
OGG_HEADERS = {
    "Content-Type": "audio/ogg",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # A player on another origin (a web page, a relay's status page) may read the stream.
    "Access-Control-Allow-Origin": "*",
}


class Refused(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        out = http.response(self.status, self.message + "\n")
        if self.status is HTTPStatus.UNAUTHORIZED:
            out.headers["WWW-Authenticate"] = 'Bearer realm="voiceroom"'
        return out


def query_param(request: Request, name: str) -> str | None:
    values = parse_qs(urlsplit(request.path).query).get(name)
    return values[0] if values else None


def asker(secret: str | None, request: Request, *, required: bool) -> str | None:
    """The user a request speaks for (see the module's docstring); raises Refused (401)."""
    if secret:
        token = query_param(request, "token")
        if not token:
            raise Refused(HTTPStatus.UNAUTHORIZED, "a token is required (?token=)")
        try:
            return verify_token(secret, token, time.time()).user
        except ProtocolError as exc:
            raise Refused(HTTPStatus.UNAUTHORIZED, exc.message) from None
    user = query_param(request, "user")
    if user is None:
        if required:
            raise Refused(HTTPStatus.UNAUTHORIZED, "name yourself with ?user= (development "
                          "mode: no secret is set)")
        return None
    if not is_user_id(user):
        raise Refused(HTTPStatus.BAD_REQUEST, "?user= must be 1 to 64 of A-Z a-z 0-9 _ . -")
    return user


class ListenRoute:
    """`GET /rooms/ID/listen.ogg`."""

    def __init__(self, secret: str | None, hub: ListenHub,
                 get_room: Callable[[str], Awaitable[Room | None]]) -> None:
        self.secret = secret
        self.hub = hub
        self.get_room = get_room

    def __call__(self, ws: ServerConnection, request: Request,
                 path: str) -> Awaitable[Response] | None:
        match = LISTEN_RE.fullmatch(path)
        if match is None:
            return None
        return self._listen(ws, request, match.group(1))

    async def _listen(self, ws: ServerConnection, request: Request, room_id: str) -> Response:
        try:
            if self.hub.closed:
                raise Refused(HTTPStatus.SERVICE_UNAVAILABLE, "stopping")
            user = asker(self.secret, request, required=False)
            room = await self.get_room(room_id)
            if room is None:
                raise Refused(HTTPStatus.NOT_FOUND, f"no room {room_id}")
            if user is not None and user in room.banned:
                raise Refused(HTTPStatus.FORBIDDEN, "you are banned from this room")
            relay = request.headers.get(RELAY_HEADER) == "1"
            body = take_over(ws, chunked=request.protocol != "HTTP/1.0", small_sndbuf=True)
            body.start("200 OK", dict(OGG_HEADERS))
            try:
                listener = await self.hub.listen(room, body, local_only=relay)
            except ProtocolError as exc:
                log.info("room %s: cannot serve an HTTP listener: %s", room_id, exc.message)
                body.refuse("503 Service Unavailable", exc.message)
                return _TAKEN
            if body.closed:
                self.hub.leave(listener, room_id)
            else:
                body.on_close = lambda: self.hub.leave(listener, room_id)
            return _TAKEN
        except Refused as refused:
            return refused.response()


# Returned to websockets for a connection it no longer holds: never sent.
_TAKEN = http.response(HTTPStatus.OK, b"")


def build_listening(secret: str | None, get_room: Callable[[str], Awaitable[Room | None]],
                    media: object | None, cluster: object | None) -> tuple[ListenHub,
                                                                           ListenRoute]:
    """The node's HTTP listeners and their route (server/app.py wires them in)."""
    engine = media if isinstance(media, TapEngine) else None
    locator = cluster if isinstance(cluster, MediaLocator) else None

    async def pull(host: str, port: int, room_id: str, feed: ListenFeed) -> None:
        await pull_mix(host, port, room_id, feed, secret=secret)

    hub = ListenHub(media=engine, get_room=get_room, cluster=locator, pull=pull)
    return hub, ListenRoute(secret, hub, get_room)


def advertised_host(host: str, announce_address: str | None) -> str:
    """The address other nodes reach this node's HTTP port at (they pull its listen.ogg)."""
    if announce_address:
        return announce_address
    if host in ("", "0.0.0.0", "::"):
        return socket.gethostname()
    return host
