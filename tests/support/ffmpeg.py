"""Debian's ffmpeg, which pydub runs to read MP3 and Ogg. Missing ffmpeg fails the test under
CI=true (scripts/system-deps.sh test installs it), skips it elsewhere, with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def require_ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None or shutil.which("ffprobe") is None:
        reason = "no ffmpeg/ffprobe on PATH (install the system package: " \
                 "scripts/system-deps.sh test)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def convert(wav: Path, out: Path, *codec: str) -> Path:
    """`wav` encoded into `out` by ffmpeg (e.g. `-c:a libmp3lame`)."""
    subprocess.run([require_ffmpeg(), "-v", "error", "-y", "-i", str(wav), *codec, str(out)],
                   check=True, timeout=60)
    return out
