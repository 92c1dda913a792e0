"""The floor of a relayed call packet's receive on this machine: an asyncio event loop (as
aioice reads its ICE sockets) with N loopback UDP sockets, each sent one datagram every 20 ms
by another process on the other core; no SRTP, no parsing, nothing done with the data.

    python -m bench.receive_floor [--sockets 100] [--seconds 8]

Prints the receiving process's CPU per datagram (user + system, from getrusage) and the
system share. Every packet a call relays is received once like this before it is sent on;
a room listener's packet is only sent (bench/send_floor.py, bench/fanout.py), which is why a
relayed packet costs more than a listener's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import sys
import time

PAYLOAD = bytes(100)  # an SRTP packet of a 20 ms Opus frame, about
WARMUP = 2.0


class Count(asyncio.DatagramProtocol):
    received = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        Count.received += 1


def cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_stime


async def receive(sockets: int, seconds: float, ports_out: int) -> str:
    loop = asyncio.get_running_loop()
    transports = [
        (await loop.create_datagram_endpoint(Count, local_addr=("127.0.0.1", 0)))[0]
        for _ in range(sockets)
    ]
    ports = [t.get_extra_info("sockname")[1] for t in transports]
    os.write(ports_out, (",".join(map(str, ports)) + "\n").encode())
    await asyncio.sleep(WARMUP)
    n0, (c0, k0) = Count.received, cpu()
    await asyncio.sleep(seconds)
    n1, (c1, k1) = Count.received, cpu()
    for t in transports:
        t.close()
    n = max(1, n1 - n0)
    return (f"{sockets} sockets, {n / seconds:.0f} datagrams/s received: "
            f"{(c1 - c0) / n * 1e6:.1f} µs of CPU per datagram, "
            f"{(k1 - k0) / n * 1e6:.1f} µs of it in the kernel")


def send(ports: list[int], seconds: float) -> None:
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic()
    end = deadline + seconds
    while deadline < end:
        for port in ports:
            out.sendto(PAYLOAD, ("127.0.0.1", port))
        deadline += 0.02
        wait = deadline - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    out.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.receive_floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    two_cores = (os.cpu_count() or 1) >= 2
    ports_in, ports_out = os.pipe()
    results_in, results_out = os.pipe()
    child = os.fork()
    if child == 0:  # the receiver: core 0
        try:
            if two_cores:
                os.sched_setaffinity(0, {0})
            line = asyncio.run(receive(args.sockets, args.seconds, ports_out))
            os.write(results_out, line.encode())
        finally:
            os._exit(0)
    if two_cores:
        os.sched_setaffinity(0, {1})
    with os.fdopen(ports_in) as reader:
        ports = [int(p) for p in reader.readline().split(",")]
    send(ports, WARMUP + args.seconds + 1.0)
    os.waitpid(child, 0)
    os.close(results_out)
    with os.fdopen(results_in) as results:
        print(results.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
