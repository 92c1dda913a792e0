"""The server for the media benchmarks: the real stack (server.app.build), in its own process.

    python -m bench.media_server [--send-mode direct|track] [--encode once|per-listener]

Prints `serving on ws://HOST:PORT/ws pid PID` once it listens; SIGTERM stops it.
`--send-mode track` and `--encode per-listener` are the baselines bench/fanout.py compares
against (aiortc's RTCRtpSender per listener; an Opus encode per listener, as Janus does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from server.app import build
from server.settings import Settings


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.media_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--send-mode", choices=("direct", "track"), default="direct")
    parser.add_argument("--encode", choices=("once", "per-listener"), default="once")
    args = parser.parse_args(argv)
    # Benchmarks open many connections from one address: no request rate limit here.
    settings = Settings(host=args.host, port=args.port, media=True, node_id="bench",
                        log_level="WARNING", rate=1e6, burst=1_000_000)
    app = await build(settings)
    assert app.media is not None, "no media engine"
    app.media.send_mode = args.send_mode
    app.media.encode_once = args.encode == "once"
    await app.start()
    print(f"serving on {app.url} pid {os.getpid()}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
