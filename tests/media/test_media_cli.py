"""The client CLI's media flags against a real server: `host --publish FILE --record`,
`join --tone HZ --record`, and the re-offer when the joining user takes a seat."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np

from audio.sources import FileSource, ToneSource, tone_levels, write_wav
from tests.support.server import running_server

REPO = Path(__file__).resolve().parents[2]


async def start_cli(url: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "client", "--url", url, *args,
        cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def read_until(proc: asyncio.subprocess.Process, prefix: str, seen: list[str]) -> str:
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line, f"CLI ended before {prefix!r}: {''.join(seen)}"
        seen.append(line)
        if line.startswith(prefix):
            return line.strip()


async def test_cli_publishes_a_file_records_and_reoffers_when_seated(tmp_path: Path) -> None:
    song = tmp_path / "song.wav"
    write_wav(song, np.concatenate([ToneSource(660.0).read() for _ in range(100)]))
    host_wav, guest_wav = tmp_path / "host.wav", tmp_path / "guest.wav"
    async with running_server(media=True) as server:
        host = await start_cli(server.url, "--name", "Ada", "host", "--title", "cli media",
                               "--chatroom", "--seat-mode", "free", "--publish", str(song),
                               "--record", str(host_wav), "--duration", "7", "--no-input")
        out: list[str] = []
        room = (await read_until(host, "room: ", out)).split()[1]
        await read_until(host, "media: connected", out)
        guest = await start_cli(server.url, "--name", "Bob", "join", room, "--tone", "880",
                                "--record", str(guest_wav), "--duration", "4")
        gout: list[str] = []
        assert "(receiving)" in await read_until(guest, "media: connected", gout)
        assert guest.stdin is not None
        guest.stdin.write(b"/take 0\n")
        await guest.stdin.drain()
        await read_until(guest, "take: ok", gout)
        assert await asyncio.wait_for(guest.wait(), 20) == 0, "".join(gout)
        assert await asyncio.wait_for(host.wait(), 20) == 0, "".join(out)
    guest_pcm = FileSource(guest_wav).read_all()
    host_pcm = FileSource(host_wav).read_all()
    assert len(guest_pcm) > 48_000 * 2
    # The guest heard the host's file all along.
    assert tone_levels(guest_pcm[-48_000:], [660.0])[660.0] > -30
    # Once seated the guest re-offered sendrecv and the host heard the tone, not themself.
    heard = tone_levels(host_pcm, [880.0, 660.0])
    assert heard[880.0] > -35 and heard[660.0] < heard[880.0] - 30, heard
