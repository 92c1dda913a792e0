"""What the media engine (media/engine.py) holds of each room: its mix session, its members'
peer connections, and the newest room version it followed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aiortc import RTCPeerConnection

from media.answer import AnsweredPeer
from media.inbound import Inbound
from media.session import RoomMixSession
from media.session_wiring import Output


class RoomLike(Protocol):
    """What the engine reads of rooms.model.Room."""

    id: str
    members: Any  # a mapping (or set) of user ids

    def speakers(self) -> set[str]: ...


@dataclass(eq=False)
class MemberPeer:
    user: str
    peer: AnsweredPeer
    inbound: Inbound | None
    outbound: Output | None
    closed: bool = False
    # ICE and DTLS are up: the room's clock runs while any member's connection is.
    connected: bool = False

    @property
    def pc(self) -> RTCPeerConnection:
        return self.peer.pc


@dataclass(eq=False)
class EngineRoom:
    """What the engine holds of one room: its mix session and its members' connections."""

    session: RoomMixSession
    members: set[str]
    peers: dict[str, MemberPeer] = field(default_factory=dict)
    # Offers being answered: their peer is not in `peers` yet, but the session must live on.
    answering: int = 0
    # The newest room version followed: another node's older batch can arrive after this
    # node's own newer commit, and must not undo it (drop a member who just joined).
    version: int = -1

    def newer(self, room: RoomLike) -> bool:
        """Whether ``room`` is no older than the state followed so far (and note it)."""
        version = getattr(room, "version", None)
        if version is None:
            return True
        if version < self.version:
            return False
        self.version = version
        return True
