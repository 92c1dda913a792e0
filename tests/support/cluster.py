"""Several `run_server.py` processes on one Redis, started side by side.

`cluster_nodes(redis_url, ["a", "b"], "--grace", "1")` yields one `ServerProcess` per node id
(`--redis URL --node-id ID` plus the flags), all healthy; on exit each gets SIGTERM (SIGKILL if
it hangs). A test may SIGKILL one itself (`node.proc.kill()`): that is how nodes die here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from tests.support.server import ServerProcess, server_process


@contextlib.asynccontextmanager
async def cluster_nodes(
    redis_url: str, node_ids: Sequence[str], *flags: str
) -> AsyncIterator[list[ServerProcess]]:
    managers = [
        server_process("--redis", redis_url, "--node-id", node_id, *flags) for node_id in node_ids
    ]
    # Start together: each start costs an interpreter's import time.
    started: list[Any] = await asyncio.gather(
        *(manager.__aenter__() for manager in managers), return_exceptions=True
    )
    try:
        for result in started:
            if isinstance(result, BaseException):
                raise result
        yield list(started)
    finally:
        await asyncio.gather(
            *(
                manager.__aexit__(None, None, None)
                for manager, result in zip(managers, started, strict=True)
                if not isinstance(result, BaseException)
            ),
            return_exceptions=True,
        )
