"""GET /metrics in the Prometheus text format, read back with prometheus_client's own parser:
every family typed and described, no metric both with and without labels, request latency by
type, and the media's per-tick histograms from a real room with a real aiortc speaker."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support.rtc import close_all, connect, tone_peer, wait_for
from tests.support.server import RunningServer, http_get, running_server
from tests.support.server import close_all as close_clients


async def scrape(srv: RunningServer) -> dict[str, tuple[str, str, list[Sample]]]:
    """Family name -> (type, help, samples)."""
    status, headers, body = await http_get(srv.host, srv.port, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=")
    families = list(text_string_to_metric_families(body.decode()))
    names = [f.name for f in families]
    # Two families of one name (a counter `x_total` beside a histogram `x`) are one to a reader.
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    return {f.name: (f.type, f.documentation, list(f.samples)) for f in families}


def value(families: dict[str, tuple[str, str, list[Sample]]], sample: str,
          **labels: str) -> float:
    for _, _, samples in families.values():
        for s in samples:
            if s.name == sample and s.labels == labels:
                return float(s.value)
    raise AssertionError(f"no sample {sample}{labels or ''}")


def check_well_formed(families: dict[str, tuple[str, str, list[Sample]]]) -> None:
    for name, (kind, help_text, samples) in families.items():
        assert name.startswith("voiceroom_"), name
        assert kind in ("counter", "gauge", "histogram"), (name, kind)
        assert help_text, f"{name} has no HELP"
        # A sum over a metric must count each thing once: labels on every sample or on none.
        by_sample: dict[str, set[bool]] = {}
        for s in samples:
            labels = {k for k in s.labels if k != "le"}
            by_sample.setdefault(s.name, set()).add(bool(labels))
        for sample_name, kinds in by_sample.items():
            assert len(kinds) == 1, f"{sample_name} appears with and without labels"
        if kind == "histogram":
            check_histogram(name, samples)


def check_histogram(name: str, samples: Iterable[Sample]) -> None:
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    counts: dict[tuple[tuple[str, str], ...], float] = {}
    for s in samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        if s.name.endswith("_bucket"):
            series.setdefault(key, []).append((float(s.labels["le"]), float(s.value)))
        elif s.name.endswith("_count"):
            counts[key] = float(s.value)
    for key, buckets in series.items():
        cumulative = [count for _, count in sorted(buckets)]
        assert cumulative == sorted(cumulative), f"{name}{key}: buckets not cumulative"
        assert sorted(buckets)[-1][0] == float("inf")
        assert cumulative[-1] == counts[key], f"{name}{key}: +Inf bucket != count"


async def test_metrics_parse_and_count_requests_errors_connections() -> None:
    async with running_server() as srv:
        a = await srv.client("a")
        b = await srv.client("b")
        room = (await a.call("create_room", title="m"))["room"]["id"]
        await b.call("join_room", room=room)
        await b.call("chat", room=room, text="hi")
        await a.event("chat_message")
        await b.request("leave_seat", room=room)
        await b.request("dance")
        families = await scrape(srv)
        check_well_formed(families)
        assert families["voiceroom_connections"][0] == "gauge"
        assert value(families, "voiceroom_connections") == 2
        assert value(families, "voiceroom_connections_accepted_total") == 2
        assert value(families, "voiceroom_rooms") == 1
        assert families["voiceroom_requests"][0] == "counter"
        assert value(families, "voiceroom_requests_total", type="chat") == 1
        assert value(families, "voiceroom_requests_total", type="hello") == 2
        assert value(families, "voiceroom_errors_total", code="not_seated") == 1
        assert value(families, "voiceroom_errors_total", code="unknown_type") == 1
        assert value(families, "voiceroom_events_delivered_total") >= 4
        # Latency by type: one observation per answered request, refusals included.
        assert families["voiceroom_request_seconds"][0] == "histogram"
        assert value(families, "voiceroom_request_seconds_count", type="chat") == 1
        assert value(families, "voiceroom_request_seconds_count", type="hello") == 2
        assert value(families, "voiceroom_request_seconds_count", type="leave_seat") == 1
        assert value(families, "voiceroom_request_seconds_sum", type="chat") > 0
        await close_clients([a, b])
        await wait_for(lambda: srv.gateway.metrics.connections_open == 0)
        assert value(await scrape(srv), "voiceroom_connections") == 0


async def test_media_tick_and_send_loop_histograms_never_go_down() -> None:
    async with running_server(media=True) as srv:
        host = await srv.client("host")
        listener = await srv.client("listener")
        room = (await host.call("create_room", title="tones"))["room"]["id"]
        await listener.call("join_room", room=room)

        async def offer_as(client, sdp: str) -> str:  # type: ignore[no-untyped-def]
            return str((await client.call("webrtc_offer", room=room, sdp=sdp))["sdp"])

        speaker = await connect(tone_peer(440.0), lambda sdp: offer_as(host, sdp))
        ear = await connect(tone_peer(None), lambda sdp: offer_as(listener, sdp))
        try:
            await wait_for(lambda: srv.media.stats()["media_ticks"] >= 25)
            families = await scrape(srv)
            check_well_formed(families)
            ticks = value(families, "voiceroom_media_ticks_total")
            assert families["voiceroom_media_ticks"][0] == "counter"
            assert families["voiceroom_media_rooms"][0] == "gauge"
            assert families["voiceroom_media_tick_duration_seconds"][0] == "histogram"
            assert families["voiceroom_media_send_loop_seconds"][0] == "histogram"
            assert value(families, "voiceroom_media_tick_duration_seconds_count") >= 25
            assert value(families, "voiceroom_media_send_loop_seconds_count") >= 1
            assert value(families, "voiceroom_media_peers") == 2
            assert families["voiceroom_media_peers"][0] == "gauge"
            print(f"tick p(<=1 ms): "
                  f"{value(families, 'voiceroom_media_tick_duration_seconds_bucket', le='0.001')}"
                  f" of {value(families, 'voiceroom_media_tick_duration_seconds_count')}")
        finally:
            await close_all([speaker, ear])
        # The room closes and its session stops: the node's counters keep what it counted.
        await host.call("close_room", room=room)
        await wait_for(lambda: not srv.media.rooms)
        after = await scrape(srv)
        check_well_formed(after)
        assert value(after, "voiceroom_media_ticks_total") >= ticks
        assert value(after, "voiceroom_media_tick_duration_seconds_count") >= 25
        assert value(after, "voiceroom_media_rooms") == 0
        await close_clients([host, listener])
