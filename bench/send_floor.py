"""The floor of a listener packet's cost on this machine: media/_fanout.c alone, no aiortc, no
event loop, to N loopback UDP sockets that another process drains on the other core.

    python -m bench.send_floor [--listeners 300] [--ticks 150]

Figures per packet, the thread CPU of the C call divided by the packets it sent: header +
SRTP (AES-128-GCM, what aiortc negotiates with browsers) + sendto, each listener's packet on
its own socket (as each WebRTC listener has its own ICE socket); the same from one shared
socket, which the C call sends with sendmmsg, 64 datagrams a call; header + SRTP alone (sends
to a closed descriptor fail at once); and header + SRTP with AES-128-CM + HMAC-SHA1-80.
What is left between the first and the SRTP alone is the kernel's: on loopback the sender's
system call also delivers the datagram to the receiving socket and wakes its reader.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from pylibsrtp import Policy, Session

from media import fanout
from media.sender import _ffi_address

GCM = Policy.SRTP_PROFILE_AEAD_AES_128_GCM
CM_SHA1 = Policy.SRTP_PROFILE_AES128_CM_SHA1_80
KEY_BYTES = {GCM: 28, CM_SHA1: 30}
PAYLOAD = os.urandom(80)  # a 20 ms Opus frame at ~32 kb/s

DRAIN = """
import json, os, selectors, socket, sys
if len(os.sched_getaffinity(0)) > 1:
    os.sched_setaffinity(0, {1})
sel = selectors.DefaultSelector()
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    socks.append(s)
print(json.dumps([s.getsockname()[1] for s in socks]), flush=True)
while True:
    for key, _ in sel.select():
        try:
            while True:
                key.fileobj.recv(2048)
        except BlockingIOError:
            pass
"""


def group(profile: int, destinations: list[tuple[int, int]]) -> Any:
    """A C group of one SRTP session per destination: (fd, port) pairs."""
    assert fanout._fanout is not None and fanout._PROTECT is not None
    out = fanout._fanout.Group(fanout._PROTECT)
    for i, (fd, port) in enumerate(destinations):
        tx = Session(Policy(key=bytes(KEY_BYTES[profile]), ssrc_type=Policy.SSRC_ANY_OUTBOUND,
                            srtp_profile=profile))
        out.add(i, _ffi_address(tx._srtp[0]), fd, "127.0.0.1", port, i, 111, 0, 0, tx)
    return out


def per_packet_us(g: Any, ticks: int, count: int) -> float:
    spent = 0.0
    for tick in range(ticks):
        start = time.thread_time()
        g.send(PAYLOAD, tick * 960)
        spent += time.thread_time() - start
        time.sleep(0.02)  # a tick apart, as a room sends
    return spent / (ticks * count) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.send_floor", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listeners", type=int, default=300)
    parser.add_argument("--ticks", type=int, default=150)
    args = parser.parse_args(argv)
    if fanout._fanout is None:
        print("media._fanout is not built (pip install -e . with a C compiler)",
              file=sys.stderr)
        return 1
    drain = subprocess.Popen([sys.executable, "-c", DRAIN, str(args.listeners)],
                             stdout=subprocess.PIPE)
    try:
        assert drain.stdout is not None
        ports = json.loads(drain.stdout.readline())
        if len(os.sched_getaffinity(0)) > 1:
            os.sched_setaffinity(0, {0})
        senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in ports]
        for s in senders:
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
        n = args.listeners
        sending = per_packet_us(group(GCM, [(s.fileno(), p) for s, p in
                                            zip(senders, ports, strict=True)]), args.ticks, n)
        shared = per_packet_us(group(GCM, [(senders[0].fileno(), p) for p in ports]),
                               args.ticks, n)
        gcm = per_packet_us(group(GCM, [(-1, 9)] * n), args.ticks, n)
        sha1 = per_packet_us(group(CM_SHA1, [(-1, 9)] * n), args.ticks, n)
        print(f"{n} listeners, {len(PAYLOAD)}-byte payload, per packet:")
        print(f"  header + SRTP (AES-128-GCM) + sendto to a loopback reader: {sending:.2f} µs")
        print(f"  the same from one socket, sendmmsg 64 at a time: {shared:.2f} µs")
        print(f"  header + SRTP (AES-128-GCM) alone: {gcm:.2f} µs")
        print(f"  header + SRTP (AES-128-CM + HMAC-SHA1-80) alone: {sha1:.2f} µs")
        print(f"  the kernel's part (send, loopback delivery, wake-up): {sending - gcm:.2f} µs")
        for s in senders:
            s.close()
    finally:
        drain.kill()
        drain.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
