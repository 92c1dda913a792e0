"""A private redis-server for the test session (never fakeredis).

`REDIS_URL` in the environment wins; otherwise one `redis-server` subprocess is started on a
free loopback port the first time a test asks for Redis, and stopped when the session ends.
When neither can be had, a test needing Redis fails on CI (`CI=true`) and is skipped elsewhere,
with the reason spelled out.

A test's `redis_url` fixture returns `fresh_redis_url()`: the URL of a flushed database.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import redis
import redis.asyncio as aioredis

START_TIMEOUT = 10.0


class RedisUnavailable(RuntimeError):
    """Neither REDIS_URL nor a redis-server binary is available."""


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
                [
                    self._binary, "--port", str(self.port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", self._dir,
                    "--protected-mode", "no",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            if self._wait_ready():
                return
            last_error = self._collect_output()
        raise RedisUnavailable(f"redis-server did not start: {last_error}")

    def _wait_ready(self) -> bool:
        assert self._proc is not None
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1.0)
        deadline = time.monotonic() + START_TIMEOUT
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


_server: RedisServer | None = None
_failure: str | None = None


def shared_redis_url() -> str:
    """The session's Redis URL; starts the private server on first use."""
    global _server, _failure
    env = os.environ.get("REDIS_URL")
    if env:
        return env
    if _failure is not None:
        raise RedisUnavailable(_failure)
    if _server is None:
        try:
            server = RedisServer()
            server.start()
        except RedisUnavailable as exc:
            _failure = str(exc)
            raise
        _server = server
        atexit.register(server.stop)
    return _server.url


def require_redis() -> str:
    """The URL, or fail (CI) / skip (elsewhere) with the reason."""
    try:
        return shared_redis_url()
    except RedisUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is required on CI: {exc}")
        pytest.skip(f"Redis tests need redis-server or REDIS_URL: {exc}")


def flush_sync(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


async def flush(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def fresh_redis_url() -> str:
    """The session's Redis, flushed: what a test's `redis_url` fixture returns."""
    url = require_redis()
    flush_sync(url)
    return url
