"""Recording faults with real server processes: a node SIGKILLed while recording leaves files
that play up to the last second written (then exported to WAV and MP3 with
`run_server.py export`); a full disk (a real 64 KiB tmpfs the server alone sees) stops the
recording with an error event to the host, keeps what was written, and the room goes on."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from audio.sources import tone_levels
from server import process
from server.process import RUN_SERVER
from tests.support.http_stream import decode_ogg, get, parse_pages
from tests.support.rtc import ClientMedia, connect, tone_peer
from tests.support.server import ServerProcess, WireClient, server_process
from tests.support.tiny_disk import available

HEARD_DB = -30.0
SR = 48000


def need_ffmpeg() -> None:
    if shutil.which("ffmpeg") is None:
        reason = "no ffmpeg on PATH (pydub needs it: scripts/system-deps.sh test)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


async def recording_room(node: ServerProcess, freq: float) -> tuple[WireClient, str,
                                                                    ClientMedia, str]:
    host = await node.client("host")
    rid = (await host.call("create_room", title="tape"))["room"]["id"]

    async def send(sdp: str) -> str:
        return str((await host.call("webrtc_offer", room=rid, sdp=sdp))["sdp"])

    peer = await connect(tone_peer(freq, receive=False), send)
    rec_id = (await host.call("start_recording", room=rid))["recording"]["id"]
    return host, rid, peer, rec_id


def export(folder: Path, rec_id: str, fmt: str) -> Path:
    done = subprocess.run([sys.executable, str(RUN_SERVER), "export", rec_id, "--format", fmt,
                           "--recordings", str(folder)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    path = folder / f"{rec_id}.{fmt}"
    assert path.is_file() and str(path) in done.stdout
    return path


async def test_a_killed_node_leaves_playable_files_up_to_the_last_second(
        tmp_path: Path) -> None:
    need_ffmpeg()
    async with server_process("--recordings", str(tmp_path)) as node:
        host, _, peer, rec_id = await recording_room(node, 600.0)
        try:
            await asyncio.sleep(3.0)
            node.proc.kill()
            await node.proc.wait()
        finally:
            await peer.close()
            await host.close()
    mix = (tmp_path / f"{rec_id}.ogg").read_bytes()
    pages = parse_pages(mix)  # every page whole: writes end on page boundaries
    assert not pages[-1].flags & 0x04  # no end page: the node died
    pcm = decode_ogg(mix)
    seconds = len(pcm) / SR
    assert 1.0 < seconds < 3.5, seconds  # at most the last second is lost
    assert tone_levels(pcm[-SR // 2:], [600.0])[600.0] > HEARD_DB
    stem = decode_ogg((tmp_path / f"{rec_id}.host.ogg").read_bytes())
    assert tone_levels(stem[-SR // 2:], [600.0])[600.0] > HEARD_DB
    timeline = json.loads((tmp_path / f"{rec_id}.json").read_text())
    assert timeline["id"] == rec_id and timeline["finished"] is False

    # Exported as it was left: WAV as long as the Ogg decodes, MP3 with the tone.
    wav = export(tmp_path, rec_id, "wav")
    with wave.open(str(wav)) as w:
        frames = w.readframes(w.getnframes())
        assert abs(w.getnframes() / w.getframerate() - seconds) < 0.1
        samples = np.frombuffer(frames, dtype=np.int16)[::w.getnchannels()]
        rate = w.getframerate()
    assert tone_levels(samples[-rate // 2:], [600.0])[600.0] > HEARD_DB
    mp3 = export(tmp_path, rec_id, "mp3")
    import av

    with av.open(io.BytesIO(mp3.read_bytes()), format="mp3") as container:
        decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    assert decoded.size > SR
    failed = subprocess.run([sys.executable, str(RUN_SERVER), "export", "../x", "--format",
                             "wav", "--recordings", str(tmp_path)], capture_output=True,
                            text=True, timeout=60)
    assert failed.returncode == 1 and "not a recording id" in failed.stderr


async def test_a_full_disk_stops_the_recording_and_keeps_what_was_written(
        tmp_path: Path) -> None:
    why = available()
    if why is not None:
        pytest.skip(f"no user namespaces for a tiny tmpfs here: {why}")
    folder = tmp_path / "disk"
    folder.mkdir()
    program = ("-m", "tests.support.tiny_disk", "--size", "64k", "--mount", str(folder), "--",
               str(RUN_SERVER))
    async with process.server_process("--recordings", str(folder), program=program) as child:
        node = ServerProcess.of(child)
        host, rid, peer, rec_id = await recording_room(node, 450.0)
        try:
            error = await host.event("recording_error", timeout=30.0)
            assert error["id"] == rec_id and error["reason"] == "disk_full", error
            # In the same batch, just before it: every member is told it stopped.
            changed = [r.message for r in host.log
                       if r.message.get("type") == "recording_changed"]
            assert changed[-1]["active"] is False and changed[-1]["by"] is None
            state = (await host.call("join_room", room=rid))["room"]
            assert "recording" not in state
            await host.call("chat", room=rid, text="still here")  # the room goes on
            # What was written is whole, and plays.
            status, _, mix = await get(node.host, node.port, f"/recordings/{rec_id}.ogg?user=host")
            assert status == 200
            pages = parse_pages(mix)
            assert len(pages) > 50
            pcm = decode_ogg(mix)
            assert len(pcm) / SR > 1.0
            assert tone_levels(pcm[-SR // 2:], [450.0])[450.0] > HEARD_DB
            status, _, body = await get(node.host, node.port,
                                        f"/recordings/{rec_id}.json?user=host")
            assert status == 200 and json.loads(body)["id"] == rec_id
        finally:
            await peer.close()
            await host.close()
        assert "disk_full" in node.text or "No space left" in node.text
