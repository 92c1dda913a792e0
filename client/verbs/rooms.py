"""Room verbs: one method per room request type of the protocol, and the rooms this client is
a member of (re-joined after a reconnect, left by `close(leave=True)`)."""

from __future__ import annotations

import contextlib
from typing import Any

from client.errors import ClientError, Reply
from client.events import Event
from client.transport import Transport

# Events after which the server no longer counts us as a member of their room.
_GONE = ("kicked", "room_closed", "replaced")


class RoomVerbs(Transport):
    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self.rooms: set[str] = set()
        """Rooms this client is a member of (re-joined after a reconnect)."""

    async def close(self, *, leave: bool = False) -> None:
        """Close for good. With `leave`, leave every room first (else the server holds
        a seat for its grace period, as for any dropped connection)."""
        if leave and not self.closed and self._ws is not None and not self._closing:
            for room in list(self.rooms):
                with contextlib.suppress(ClientError):
                    await self.leave_room(room)
        await super().close()

    # ---- what the transport asks of a verb group ----------------------------------------

    async def _restore(self) -> list[str] | None:
        rejoined: list[str] = []
        for room in sorted(self.rooms):
            try:
                reply = await self.request_raw("join_room", {"room": room}, internal=True)
            except ClientError:
                return None  # connection lost again: the reader reconnects and re-joins anew
            if reply.get("type") == "ok":
                rejoined.append(room)
            else:
                self.rooms.discard(room)
                self._emit(
                    {"type": "_rejoin_failed", "room": room, "code": reply.get("code"),
                     "message": reply.get("message")}
                )
        return rejoined

    def _dispatch_event(self, event: Event) -> None:
        room = event.get("room")
        if event.get("type") in _GONE and isinstance(room, str):
            self.rooms.discard(room)
        super()._dispatch_event(event)

    def _replied(self, type: str, params: dict[str, Any], reply: Reply) -> None:
        super()._replied(type, params, reply)
        if reply.get("type") != "ok":
            return
        if type == "create_room":
            state = reply.get("room")
            if isinstance(state, dict) and isinstance(state.get("id"), str):
                self.rooms.add(state["id"])
        elif type == "join_room":
            self.rooms.add(str(params["room"]))
        elif type in ("leave_room", "close_room"):
            self.rooms.discard(str(params["room"]))

    # ---- rooms ------------------------------------------------------------------------------

    async def create_room(
        self,
        title: str,
        *,
        seats: int | None = None,
        seat_mode: str | None = None,
        auto_chatroom_at: int | None = None,
    ) -> Reply:
        return await self.request(
            "create_room",
            title=title,
            seats=seats,
            seat_mode=None if seat_mode is None else str(seat_mode),
            auto_chatroom_at=auto_chatroom_at,
        )

    async def list_rooms(self, *, limit: int | None = None, cursor: str | None = None) -> Reply:
        return await self.request("list_rooms", limit=limit, cursor=cursor)

    async def list_members(self, room: str, *, limit: int | None = None,
                           cursor: str | None = None) -> Reply:
        """One page of the room's members (1.1): `{members: [{user, name, role, seat,
        away}], cursor?}`, the host first, then admins, the seated, the audience."""
        return await self.request("list_members", room=room, limit=limit, cursor=cursor)

    async def join_room(self, room: str) -> Reply:
        return await self.request("join_room", room=room)

    async def leave_room(self, room: str) -> Reply:
        return await self.request("leave_room", room=room)

    async def close_room(self, room: str) -> Reply:
        return await self.request("close_room", room=room)

    # ---- the mic queue and the chatroom -----------------------------------------------------

    async def request_mic(self, room: str, *, note: str | None = None) -> Reply:
        return await self.request("request_mic", room=room, note=note)

    async def cancel_mic_request(self, room: str) -> Reply:
        return await self.request("cancel_mic_request", room=room)

    async def accept_mic(self, room: str, user: str, *, seat: int | None = None) -> Reply:
        return await self.request("accept_mic", room=room, user=user, seat=seat)

    async def reject_mic(self, room: str, user: str) -> Reply:
        return await self.request("reject_mic", room=room, user=user)

    async def open_chatroom(self, room: str) -> Reply:
        return await self.request("open_chatroom", room=room)

    async def close_chatroom(self, room: str) -> Reply:
        return await self.request("close_chatroom", room=room)

    # ---- seats ------------------------------------------------------------------------------

    async def take_seat(self, room: str, seat: int) -> Reply:
        return await self.request("take_seat", room=room, seat=seat)

    async def leave_seat(self, room: str) -> Reply:
        return await self.request("leave_seat", room=room)

    async def switch_seat(self, room: str, seat: int) -> Reply:
        return await self.request("switch_seat", room=room, seat=seat)

    async def invite_to_seat(self, room: str, user: str, *, seat: int | None = None) -> Reply:
        return await self.request("invite_to_seat", room=room, user=user, seat=seat)

    async def answer_invite(self, room: str, accept: bool) -> Reply:
        return await self.request("answer_invite", room=room, accept=accept)

    async def kick_seat(self, room: str, seat: int) -> Reply:
        return await self.request("kick_seat", room=room, seat=seat)

    async def lock_seat(self, room: str, seat: int) -> Reply:
        return await self.request("lock_seat", room=room, seat=seat)

    async def unlock_seat(self, room: str, seat: int) -> Reply:
        return await self.request("unlock_seat", room=room, seat=seat)

    async def mute_seat(self, room: str, seat: int) -> Reply:
        return await self.request("mute_seat", room=room, seat=seat)

    async def unmute_seat(self, room: str, seat: int) -> Reply:
        return await self.request("unmute_seat", room=room, seat=seat)

    async def mute(self, room: str) -> Reply:
        return await self.request("mute", room=room)

    async def unmute(self, room: str) -> Reply:
        return await self.request("unmute", room=room)

    # ---- moderation, chat, media ------------------------------------------------------------

    async def kick_member(self, room: str, user: str, *, ban: bool | None = None) -> Reply:
        return await self.request("kick_member", room=room, user=user, ban=ban)

    async def set_admin(self, room: str, user: str, admin: bool) -> Reply:
        return await self.request("set_admin", room=room, user=user, admin=admin)

    async def chat(self, room: str, text: str) -> Reply:
        return await self.request("chat", room=room, text=text)

    async def webrtc_offer(self, room: str, sdp: str) -> Reply:
        return await self.request("webrtc_offer", room=room, sdp=sdp)
