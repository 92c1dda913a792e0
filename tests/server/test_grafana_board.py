"""docs/grafana.json is drawn from the metrics a node really serves: every expression of every
panel names only metrics that a scrape of a running server (with media) lists, by their
sample names (a counter's `_total`, a histogram's `_bucket`/`_sum`/`_count`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import http_get, running_server

BOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana.json"
METRIC = re.compile(r"\bvoiceroom_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}


def expressions(board: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            found.extend(str(t["expr"]) for t in panel.get("targets", []))
            walk(panel.get("panels", []))

    walk(board["panels"])
    for variable in board.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict):
            found.append(str(query.get("query", "")))
    return found


async def served_sample_names() -> set[str]:
    async with running_server(media=True) as srv:
        client = await srv.client("a")  # so that the labelled families have samples too
        await client.request("dance")
        _, _, body = await http_get(srv.host, srv.port, "/metrics")
        await client.close()
    names: set[str] = set()
    for family in text_string_to_metric_families(body.decode()):
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def test_the_board_is_valid_json_with_panels_and_queries() -> None:
    board = json.loads(BOARD.read_text())
    assert board["uid"] and board["title"]
    exprs = expressions(board)
    assert len(exprs) >= 15
    for expr in exprs:
        assert expr.count("(") == expr.count(")"), expr
        assert expr.count("{") == expr.count("}"), expr
        assert METRIC.search(expr), f"no voiceroom metric in {expr!r}"


async def test_every_expression_names_a_metric_the_server_serves() -> None:
    served = await served_sample_names()
    board = json.loads(BOARD.read_text())
    used = {name for expr in expressions(board) for name in METRIC.findall(expr)}
    unknown = sorted(used - served)
    assert not unknown, f"the board names metrics no node serves: {unknown}"
    # The board covers what issue 13 asks for: latency by type, tick and send-loop time.
    for wanted in ("voiceroom_request_seconds_bucket",
                   "voiceroom_media_tick_duration_seconds_bucket",
                   "voiceroom_media_send_loop_seconds_bucket", "voiceroom_requests_total",
                   "voiceroom_errors_total", "voiceroom_connections"):
        assert wanted in used
