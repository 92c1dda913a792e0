"""Counters the gateway keeps, rendered as plain text for GET /metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass
class Metrics:
    connections_open: int = 0
    connections_total: int = 0
    connections_refused: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    events_delivered: int = 0
    slow_clients_closed: int = 0

    def render(
        self,
        *,
        rooms: int,
        extra: Mapping[str, float] | None = None,
    ) -> str:
        lines = [
            f"voiceroom_connections {self.connections_open}",
            f"voiceroom_connections_total {self.connections_total}",
            f"voiceroom_connections_refused_total {self.connections_refused}",
            f"voiceroom_rooms {rooms}",
            f"voiceroom_requests_total {sum(self.requests.values())}",
        ]
        lines += [
            f'voiceroom_requests_total{{type="{kind}"}} {count}'
            for kind, count in sorted(self.requests.items())
        ]
        lines.append(f"voiceroom_errors_total {sum(self.errors.values())}")
        lines += [
            f'voiceroom_errors_total{{code="{code}"}} {count}'
            for code, count in sorted(self.errors.items())
        ]
        lines.append(f"voiceroom_events_delivered_total {self.events_delivered}")
        lines.append(f"voiceroom_slow_clients_closed_total {self.slow_clients_closed}")
        for name, value in sorted((extra or {}).items()):
            lines.append(f"voiceroom_{name} {_number(value)}")
        return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6g}"


def media_metrics(engine: object | None) -> dict[str, float]:
    """What the media engine tells about itself, if it tells anything (`metrics()` or `stats()`)."""
    if engine is None:
        return {}
    for name in ("metrics", "stats"):
        probe: Callable[[], Mapping[str, float]] | None = getattr(engine, name, None)
        if callable(probe):
            try:
                values = probe()
            except Exception:
                return {}
            return {
                (key if key.startswith("media_") else f"media_{key}"): float(value)
                for key, value in values.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            }
    return {}
