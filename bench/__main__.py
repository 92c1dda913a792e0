"""`python -m bench`: every benchmark once, in turn, with the arguments docs/benchmarks.md uses.

`python -m bench NAME ...` runs only those. Each bench is its own process (they pin CPUs,
start servers and peers of their own), and prints its own figures.
"""

from __future__ import annotations

import subprocess
import sys

BENCHES: dict[str, list[str]] = {
    "mixer_tick": [],
    "signaling": [],
    "redis_seats": [],
    "room_changes": [],
    "fanout": ["--pin", "--listeners", "0,50,150,300", "--seconds", "6", "--modes", "direct"],
    "rooms_per_core": ["--pin", "--step", "2", "--max-rooms", "10", "--seconds", "8"],
    "latency": ["--seconds", "10"],
    "calls_setup": [],
    "match": [],
    "audience": ["--listeners", "100", "--http", "1000", "--seconds", "8"],
    "send_floor": [],
    "props_session": ["--speakers", "4", "--seconds", "10"],
    "follow_pages": [],
    "http_listeners": ["--pin", "--listeners", "0,1000", "--batches", "1,5", "--seconds", "8"],
}


def main(argv: list[str]) -> int:
    unknown = [name for name in argv if name not in BENCHES]
    if unknown:
        print(f"unknown bench: {', '.join(unknown)} (known: {', '.join(BENCHES)})",
              file=sys.stderr)
        return 2
    failed = []
    for name in argv or list(BENCHES):
        command = [sys.executable, "-m", f"bench.{name}", *BENCHES[name]]
        print(f"\n=== {' '.join(['python', *command[1:]])}", flush=True)
        if subprocess.call(command) != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
