"""The end of a benchmark's server child: say where it serves, then run until SIGTERM.

The line is the one server/process.py's launchers wait for (`SERVING`): with --port 0 it is
how they learn the port.
"""

from __future__ import annotations

import asyncio
import os
import signal


async def serve_until_sigterm(url: str) -> None:
    """Print `serving on URL pid PID`; return once the process is sent SIGTERM."""
    print(f"serving on {url} pid {os.getpid()}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
