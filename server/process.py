"""Children that tests and benchmarks drive from outside, started one way.

- the server: `run_server.py` (or another program that takes `--host`/`--port` and logs
  `serving on ws://HOST:PORT/ws`, such as `bench.media_server`) on a port it picks itself.
  One launcher with two entry points: `server_child(...)` blocks (threads; a bench's main or
  a test module's fixture can hold one), `server_process(...)` is an async context manager;
- `cluster_nodes(redis_url, ids, *flags)`: several server processes on one Redis;
- `RedisServer`: a private redis-server (no persistence, loopback, a port of its own);
- `http_get(host, port, path)`: a bare HTTP/1.1 GET (/healthz, /metrics).

    with server_child("--no-media", cpus={0}) as server:
        ... connect to server.url ...
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import redis

REPO_ROOT = Path(__file__).resolve().parents[1]
RUN_SERVER = REPO_ROOT / "run_server.py"
RUN_SERVER_PROGRAM: tuple[str, ...] = (str(RUN_SERVER),)
# The line a server logs once it listens; with --port 0 it is how the port is learned.
SERVING = re.compile(r"serving on (ws://(\S+?):(\d+)/ws)")
KEEP_LINES = 1000  # of each end of the child's output: a long run logs far more
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
HTTP_TIMEOUT = 10.0
REDIS_START_TIMEOUT = 10.0

LineHook = Callable[[str], None]


# ---- what every server child shares -----------------------------------------------------------


@dataclass(frozen=True)
class Launch:
    """One server child's command line, environment and CPUs."""

    flags: tuple[str, ...]
    program: tuple[str, ...] = RUN_SERVER_PROGRAM  # the interpreter's arguments before the flags
    host: str = "127.0.0.1"
    cpus: frozenset[int] | None = None
    env: Mapping[str, str] | None = None

    def argv(self) -> list[str]:
        return [sys.executable, *self.program, "--host", self.host, "--port", "0", *self.flags]

    def environ(self) -> dict[str, str]:
        return {**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})}

    def pin(self, pid: int) -> None:
        # Right after the spawn, before the interpreter starts threads (they inherit it).
        if self.cpus is not None:
            os.sched_setaffinity(pid, self.cpus)


class Transcript:
    """The child's output: its first and last KEEP_LINES lines (start-up and shutdown)."""

    def __init__(self) -> None:
        self.head: list[str] = []
        self.tail: deque[str] = deque(maxlen=KEEP_LINES)
        self.found: re.Match[str] | None = None

    def add(self, line: str) -> None:
        if len(self.head) < KEEP_LINES:
            self.head.append(line)
        else:
            self.tail.append(line)
        if self.found is None:
            self.found = SERVING.search(line)

    @property
    def text(self) -> str:
        return "".join(self.head) + "".join(self.tail)


def _announced(transcript: Transcript, timeout: float) -> tuple[str, int]:
    """The URL and port the child announced (its own host name, as it logged it)."""
    if transcript.found is None:
        raise RuntimeError(f"server did not serve within {timeout:g} s (or exited):\n"
                           + transcript.text)
    return transcript.found.group(1), int(transcript.found.group(3))


Proc = TypeVar("Proc", subprocess.Popen[str], asyncio.subprocess.Process)


@dataclass
class Served(Generic[Proc]):
    """A server child that said where it serves."""

    proc: Proc
    url: str
    host: str
    port: int
    transcript: Transcript = field(default_factory=Transcript)

    @property
    def pid(self) -> int:
        return self.proc.pid


def _cpu_set(cpus: Sequence[int] | set[int] | frozenset[int] | None) -> frozenset[int] | None:
    return None if cpus is None else frozenset(cpus)


# ---- the blocking entry point -----------------------------------------------------------------


@dataclass
class ServerChild(Served[subprocess.Popen[str]]):
    """A server child of `server_child`."""


