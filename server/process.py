"""`run_server.py` as a child process, for scripts that drive a real server: benchmarks and
tests. Blocking (threads, not asyncio), so a test module or a bench's main can hold one.

    with server_child("--no-media", cpus={0}) as server:
        ... connect to server.url ...
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# The line run_server.py logs once it listens; with --port 0 it is how the port is learned.
SERVING = re.compile(r"serving on ws://[^\s:]+:(\d+)/ws")
KEEP_LINES = 1000  # of the child's output, for error messages; a long run logs far more
STOP_TIMEOUT = 30.0


@dataclass
class ServerChild:
    proc: subprocess.Popen[str]
    port: int
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@contextlib.contextmanager
def server_child(*flags: str, cpus: set[int] | None = None,
                 timeout: float = 30.0) -> Iterator[ServerChild]:
    """`python run_server.py --host 127.0.0.1 --port 0 *flags`, pinned to `cpus` if given.

    Yields once the server logs that it serves; on exit SIGTERM, then SIGKILL if it lingers.
    """

    def pin() -> None:
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    proc = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "run_server.py"), "--host", "127.0.0.1",
         "--port", "0", *flags],
        cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, preexec_fn=pin,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    output: list[str] = []
    ready = threading.Event()
    port: list[int] = []

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if len(output) < KEEP_LINES:
                output.append(line)
            if not port and (match := SERVING.search(line)):
                port.append(int(match.group(1)))
                ready.set()
        ready.set()  # the child exited before serving

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        if not ready.wait(timeout) or not port:
            raise RuntimeError("server did not start:\n" + "".join(output))
        yield ServerChild(proc, port[0], output)
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
