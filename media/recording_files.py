"""Where a recording's bytes go: files in one folder, appended and flushed as they come, on a
thread of their own (disk I/O never runs in the event loop).

Each `append` writes a batch (file name -> bytes) and flushes it to the operating system, so a
process killed at any moment leaves every file whole up to the last batch. A write that fails
(a full disk: ENOSPC) truncates that file back to its size before the batch, so no file ends
in half a page, and raises; what was written before stays. `replace` writes a whole file
atomically (a temporary file renamed over it): the timeline is always one valid JSON.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO

NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def safe_name(name: str) -> bool:
    """A plain file name of ours: no separator, no leading dot, nothing to escape with."""
    return 0 < len(name) <= 200 and not name.startswith(".") and set(name) <= NAME_CHARS


class RecordingFiles:
    """The open files of one recording. Not thread-safe: one writer thread uses it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._files: dict[str, BinaryIO] = {}
        self.sizes: dict[str, int] = {}
        self.closed = False

    def path(self, name: str) -> Path:
        if not safe_name(name):
            raise ValueError(f"not a recording file name: {name!r}")
        return self.folder / name

    def append(self, batch: dict[str, bytes]) -> None:
        """Write and flush each file's bytes; on the first failure, undo that file's part
        and raise (the files before it in the batch keep theirs)."""
        for name, data in batch.items():
            if not data:
                continue
            file = self._files.get(name)
            if file is None:
                file = self._files[name] = open(self.path(name), "ab")  # noqa: SIM115
                self.sizes[name] = file.tell()
            try:
                file.write(data)
                file.flush()
            except OSError:
                self._undo(name)
                raise
            self.sizes[name] += len(data)

    def replace(self, name: str, data: bytes) -> None:
        target = self.path(name)
        temporary = target.with_name(f".{name}.tmp")
        try:
            with open(temporary, "wb") as file:
                file.write(data)
                file.flush()
            os.replace(temporary, target)
        except OSError:
            temporary.unlink(missing_ok=True)
            raise

    def close(self) -> None:
        for name in list(self._files):
            self._close(name)
        self.closed = True

    def _undo(self, name: str) -> None:
        """Back to the size before the failed write (truncating needs no space); the file's
        buffer, which could not be written either, is dropped with it."""
        self._close(name)
        with contextlib.suppress(OSError):
            os.truncate(self.path(name), self.sizes[name])

    def _close(self, name: str) -> None:
        file = self._files.pop(name)
        try:
            file.close()
        except OSError:
            with contextlib.suppress(OSError):
                os.truncate(self.path(name), self.sizes[name])
