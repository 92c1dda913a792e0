"""`python -m client ... | head -1`: a CLI whose stdout reader is gone exits quietly.

The reading end of the CLI's stdout pipe is closed by the test itself, at a known point, so
the CLI's next write meets EPIPE for sure (what `head` does when it has its line).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from client import VoiceClient
from server.process import REPO_ROOT
from tests.client.serverproc import Server, run_server

pytestmark = pytest.mark.timeout(60)

WAIT = 20.0


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with run_server() as srv:
        yield srv


@contextlib.asynccontextmanager
async def cli_on_pipe(server: Server, *args: str) -> AsyncIterator[
        tuple[asyncio.subprocess.Process, int]]:
    """`python -m client` with stdout on a pipe whose reading end the test holds."""
    read_end, write_end = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "client", "--url", server.url, *args,
            cwd=REPO_ROOT, stdin=asyncio.subprocess.DEVNULL, stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(write_end)
    try:
        yield proc, read_end
    finally:
        with contextlib.suppress(OSError):
            os.close(read_end)
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def read_until(fd: int, marker: str) -> str:
    text = ""
    while marker not in text:
        try:
            chunk = await asyncio.wait_for(asyncio.to_thread(os.read, fd, 4096), WAIT)
        except TimeoutError:
            raise AssertionError(f"no {marker!r} in time: {text!r}") from None
        if not chunk:
            raise AssertionError(f"output ended before {marker!r}: {text!r}")
        text += chunk.decode()
    return text


async def finished(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    assert proc.stderr is not None
    stderr = await asyncio.wait_for(proc.stderr.read(), WAIT)
    return await asyncio.wait_for(proc.wait(), WAIT), stderr.decode()


async def test_rooms_into_a_closed_pipe_exits_without_a_traceback(server: Server) -> None:
    async with cli_on_pipe(server, "rooms") as (proc, read_end):
        os.close(read_end)  # the reader is gone before the first line
        code, stderr = await finished(proc)
    assert stderr == ""
    assert code == 1


async def test_a_session_whose_reader_goes_away_ends_quietly(server: Server) -> None:
    host = await VoiceClient.connect(server.url, user="pipe-host")
    try:
        room = (await host.create_room("piped"))["room"]["id"]
        async with cli_on_pipe(server, "--name", "pipe-guest", "join", room,
                               "--no-input") as (proc, read_end):
            await read_until(read_end, "joined ")
            # Once a chat shows, the session prints events; then the reader goes away.
            await host.chat(room, "hello")
            await read_until(read_end, "hello")
            os.close(read_end)
            await host.chat(room, "anyone there?")
            code, stderr = await finished(proc)
        assert stderr == ""
        assert code == 1
    finally:
        await host.close()
