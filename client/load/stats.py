"""The load test's figures: latency per request type, errors split into those the churn
makes normal and unexpected ones, events received; and the report printed at the end."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from client.connection import ClientError, Event

# What the churn itself causes: two claims for the last seat, a host answering a request
# its author just cancelled, a user freed from a seat by the host while leaving it, ...
EXPECTED_ERRORS = frozenset({
    "seats_full", "seat_taken", "seat_locked", "no_such_request", "already_requested",
    "already_seated", "not_seated", "wrong_mode",
})


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    errors_by_type: Counter[tuple[str, str]] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    connect_failures: int = 0
    reconnects: int = 0
    recording: bool = True  # off for the tear-down, whose refusals mean nothing

    def on_reply(self, request_type: str, seconds: float, code: str | None) -> None:
        if not self.recording:
            return
        self.latencies[request_type].append(seconds)
        if code is not None:
            self.errors[code] += 1
            self.errors_by_type[(request_type, code)] += 1

    def on_event(self, event: Event) -> None:
        if self.recording:
            self.events[str(event.get("type"))] += 1

    def note_client_error(self, exc: ClientError) -> None:
        # Server refusals are counted in on_reply; these are the client-side failures.
        if self.recording and exc.code in ("timeout", "connection_lost", "closed"):
            self.errors[exc.code] += 1

    @property
    def unexpected(self) -> dict[str, int]:
        return {code: n for code, n in self.errors.items() if code not in EXPECTED_ERRORS}

    def report(self, duration: float, clients: int, rooms: int) -> dict[str, Any]:
        per_type = {}
        for kind, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            per_type[kind] = {
                "count": len(ordered),
                "p50_ms": round(percentile(ordered, 50) * 1000, 2),
                "p99_ms": round(percentile(ordered, 99) * 1000, 2),
            }
        return {
            "clients": clients,
            "rooms": rooms,
            "duration_s": round(duration, 2),
            "requests": sum(len(v) for v in self.latencies.values()),
            "latency": per_type,
            "errors": dict(sorted(self.errors.items())),
            "errors_by_type": {f"{t}:{c}": n for (t, c), n in sorted(self.errors_by_type.items())},
            "unexpected_errors": dict(sorted(self.unexpected.items())),
            "events": dict(sorted(self.events.items())),
            "reconnects": self.reconnects,
        }


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]


def format_report(report: dict[str, Any]) -> list[str]:
    lines = [
        f"load: {report['clients']} clients, {report['rooms']} rooms,"
        f" {report['duration_s']} s, {report['requests']} requests,"
        f" {sum(report['events'].values())} events received, {report['reconnects']} reconnects",
        f"{'request':<20} {'count':>7} {'p50 ms':>9} {'p99 ms':>9}",
    ]
    for kind, row in report["latency"].items():
        lines.append(f"{kind:<20} {row['count']:>7} {row['p50_ms']:>9.2f} {row['p99_ms']:>9.2f}")
    if report["errors"]:
        lines.append("errors:")
        for code, count in report["errors"].items():
            tag = "expected under churn" if code in EXPECTED_ERRORS else "UNEXPECTED"
            lines.append(f"  {code:<20} {count:>7}  {tag}")
    else:
        lines.append("errors: none")
    unexpected = sum(report["unexpected_errors"].values())
    lines.append(f"unexpected errors: {unexpected}")
    return lines
