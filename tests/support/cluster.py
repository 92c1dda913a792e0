"""Several `run_server.py` processes on one Redis, started side by side.

`cluster_nodes(redis_url, ["a", "b"], "--grace", "1")` yields one `ServerProcess` per node id
(`--redis URL --node-id ID` plus the flags), all healthy; on exit each gets SIGTERM (SIGKILL if
it hangs). A test may SIGKILL one itself (`node.proc.kill()`): that is how nodes die here.
The launching is server/process.py's; this adds the test client (`node.client(user)`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from server import process
from tests.support.server import ServerProcess


@contextlib.asynccontextmanager
async def cluster_nodes(
    redis_url: str, node_ids: Sequence[str], *flags: str
) -> AsyncIterator[list[ServerProcess]]:
    async with process.cluster_nodes(redis_url, node_ids, *flags) as nodes:
        yield [ServerProcess.of(node) for node in nodes]
