"""What a node tells Prometheus at GET /metrics, through prometheus_client.

The gateway's counters stay plain attributes of `Metrics` (an increment on every frame must
cost nothing); a collector turns them, the room count and the media engine's figures into
metric families at scrape time. Request latency is a prometheus_client `Histogram` by request
type; the media's per-tick histograms are kept by the media sessions themselves (media/stats.py,
no library there) and exposed here. Every server has a registry of its own, so several servers
in one process (the tests) never share a metric.

Names (docs/running.md lists them, docs/grafana.json draws them): a metric has labels or has
none, never both, so a sum over it counts each thing once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# A `_created` timestamp per series is one more sample per request type that no board reads.
disable_created_metrics()

PREFIX = "voiceroom_"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Seconds from a request's frame to its reply: most are well under a millisecond in memory, a
# few milliseconds on Redis; a webrtc_offer gathers ICE for up to a few seconds.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0)
# The media engine's figures that go up and down (gauges); every other one only grows (a
# counter, exposed with `_total`). A new figure of the engine's that can go down goes here.
MEDIA_GAUGES = frozenset({
    "media_rooms", "media_peers", "media_calls", "media_call_peers", "media_max_tick_seconds",
    "media_edge_rooms", "media_edge_peers",
})
# The engine's histograms, by the name /metrics gives them.
MEDIA_HISTOGRAMS = {
    "media_tick_seconds": "media_tick_duration_seconds",
    "media_send_seconds": "media_send_loop_seconds",
}
MEDIA_HELP = {
    "media_rooms": "Rooms whose media this node mixes.",
    "media_peers": "WebRTC peer connections of rooms this node serves.",
    "media_calls": "Calls whose media this node relays.",
    "media_call_peers": "WebRTC peer connections of calls this node serves.",
    "media_max_tick_seconds": "Longest mixing tick of any room this node mixes now.",
    "media_edge_rooms": "Rooms another node mixes whose listeners this node serves (edge).",
    "media_edge_peers": "WebRTC listeners of rooms another node mixes, served here (edge).",
    "media_edge_packets_sent": "Relayed mix packets sent to this node's edge listeners.",
    "media_edge_send_cpu_seconds": "CPU time sending relayed packets to edge listeners.",
    "media_relay_sent": "Datagrams of rooms' mixes this node (the owner) sent to edge nodes.",
    "media_relay_rejected": "Relay datagrams this node dropped: unsigned, forged, replayed, "
                            "or of a room it did not ask for.",
    "media_tick_duration_seconds": "Wall time of each 20 ms mixing tick, per room.",
    "media_send_loop_seconds": "CPU time of each tick's send loop (one packet to every "
                               "listener).",
}


@dataclass
class Metrics:
    """The gateway's counters (a plain increment each) and its request-latency histogram."""

    connections_open: int = 0
    connections_total: int = 0
    connections_refused: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    events_delivered: int = 0
    slow_clients_closed: int = 0
    reports: int = 0  # `report`s accepted through this node (kept in the store for moderators)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    request_seconds: Histogram = field(init=False)
    _by_type: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        self.request_seconds = Histogram(
            "voiceroom_request_seconds", "Seconds from a request's frame to its reply, by type.",
            ["type"], buckets=REQUEST_BUCKETS, registry=self.registry)

    def observe_request(self, kind: str, seconds: float) -> None:
        child = self._by_type.get(kind)
        if child is None:
            # Kinds are the protocol's verbs (validated before they get here): a bounded set.
            child = self._by_type[kind] = self.request_seconds.labels(kind)
        child.observe(seconds)


def media_metrics(engine: object | None) -> dict[str, float]:
    """The engine's figures (`stats()`), numbers only; {} without an engine or on a fault."""
    probe: Callable[[], Mapping[str, float]] | None = getattr(engine, "stats", None)
    if not callable(probe):
        return {}
    try:
        values = probe()
    except Exception:
        log.exception("media stats failed")
        return {}
    return {
        (key if key.startswith("media_") else f"media_{key}"): float(value)
        for key, value in values.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def media_histograms(engine: object | None) -> dict[str, Any]:
    """The engine's histograms (`histograms()`: name -> media.stats.Histogram)."""
    probe: Callable[[], Mapping[str, Any]] | None = getattr(engine, "histograms", None)
    if not callable(probe):
        return {}
    try:
        return dict(probe())
    except Exception:
        log.exception("media histograms failed")
        return {}


class NodeCollector(Collector):
    """The gateway's counters and gauges, the rooms, the media's figures, at scrape time."""

    def __init__(self, metrics: Metrics, rooms: Callable[[], int],
                 media: Callable[[], object | None]) -> None:
        self.metrics = metrics
        self.rooms = rooms
        self.media = media

    def collect(self) -> Iterable[Metric]:
        m = self.metrics
        yield _gauge("connections", "Open client websockets.", m.connections_open)
        # Not `connections_total`: beside the gauge `connections` it would read as its counter.
        yield _counter("connections_accepted", "Client websockets accepted.",
                       m.connections_total)
        yield _counter("connections_refused", "Websocket upgrades refused (over "
                       "--max-connections, or stopping).", m.connections_refused)
        yield _gauge("rooms", "Rooms with members connected through this node.", self.rooms())
        yield _labelled("requests", "Requests received, by type.", "type", m.requests)
        yield _labelled("errors", "Error replies sent, by code.", "code", m.errors)
        yield _counter("events_delivered", "Event frames written to client sockets.",
                       m.events_delivered)
        yield _counter("slow_clients_closed", "Clients closed for not reading their events.",
                       m.slow_clients_closed)
        yield _counter("reports", "Reports of users accepted (kept for moderators).", m.reports)
        engine = self.media()
        for key, value in sorted(media_metrics(engine).items()):
            help_text = MEDIA_HELP.get(key, f"Media engine figure {key}.")
            if key in MEDIA_GAUGES:
                yield _gauge(key, help_text, value)
            else:
                yield _counter(key.removesuffix("_total"), help_text, value)
        for key, hist in sorted(media_histograms(engine).items()):
            key = MEDIA_HISTOGRAMS.get(key, key)
            buckets: list[tuple[str, float]] = []
            running = 0
            for bound, count in zip(hist.bounds, hist.counts, strict=False):
                running += count
                buckets.append((repr(float(bound)), running))
            buckets.append(("+Inf", running + hist.counts[-1]))
            yield HistogramMetricFamily(PREFIX + key, MEDIA_HELP.get(key, key), buckets=buckets,
                                        sum_value=hist.total)


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, help_text, value=value)


def _counter(name: str, help_text: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(PREFIX + name, help_text, value=value)


def _labelled(name: str, help_text: str, label: str,
              counts: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(PREFIX + name, help_text, labels=[label])
    for key, count in sorted(counts.items()):
        family.add_metric([key], count)
    return family


class Exposition:
    """One node's /metrics: its registry, with the node collector in it."""

    def __init__(self, metrics: Metrics, rooms: Callable[[], int],
                 media: Callable[[], object | None]) -> None:
        self.registry = metrics.registry
        self.registry.register(NodeCollector(metrics, rooms, media))

    def render(self) -> bytes:
        return generate_latest(self.registry)
