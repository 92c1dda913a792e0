"""Shared plumbing of the media benchmarks: server and peer processes, CPU and /metrics.

CPU is read from /proc/PID/stat (user + system time of every thread of the process), so a
figure is what the server process itself burnt, whatever else the machine runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_SERVING = re.compile(r"serving on (ws://(\S+?):(\d+)/ws) pid (\d+)")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def pinned(cmd: Sequence[str], cpu: str | None) -> list[str]:
    if cpu is not None and shutil.which("taskset"):
        return ["taskset", "-c", cpu, *cmd]
    return list(cmd)


@dataclass
class ServerProc:
    proc: asyncio.subprocess.Process
    url: str
    host: str
    port: int
    pid: int

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    async def metrics(self) -> dict[str, float]:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(f"GET /metrics HTTP/1.1\r\nHost: {self.host}\r\nConnection: close\r\n\r\n"
                     .encode())
        data = await reader.read()
        writer.close()
        body = data.split(b"\r\n\r\n", 1)[1].decode()
        out: dict[str, float] = {}
        for line in body.splitlines():
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
        return out


@contextlib.asynccontextmanager
async def media_server(*flags: str, cpu: str | None = None) -> AsyncIterator[ServerProc]:
    proc = await asyncio.create_subprocess_exec(
        *pinned([sys.executable, "-m", "bench.media_server", *flags], cpu),
        cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    try:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            if not line:
                raise RuntimeError("media server exited before serving")
            if m := _SERVING.search(line):
                break
        server = ServerProc(proc, m.group(1), m.group(2), int(m.group(3)), int(m.group(4)))
        drain = asyncio.ensure_future(_drain(proc.stdout))
        yield server
    finally:
        if proc.returncode is None:
            proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 15)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        with contextlib.suppress(Exception):
            drain.cancel()


async def _drain(stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        text = line.decode().rstrip()
        if "Traceback" in text or "ERROR" in text:
            print(f"  [server] {text}", file=sys.stderr)


@dataclass
class PeerProc:
    proc: asyncio.subprocess.Process
    ready: dict[str, Any]

    async def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"stats\n")
        await self.proc.stdin.drain()
        while True:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode()
            if not line:
                raise RuntimeError("peer process ended")
            if line.startswith("stats "):
                result: dict[str, Any] = json.loads(line[6:])
                return result

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)


@contextlib.asynccontextmanager
async def media_peers(url: str, *, rooms: int, talkers: int, silent: int, listeners: int,
                      prefix: str = "w0", cpu: str | None = None) -> AsyncIterator[PeerProc]:
    proc = await asyncio.create_subprocess_exec(
        *pinned([sys.executable, "-m", "bench.media_peers", "--url", url, "--rooms", str(rooms),
                 "--talkers", str(talkers), "--silent", str(silent), "--listeners",
                 str(listeners), "--prefix", prefix], cpu),
        cwd=REPO, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None and proc.stdin is not None
    lines: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), 300)).decode()
            if not line:
                raise RuntimeError("peers exited before ready:\n" + "".join(lines[-20:]))
            lines.append(line)
            if line.startswith("ready "):
                ready = json.loads(line[6:])
                break
        yield PeerProc(proc, ready)
    finally:
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                proc.stdin.close()
            proc.terminate()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 20)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@dataclass
class Window:
    """What the server did over a measuring window."""

    seconds: float
    cpu: float  # server CPU seconds
    metrics: dict[str, float]  # deltas of the media counters

    @property
    def cpu_share(self) -> float:
        return self.cpu / self.seconds

    def get(self, name: str) -> float:
        return self.metrics.get(f"voiceroom_media_{name}", 0.0)


async def measure(server: ServerProc, seconds: float) -> Window:
    loop = asyncio.get_running_loop()
    m0 = await server.metrics()
    c0, t0 = server.cpu(), loop.time()
    await asyncio.sleep(seconds)
    c1, t1 = server.cpu(), loop.time()
    m1 = await server.metrics()
    deltas = {k: m1[k] - m0.get(k, 0.0) for k in m1}
    deltas["voiceroom_media_max_tick_seconds"] = m1.get("voiceroom_media_max_tick_seconds", 0)
    return Window(t1 - t0, c1 - c0, deltas)


def cpus() -> tuple[str | None, str | None]:
    """(server cpu, peers cpu) for taskset: separate cores when there are two or more."""
    n = os.cpu_count() or 1
    return ("0", "1") if n >= 2 else (None, None)
