"""Recording (docs/protocol.md "Recording"): the whole server in process with a recordings
folder, speakers on real WebRTC playing tones; the files are read back page by page and
decoded by PyAV (durations, which tone is in which file, silence while muted), the timeline
checked, the downloads and their refusals tried over raw HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from audio.sources import tone_levels
from tests.support.http_stream import decode_ogg, get, parse_pages
from tests.support.rtc import ClientMedia, close_all, connect, tone_peer, wait_for
from tests.support.server import ReplyError, RunningServer, WireClient, running_server

HEARD_DB = -30.0
SR = 48000


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[RunningServer]:
    async with running_server(media=True, recordings=tmp_path) as srv:
        yield srv


async def offer(client: WireClient, rid: str, peer: ClientMedia) -> ClientMedia:
    async def send(sdp: str) -> str:
        return str((await client.call("webrtc_offer", room=rid, sdp=sdp))["sdp"])

    return await connect(peer, send)


async def event(client: WireClient, kind: str, timeout: float = 10.0) -> dict:
    return await client.event(kind, timeout=timeout)  # type: ignore[no-any-return]


def band(pcm: np.ndarray, start: float, end: float, freqs: list[float]) -> dict[float, float]:
    return tone_levels(pcm[int(start * SR):int(end * SR)], freqs)


async def test_recording_off_is_refused_after_the_rooms_own_checks() -> None:
    async with running_server(media=True) as server:
        host = await server.client("host")
        other = await server.client("other")
        rid = (await host.call("create_room", title="r"))["room"]["id"]
        for client, kind, code in ((host, "start_recording", "forbidden"),
                                   (host, "stop_recording", "forbidden"),
                                   (other, "start_recording", "not_in_room")):
            with pytest.raises(ReplyError) as err:
                await client.call(kind, room=rid)
            assert err.value.code == code
        with pytest.raises(ReplyError) as err:
            await host.call("start_recording", room=rid)
        assert "--recordings" in str(err.value)
        with pytest.raises(ReplyError) as err:
            await host.call("start_recording", room="nope")
        assert err.value.code == "no_such_room"
        state = (await host.call("join_room", room=rid))["room"]
        assert "recording" not in state
        await host.close()
        await other.close()


async def test_a_recording_end_to_end(server: RunningServer, tmp_path: Path) -> None:
    host = await server.client("host")
    a = await server.client("a")
    lis = await server.client("lis")
    rid = (await host.call("create_room", title="rec", seat_mode="free"))["room"]["id"]
    await host.call("open_chatroom", room=rid)
    await a.call("join_room", room=rid)
    await a.call("take_seat", room=rid, seat=1)
    await lis.call("join_room", room=rid)
    peers = [await offer(host, rid, tone_peer(400.0, receive=False)),
             await offer(a, rid, tone_peer(700.0, receive=False))]
    try:
        with pytest.raises(ReplyError) as err:
            await a.call("start_recording", room=rid)
        assert err.value.code == "forbidden"
        lis.drain()
        started = (await host.call("start_recording", room=rid))["recording"]
        assert set(started) == {"id", "started_at"}
        rec_id = started["id"]
        changed = await event(lis, "recording_changed")
        assert changed["active"] is True and changed["by"] == "host"
        # Asked again: the running one, nothing changes.
        again = (await host.call("start_recording", room=rid))["recording"]
        assert again == started
        state = (await lis.call("join_room", room=rid))["room"]
        assert state["recording"]["id"] == rec_id
        await asyncio.sleep(1.5)
        await host.call("chat", room=rid, text="hello tape")
        await a.call("mute", room=rid)  # a is silent from here ...
        await asyncio.sleep(1.5)
        await a.call("unmute", room=rid)  # ... to here
        await asyncio.sleep(1.5)
        await a.call("leave_seat", room=rid)
        await asyncio.sleep(0.5)
        lis.drain()
        stopped = (await host.call("stop_recording", room=rid))["recording"]
        changed = await event(lis, "recording_changed")
        assert changed["active"] is False and changed["by"] == "host"
        with pytest.raises(ReplyError) as err:
            await host.call("stop_recording", room=rid)
        assert err.value.code == "wrong_mode"
    finally:
        await close_all(peers)
    assert stopped["id"] == rec_id and 4.5 < stopped["seconds"] < 8.0
    mix, stem_host, stem_a, timeline = (f"{rec_id}.ogg", f"{rec_id}.host.ogg",
                                        f"{rec_id}.a.ogg", f"{rec_id}.json")
    assert sorted(stopped["files"]) == sorted([mix, stem_host, stem_a, timeline])
    files = {name: (tmp_path / name).read_bytes() for name in stopped["files"]}

    # The mix: one page per tick, EOS at the end, decoded as long as the recording ran.
    pages = parse_pages(files[mix])
    assert pages[-1].flags & 0x04 and [p.seq for p in pages] == list(range(len(pages)))
    pcm_mix = decode_ogg(files[mix])
    assert abs(len(pcm_mix) / SR - stopped["seconds"]) < 0.3
    both = band(pcm_mix, 0.5, 1.5, [400.0, 700.0])
    assert min(both.values()) > HEARD_DB, both
    # The stems: each speaker's own voice only, on the mix's timeline.
    pcm_host, pcm_a = decode_ogg(files[stem_host]), decode_ogg(files[stem_a])
    own = band(pcm_host, 0.5, 1.5, [400.0, 700.0])
    assert own[400.0] > HEARD_DB and own[700.0] < own[400.0] - 30, own
    assert abs(len(pcm_host) - len(pcm_mix)) / SR < 0.3  # the host spoke to the end
    timeline_data = json.loads(files[timeline])
    events = timeline_data["events"]
    at = {e["type"]: e["at"] for e in events}
    muted = next(e["at"] for e in events if e["type"] == "seat_changed"
                 and e["seat"]["self_muted"])
    unmuted = next(e["at"] for e in events if e["type"] == "seat_changed"
                   and e["at"] > muted and not e["seat"]["self_muted"])
    mid = (muted + unmuted) / 2000
    quiet = band(pcm_a, mid - 0.4, mid + 0.4, [700.0])
    loud = band(pcm_a, 0.5, 1.2, [700.0])
    assert loud[700.0] > HEARD_DB and quiet[700.0] < loud[700.0] - 40, (loud, quiet)
    after = band(pcm_a, unmuted / 1000 + 0.3, unmuted / 1000 + 1.0, [700.0])
    assert after[700.0] > HEARD_DB, after  # back in step after the gap
    # The timeline: chat, seat changes, leaves, speaking spans, ms from the start.
    assert timeline_data["host"] == "host" and timeline_data["finished"] is True
    chat = next(e for e in events if e["type"] == "chat_message")
    assert chat["text"] == "hello tape" and 1000 < chat["at"] < 3000
    assert at["recording_changed"] > unmuted
    spans = timeline_data["speaking"]
    assert spans["host"] and spans["host"][0][0] < 1000
    a_spans = spans["a"]
    assert any(s[1] is not None and muted - 300 < s[1] < muted + 600 for s in a_spans), \
        (a_spans, muted)
    assert timeline_data["files"]["stems"] == {"host": stem_host, "a": stem_a}

    # Downloads: the host only; every file as written.
    for name, data in files.items():
        status, _, body = await get(server.host, server.port,
                                          f"/recordings/{name}?user=host")
        assert status == 200 and body == data, name
    assert (await get(server.host, server.port, f"/recordings/{mix}?user=a"))[0] == 403
    assert (await get(server.host, server.port, f"/recordings/{mix}"))[0] == 401
    await close_clients(host, a, lis)


async def close_clients(*clients: WireClient) -> None:
    await asyncio.gather(*(c.close() for c in clients))


async def test_recording_paths_cannot_leave_the_folder(server: RunningServer,
                                                       tmp_path: Path) -> None:
    secret_file = tmp_path.parent / "outside.json"
    secret_file.write_text(json.dumps({"host": "host"}))
    (tmp_path / "x.json").write_text(json.dumps({"host": "host"}))
    (tmp_path / ".hidden.json").write_text(json.dumps({"host": "host"}))
    tries = [
        "/recordings/..%2Foutside.json", "/recordings/%2e%2e%2Foutside.json",
        "/recordings/..", "/recordings/.hidden.json", "/recordings/x.txt",
        "/recordings/x.json%00.ogg", "/recordings/%2Fetc%2Fpasswd", "/recordings/x.json%5C..",
        "/recordings/../outside.json", "/recordings/..%5Coutside.json",
    ]
    for target in tries:
        status, _, body = await get(server.host, server.port, target + "?user=host")
        assert status in (400, 404), (target, status)
        assert b"host" not in body, target
    # The one real name works, so the refusals above are about the names.
    status, _, body = await get(server.host, server.port, "/recordings/x.json?user=host")
    assert status == 200 and json.loads(body) == {"host": "host"}


async def test_a_room_closing_finishes_its_recording(server: RunningServer,
                                                     tmp_path: Path) -> None:
    host = await server.client("host")
    rid = (await host.call("create_room", title="short"))["room"]["id"]
    peer = await offer(host, rid, tone_peer(500.0, receive=False))
    try:
        rec_id = (await host.call("start_recording", room=rid))["recording"]["id"]
        await asyncio.sleep(1.0)
        await host.call("close_room", room=rid)
        await wait_for(lambda: not server.app.recordings.recorders
                       and not server.app.recordings._finishing)
    finally:
        await peer.close()
    pages = parse_pages((tmp_path / f"{rec_id}.ogg").read_bytes())
    assert pages[-1].flags & 0x04
    timeline = json.loads((tmp_path / f"{rec_id}.json").read_text())
    assert timeline["finished"] and timeline["events"][-1]["type"] == "room_closed"
    await host.close()
