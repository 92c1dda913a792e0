"""The server's log as an operator reads it (`run_server.py` as a child process, real clients and
a real aiortc peer): INFO tells what happened to rooms, not to sockets; DEBUG has the sockets
and ICE too; `--log-format json` writes one JSON object a line with the room's fields."""

from __future__ import annotations

import io
import json
import logging
import re

from server.logs import CHATTY_LIBRARIES, configure_logging
from tests.support.rtc import close_all, connect, tone_peer
from tests.support.server import ServerProcess, WireClient, http_get, server_process

CHATTY = re.compile(r"\b(INFO|DEBUG) (aioice|aiortc|websockets)[.:]")


async def a_room_story(node: ServerProcess) -> str:
    """A room's life with a listener's media, a kick and a few plain GETs; returns the room."""
    host = await node.client("host")
    guest = await node.client("guest")
    listener = await node.client("listener")
    room = (await host.call("create_room", title="Evening talk"))["room"]["id"]
    for client in (guest, listener):
        await client.call("join_room", room=room)

    async def offer(client: WireClient, sdp: str) -> str:
        return str((await client.call("webrtc_offer", room=room, sdp=sdp))["sdp"])

    peer = await connect(tone_peer(None), lambda sdp: offer(listener, sdp))
    await close_all([peer])
    for path in ("/healthz", "/metrics", "/"):
        await http_get(node.host, node.port, path)
    await host.call("open_chatroom", room=room)
    await host.call("kick_member", room=room, user="guest", ban=True)
    await host.call("close_room", room=room)
    for client in (host, guest, listener):
        await client.close()
    return str(room)


async def test_info_tells_what_happened_to_rooms_not_to_sockets() -> None:
    async with server_process() as node:
        room = await a_room_story(node)
        node.terminate()
        await node.wait()
    text = node.text
    lines = text.splitlines()
    print(f"{len(lines)} INFO lines for a room's whole life:\n{text}")
    assert f"room {room} created by host: 'Evening talk'" in text
    assert f"room {room} is now chatroom, by host" in text
    assert f"room {room} guest banned by host" in text
    assert f"room {room} closed: closed by host" in text
    chatty = [line for line in lines if CHATTY.search(line)]
    assert not chatty, f"per-connection lines at INFO: {chatty}"
    # Joins and seat moves are DEBUG: the whole story fits in a screen.
    assert not any("joined" in line or "media connection closed" in line for line in lines)


async def test_json_format_one_object_a_line_and_debug_shows_the_sockets() -> None:
    async with server_process("--log-format", "json", "--log-level", "DEBUG") as node:
        room = await a_room_story(node)
        node.terminate()
        await node.wait()
    entries = []
    for line in node.text.splitlines():
        entry = json.loads(line)  # every line, the banner and tracebacks included
        assert isinstance(entry, dict)
        assert {"time", "level", "logger", "message"} <= entry.keys()
        entries.append(entry)
    created = [e for e in entries if e.get("event") == "room_created"]
    assert len(created) == 1 and created[0]["room"] == room and created[0]["user"] == "host"
    assert created[0]["level"] == "INFO" and created[0]["logger"] == "voiceroom.rooms"
    banned = [e for e in entries if e.get("event") == "kicked"]
    assert banned and banned[0]["user"] == "guest"
    assert any(e["event"] == "_joined" and e["user"] == "listener"
               for e in entries if "event" in e)
    # At DEBUG the libraries' per-connection lines are there (so INFO's silence is a choice).
    loggers = {e["logger"].split(".")[0] for e in entries}
    assert {"aioice", "websockets"} <= loggers, loggers
    assert any("serving on ws://" in e["message"] for e in entries)


def test_json_lines_carry_tracebacks_and_extras_on_one_line() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("INFO", "json", out)
        log = logging.getLogger("voiceroom.test")
        try:
            raise ValueError("bad\nthing")
        except ValueError:
            log.exception("room %s failed", "r1", extra={"room": "r1"})
        logging.getLogger("aioice.ice").info("Connection(0) Check CandidatePair ...")
        log.debug("not at INFO")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name in CHATTY_LIBRARIES:
            logging.getLogger(name).setLevel(logging.NOTSET)
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["message"] == "room r1 failed" and entry["room"] == "r1"
    assert entry["level"] == "ERROR" and "ValueError: bad\nthing" in entry["exception"]
