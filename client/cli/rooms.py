"""`python -m client rooms`: list the open rooms."""

from __future__ import annotations

import argparse
import json
from typing import Any

from client.cli.options import open_client
from client.cli.output import say, who


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=50, help="rooms per page (1 to 100)")
    parser.add_argument("--all", action="store_true", help="follow the cursor to the end")
    parser.add_argument("--json-output", action="store_true", help="print one JSON list")


async def run(args: argparse.Namespace) -> int:
    async with open_client(args, default_name="room-lister") as client:
        rooms: list[dict[str, Any]] = []
        cursor = None
        while True:
            reply = await client.list_rooms(limit=args.limit, cursor=cursor)
            rooms += reply.get("rooms") or []
            cursor = reply.get("cursor")
            if not args.all or not cursor:
                break
    if args.json_output:
        say(json.dumps(rooms, ensure_ascii=False))
        return 0
    if not rooms:
        say("no rooms")
    for room in rooms:
        host = room.get("host")
        host_text = who(host.get("user"), host.get("name")) if isinstance(host, dict) else host
        say(f"{room.get('id')}\t{room.get('title')}\thost {host_text}\t{room.get('mode')}"
            f"\taudience {room.get('audience_count')}\tseated {room.get('seated')}")
    return 0
