"""One client websocket as the server sees it: who it is, how it speaks, what it joined."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection, broadcast
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from protocol.schema import DEFAULT_APP

log = logging.getLogger(__name__)

# Bytes a client may leave unread in its socket's send buffer before it counts as hopelessly
# slow and is closed: a few hundred events' worth. Writes never wait for a client, so one slow
# reader costs the others nothing but this memory.
SEND_BUFFER_LIMIT = 1024 * 1024
CLOSE_TOO_SLOW = 1008
CLOSE_REPLACED = 4000
# Seconds beyond websockets' own closing handshake timeout that a close may take: a client
# that does not read its socket blocks the close frame's write itself, so then the transport
# is aborted (docs/security.md); its handler ends and the member goes through the normal
# disconnect.
CLOSE_GRACE = 1.0

_ids = itertools.count(1)
# Connection ids go to other nodes (`_joined {conn}`): a restarted node with the same node id
# must not hand out the ids of its earlier life again.
_LIFE = secrets.token_hex(3)


@dataclass(eq=False)
class Connection:
    ws: ServerConnection
    id: str
    user: str | None = None
    name: str | None = None
    # Identity beside the user (docs/protocol.md "Identity, apps and profiles"): the app this
    # connection belongs to, real-name verification, and the session's city (token or hello).
    app: str = DEFAULT_APP
    verified: bool = False
    city: str | None = None
    # The encoding of the client's first frame: events go out in it (True: msgpack).
    binary: bool | None = None
    rooms: set[str] = field(default_factory=set)
    closing: bool = False
    # Requests still running off the read loop (webrtc_offer): cancelled when the socket goes.
    offers: set[asyncio.Task[None]] = field(default_factory=set)
    # Room id -> the room version this connection joined at (orders `_joined` across nodes).
    joined_at: dict[str, int] = field(default_factory=dict)
    _closing_task: asyncio.Task[None] | None = None
    send_limit: int = SEND_BUFFER_LIMIT
    # Since when (loop time) the client has left more unread than websockets lets a write
    # wait for (the gateway's stall check closes it after a while); None: it reads.
    stalled_since: float | None = None

    @classmethod
    def new(cls, ws: ServerConnection, node_id: str,
            send_limit: int = SEND_BUFFER_LIMIT) -> Connection:
        return cls(ws=ws, id=f"{node_id}/{_LIFE}.{next(_ids)}", send_limit=send_limit)

    @property
    def authenticated(self) -> bool:
        return self.user is not None

    @property
    def events_binary(self) -> bool:
        return bool(self.binary)

    def close(self, code: int, reason: str = "") -> None:
        """Start closing without waiting for the client (it may be the slow one)."""
        if self.closing:
            return
        self.closing = True
        if code == CLOSE_TOO_SLOW:
            # Whoever ends this socket (our close, websockets' keepalive, the server's stop),
            # it ends in a reset: what the client left unread goes with it, not into the
            # kernel's queue of an orphaned socket.
            reset_on_close(self.ws)
        # Kept referenced until done; never cancelled with the connection's other work.
        self._closing_task = asyncio.get_running_loop().create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        # websockets writes the close frame, then waits for its buffer to drain before its
        # own timeout starts: for a client that stopped reading that wait never ends.
        limit = (self.ws.close_timeout or 0.0) + CLOSE_GRACE
        try:
            await asyncio.wait_for(self.ws.close(code, reason), limit)
        except TimeoutError:
            log.info("aborting %s (%s): the close could not be sent in time", self.id,
                     self.user)
            abort(self.ws)
        except Exception:  # the transport failed under the close: cut what is left of it
            abort(self.ws)


def reset_on_close(ws: ServerConnection) -> None:
    """SO_LINGER 0: closing the socket sends a reset and drops the unsent bytes, where a plain
    close leaves them queued in the kernel (an orphan, for minutes) for a reader that never
    reads."""
    sock = ws.transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def abort(ws: ServerConnection) -> None:
    """Drop the TCP connection now, the unsent bytes with it."""
    reset_on_close(ws)
    ws.transport.abort()


def send_all(connections: Iterable[Connection], data: bytes | str) -> tuple[int, int]:
    """Write `data` to every open connection now, without waiting on any of them.

    The websocket frame is built once and the same bytes go to every socket (what
    `websockets.broadcast` does, minus one frame serialization per recipient). Returns
    (delivered, closed-as-too-slow): a connection whose unread output passes its limit is
    closed with 1008 instead of growing without bound.
    """
    # The hot loop of every broadcast (~100 recipients per room event): attribute lookups
    # hoisted, the open check inlined, the frame built on first use.
    wire: bytes | None = None
    delivered = slow = 0
    open_state = State.OPEN
    for conn in connections:
        if conn.closing:
            continue
        ws = conn.ws
        protocol = ws.protocol
        if protocol.state is not open_state:
            continue
        delivered += 1
        transport = ws.transport
        if (protocol.extensions or protocol.expect_continuation_frame
                or getattr(ws, "send_in_progress", None) is not None):
            broadcast([ws], data)  # the general path, for what this one does not cover
        else:
            if wire is None:
                payload = data.encode() if isinstance(data, str) else data
                opcode = Opcode.TEXT if isinstance(data, str) else Opcode.BINARY
                wire = Frame(opcode, payload).serialize(mask=False, extensions=[])
            transport.write(wire)
        if transport.get_write_buffer_size() > conn.send_limit:
            log.warning("closing %s (%s): client too slow to read its events", conn.id, conn.user)
            conn.close(CLOSE_TOO_SLOW, "too slow")
            slow += 1
    return delivered, slow