@contextlib.contextmanager
def server_child(*flags: str, program: tuple[str, ...] = RUN_SERVER_PROGRAM,
                 host: str = "127.0.0.1", cpus: set[int] | frozenset[int] | None = None,
                 env: Mapping[str, str] | None = None, timeout: float = START_TIMEOUT,
                 on_line: LineHook | None = None) -> Iterator[ServerChild]:
    """`python run_server.py --host HOST --port 0 *flags`, pinned to `cpus` if given.

    Yields once the server logs that it serves; on exit SIGTERM, then SIGKILL if it lingers.
    """
    launch = Launch(flags, program, host, _cpu_set(cpus), env)
    proc = subprocess.Popen(
        launch.argv(), cwd=REPO_ROOT, env=launch.environ(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    launch.pin(proc.pid)
    transcript = Transcript()
    ready = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            transcript.add(line)
            if on_line is not None:
                on_line(line)
            if transcript.found is not None:
                ready.set()
        ready.set()  # the child exited before serving

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        ready.wait(timeout)
        url, port = _announced(transcript, timeout)
        yield ServerChild(proc, url, host, port, transcript)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()


# ---- the async entry point --------------------------------------------------------------------


@dataclass
class ServerProcess(Served[asyncio.subprocess.Process]):
    """A server child of `server_process`."""

    @property
    def text(self) -> str:
        return self.transcript.text

    def terminate(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)


@contextlib.asynccontextmanager
async def server_process(*flags: str, program: tuple[str, ...] = RUN_SERVER_PROGRAM,
                         host: str = "127.0.0.1",
                         cpus: set[int] | frozenset[int] | None = None,
                         env: Mapping[str, str] | None = None, timeout: float = START_TIMEOUT,
                         on_line: LineHook | None = None) -> AsyncIterator[ServerProcess]:
    """`server_child` for an event loop; also waits until /healthz says ok."""
    launch = Launch(flags, program, host, _cpu_set(cpus), env)
    proc = await asyncio.create_subprocess_exec(
        *launch.argv(), cwd=str(REPO_ROOT), env=launch.environ(),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    launch.pin(proc.pid)
    transcript = Transcript()
    ready = asyncio.Event()

    async def drain() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace")
            transcript.add(line)
            if on_line is not None:
                on_line(line)
            if transcript.found is not None:
                ready.set()
        ready.set()

    reader = asyncio.create_task(drain())
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), timeout)
        url, port = _announced(transcript, timeout)
        await wait_healthy(host, port, timeout)
        yield ServerProcess(proc, url, host, port, transcript)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(reader, 5)


@contextlib.asynccontextmanager
async def cluster_nodes(redis_url: str, node_ids: Sequence[str],
                        *flags: str) -> AsyncIterator[list[ServerProcess]]:
    """One `run_server.py --redis URL --node-id ID *flags` per id, all healthy; each gets
    SIGTERM on exit (a caller may SIGKILL one itself: `node.proc.kill()`)."""
    managers = [server_process("--redis", redis_url, "--node-id", node_id, *flags)
                for node_id in node_ids]
    # Start together: each start costs an interpreter's import time.
    started: list[Any] = await asyncio.gather(
        *(manager.__aenter__() for manager in managers), return_exceptions=True)
    try:
        for result in started:
            if isinstance(result, BaseException):
                raise result
        yield list(started)
    finally:
        await asyncio.gather(
            *(manager.__aexit__(None, None, None)
              for manager, result in zip(managers, started, strict=True)
              if not isinstance(result, BaseException)),
            return_exceptions=True,
        )


# ---- HTTP ---------------------------------------------------------------------------------------


async def http_get(host: str, port: int, path: str,
                   headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET `path`; returns (status, headers with lower-case names, body)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
        lines += [f"{key}: {value}" for key, value in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), HTTP_TIMEOUT)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    parsed = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        parsed[key.strip().lower()] = value.strip()
    if "content-length" in parsed:
        body = body[: int(parsed["content-length"])]
    return status, parsed, body


async def wait_healthy(host: str, port: int, timeout: float = START_TIMEOUT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        with contextlib.suppress(OSError):
            status, _, _ = await http_get(host, port, "/healthz")
            if status == 200:
                return
        if loop.time() > deadline:
            raise TimeoutError(f"server on port {port} never became healthy")
        await asyncio.sleep(0.05)


# ---- a private redis-server ---------------------------------------------------------------------


class RedisUnavailable(RuntimeError):
    """No redis-server binary to start (or it would not start)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server subprocess: no persistence, loopback only, a port of its own."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailable("redis-server is not installed and REDIS_URL is not set")
        self._binary = binary
        self._dir = tempfile.mkdtemp(prefix="voiceroom-redis-")
        self._proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, port: int | None = None) -> None:
        """Start on `port` (a restart: one try), else on a free port."""
        # The free port may be taken by someone else between probe and bind: retry a few times.
        last_error = ""
        for _ in range(1 if port else 5):
            self.port = port or free_port()
            self._proc = subprocess.Popen(
                [self._binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", self._dir,
                 "--protected-mode", "no"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )
            if self._wait_ready():
                return
            last_error = self._collect_output()
        raise RedisUnavailable(f"redis-server did not start: {last_error}")

    def _wait_ready(self) -> bool:
        assert self._proc is not None
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1.0)
        deadline = time.monotonic() + REDIS_START_TIMEOUT
        try:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.ConnectionError:
                    time.sleep(0.02)
            return False
        finally:
            client.close()

    def _collect_output(self) -> str:
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.kill()
        out, _ = self._proc.communicate(timeout=5)
        return out.decode(errors="replace")[-500:]

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
        shutil.rmtree(self._dir, ignore_errors=True)
