"""Room ids are safe to type and to pass on a command line."""

from __future__ import annotations

import re

from protocol.validate import parse_request
from services.rooms import ROOM_ID_LENGTH, new_room_id


def test_room_ids_are_letters_and_digits_of_fixed_length() -> None:
    ids = {new_room_id() for _ in range(2000)}
    assert len(ids) == 2000
    for room_id in ids:
        assert re.fullmatch(rf"[A-Za-z0-9]{{{ROOM_ID_LENGTH}}}", room_id)
        # and the wire accepts every one of them as a `room` field
        _, command = parse_request({"id": 1, "type": "join_room", "room": room_id})
        assert command.room == room_id  # type: ignore[union-attr]
