"""A room's running recording, as room state (PURE): what every node and every joiner sees.

Frozen: a room's copies share it; starting or stopping replaces it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Recording:
    id: str
    started_at: float  # wall clock, seconds
    by: str  # who started it

    def wire(self) -> dict[str, Any]:
        """The room state's `recording` (docs/protocol.md "Recording")."""
        return {"id": self.id, "started_at": self.started_at, "by": self.by}

    def to_row(self) -> list[Any]:
        """Stored form: a row, like the room's seats (every node decodes the room's blob)."""
        return [self.id, self.started_at, self.by]

    @classmethod
    def from_row(cls, row: Sequence[Any] | None) -> Recording | None:
        if row is None:
            return None
        rid, started_at, by = row
        return cls(str(rid), float(started_at), str(by))
