"""HTTP listeners' cost: one room, one talker on WebRTC, N clients reading its listen.ogg.

    python -m bench.http_listeners [--listeners 0,250,1000,2000] [--batches 1,5] \
        [--seconds 10] [--pin]

The server runs in its own process (this module with `--serve`: the real stack, the HTTP
listeners' batch set by `--batch`), pinned to one core with `--pin`, the readers and the
talker on the other. Per listener = (server CPU with N listeners - with none) / N, per second
of audio and per 20 ms page. Every listener's bytes are counted; one stream per run is
parsed page by page to check it is whole.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass

from audio.ogg_read import OggPacketReader
from audio.sources import ToneSource
from bench.media_bench import cpus
from bench.procstat import cpu_seconds
from bench.serving import serve_until_sigterm
from client.connection import VoiceClient
from client.media import ClientMedia
from server.app import build
from server.process import server_process
from server.settings import Settings

PROGRAM = ("-m", "bench.http_listeners", "--serve")


class Reader(asyncio.Protocol):
    """A listener that takes every byte and counts it (a player's socket, no decoding)."""

    def __init__(self, keep: bool = False) -> None:
        self.bytes = 0
        self.keep = keep
        self.data = bytearray()
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.bytes += len(data)
        if self.keep:
            self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def open_listener(host: str, port: int, path: str, keep: bool = False,
                        ) -> tuple[asyncio.Transport, Reader]:
    loop = asyncio.get_running_loop()
    transport, reader = await loop.create_connection(lambda: Reader(keep), host, port)
    transport.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return transport, reader


def unchunk(data: bytes) -> bytes:
    body = data[data.index(b"\r\n\r\n") + 4:]
    out, pos = bytearray(), 0
    while True:
        end = body.find(b"\r\n", pos)
        if end < 0:
            return bytes(out)
        size = int(body[pos:end], 16)
        if end + 2 + size > len(body) or size == 0:
            return bytes(out)
        out += body[end + 2:end + 2 + size]
        pos = end + 4 + size


@dataclass
class Row:
    batch: int
    listeners: int
    cpu_share: float
    delivered: float
    us_per_listener_second: float | None = None


async def run_batch(batch: int, counts: list[int], seconds: float, warmup: float,
                    server_cpu: str | None) -> list[Row]:
    rows: list[Row] = []
    cpu_set = {int(server_cpu)} if server_cpu is not None else None
    async with server_process("--batch", str(batch), program=PROGRAM, cpus=cpu_set,
                              timeout=60) as server:
        host = await VoiceClient.connect(server.url, user="host")
        rid = (await host.request("create_room", title="bench"))["room"]["id"]
        talker = ClientMedia(ToneSource(440.0, 0.3), receive=False)

        async def send(sdp: str) -> str:
            return str((await host.request("webrtc_offer", room=rid, sdp=sdp))["sdp"])

        await talker.connect(send)
        path = f"/rooms/{rid}/listen.ogg"
        base: float | None = None
        try:
            for count in counts:
                opened = [await open_listener(server.host, server.port, path, keep=(i == 0))
                          for i in range(count)]
                await asyncio.sleep(warmup)
                b0 = [r.bytes for _, r in opened]
                c0, t0 = cpu_seconds(server.pid), asyncio.get_running_loop().time()
                await asyncio.sleep(seconds)
                c1, t1 = cpu_seconds(server.pid), asyncio.get_running_loop().time()
                got = [r.bytes - b for (_, r), b in zip(opened, b0, strict=True)]
                window = t1 - t0
                share = (c1 - c0) / window
                # Bytes each listener should have had: the first one's rate is the reference.
                delivered = (sum(1 for g in got if g > 0.8 * max(got)) / count) if count else 1.0
                row = Row(batch, count, share, delivered)
                if count == 0:
                    base = share
                elif base is not None:
                    row.us_per_listener_second = (share - base) / count * 1e6
                if count:
                    # One stream, read back page by page (CRCs): whole and all audio.
                    ogg = OggPacketReader()
                    packets = ogg.feed(unchunk(bytes(opened[0][1].data)))
                    assert ogg.head is not None and len(packets) >= 50 * seconds, len(packets)
                rows.append(row)
                print(_line(row), flush=True)
                for transport, _ in opened:
                    transport.close()
                await asyncio.sleep(1.0)
        finally:
            await talker.close()
            await host.close()
    return rows


def _line(row: Row) -> str:
    per = row.us_per_listener_second
    extra = "" if per is None else (f", {per:.1f} µs per listener-second = {per / 50:.2f} µs "
                                    f"per listener-page, ~{1e6 / per:,.0f} listeners per core")
    return (f"batch {row.batch} tick(s), {row.listeners} listeners: server CPU "
            f"{row.cpu_share * 100:.1f} %{extra}, delivered {row.delivered * 100:.0f} %")


async def serve(batch: int) -> int:
    settings = Settings(host="127.0.0.1", port=0, media=True, node_id="bench-http",
                        log_level="WARNING", rate=1e6, burst=1_000_000)
    app = await build(settings)
    assert app.listening is not None
    app.listening.batch_ticks = batch
    await app.start()
    await serve_until_sigterm(app.url)
    await app.stop()
    return 0


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_listeners")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=5, help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--listeners", default="0,250,1000,2000")
    parser.add_argument("--batches", default="1,5")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--pin", action="store_true", help="server and readers on separate "
                        "cores")
    args = parser.parse_args(argv)
    if args.serve:
        return await serve(args.batch)
    counts = [int(n) for n in args.listeners.split(",")]
    if counts[0] != 0:
        counts.insert(0, 0)
    server_cpu, readers_cpu = cpus() if args.pin else (None, None)
    if readers_cpu is not None:
        os.sched_setaffinity(0, {int(readers_cpu)})
    rows: list[Row] = []
    for batch in (int(b) for b in args.batches.split(",")):
        rows += await run_batch(batch, counts, args.seconds, args.warmup, server_cpu)
    print()
    print("| pages per write | HTTP listeners | server CPU | µs per listener-second "
          "| µs per listener-page | listeners per core | delivered |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        per = r.us_per_listener_second
        print(f"| {r.batch} | {r.listeners} | {r.cpu_share * 100:.1f} % | "
              f"{'-' if per is None else f'{per:.1f}'} | "
              f"{'-' if per is None else f'{per / 50:.2f}'} | "
              f"{'-' if per is None else f'{1e6 / per:,.0f}'} | {r.delivered * 100:.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
