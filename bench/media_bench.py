"""Shared plumbing of the media benchmarks: server and peer processes, CPU and /metrics.

The server is `bench.media_server` (the real stack with the bench's send modes), started by
server/process.py's launcher like every server child. CPU is read from /proc (bench/procstat.py),
so a figure is what the server process itself burnt, whatever else the machine runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from bench.procstat import cpu_seconds
from server.process import REPO_ROOT, ServerProcess, http_get, server_process

MEDIA_SERVER = ("-m", "bench.media_server")


def cpu_set(cpu: str | None) -> frozenset[int] | None:
    """`"0"` or `"0,1"` (as `cpus()` hands them out) as a set of CPUs."""
    return None if cpu is None else frozenset(int(c) for c in cpu.split(","))


@dataclass
class ServerProc:
    child: ServerProcess

    @property
    def url(self) -> str:
        return self.child.url

    def cpu(self) -> float:
        return cpu_seconds(self.child.pid)

    async def metrics(self) -> dict[str, float]:
        _, _, body = await http_get(self.child.host, self.child.port, "/metrics")
        out: dict[str, float] = {}
        for line in body.decode().splitlines():
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                out[name] = float(value)
        return out


def _show_errors(line: str) -> None:
    text = line.rstrip()
    if "Traceback" in text or "ERROR" in text:
        print(f"  [server] {text}", file=sys.stderr)


@contextlib.asynccontextmanager
async def media_server(*flags: str, cpu: str | None = None) -> AsyncIterator[ServerProc]:
    async with server_process(*flags, program=MEDIA_SERVER, cpus=cpu_set(cpu), timeout=60,
                              on_line=_show_errors) as child:
        yield ServerProc(child)


@dataclass
class PeerProc:
    proc: asyncio.subprocess.Process
    ready: dict[str, Any]

    async def stats(self) -> dict[str, Any]:
        return await self.ask("stats")

    async def ask(self, command: str) -> dict[str, Any]:
        """Send a command line (`stats`, `trace`) and read the JSON line it answers."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        while True:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode()
            if not line:
                raise RuntimeError("peer process ended")
            if line.startswith(command + " "):
                result: dict[str, Any] = json.loads(line[len(command) + 1:])
                return result

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)


@contextlib.asynccontextmanager
async def peer_process(*argv: str, cpu: str | None = None, ready_timeout: float,
                       stop_timeout: float) -> AsyncIterator[PeerProc]:
    """`python ARGV...` (a peers module): yields once it prints `ready {json}`; on the way out
    closes its stdin, then terminates it, then kills it after `stop_timeout` seconds."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv,
        cwd=REPO_ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    if (cpus := cpu_set(cpu)) is not None:
        os.sched_setaffinity(proc.pid, cpus)  # before the interpreter starts any thread
    assert proc.stdout is not None and proc.stdin is not None
    lines: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), ready_timeout)).decode()
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
                await asyncio.wait_for(proc.wait(), stop_timeout)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@contextlib.asynccontextmanager
async def media_peers(url: str, *, rooms: int, talkers: int, silent: int, listeners: int,
                      prefix: str = "w0", cpu: str | None = None,
                      extra: Sequence[str] = ()) -> AsyncIterator[PeerProc]:
    async with peer_process(
        "-m", "bench.media_peers", "--url", url, "--rooms", str(rooms),
        "--talkers", str(talkers), "--silent", str(silent), "--listeners", str(listeners),
        "--prefix", prefix, *extra, cpu=cpu, ready_timeout=300, stop_timeout=20,
    ) as peers:
        yield peers


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
        # Counters carry Prometheus' `_total` suffix (server/metrics.py), gauges do not.
        return self.metrics.get(f"voiceroom_media_{name}_total",
                                self.metrics.get(f"voiceroom_media_{name}", 0.0))


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
