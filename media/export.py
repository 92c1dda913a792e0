"""`run_server.py export ID --format mp3|wav`: a recording's mix (or one speaker's stem) as a
file anyone can play, through pydub (which runs FFmpeg to decode the Ogg Opus and to encode
MP3). The recording's own files stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from media.recording_files import safe_name

FORMATS = {"mp3": {"bitrate": "128k"}, "wav": {}}


class ExportError(Exception):
    """A recording that cannot be exported, said in a line for the user."""


@dataclass(frozen=True)
class Exported:
    path: Path
    seconds: float


def source_name(recording_id: str, stem: str | None = None) -> str:
    name = f"{recording_id}.ogg" if stem is None else f"{recording_id}.{stem}.ogg"
    if "." in recording_id or not safe_name(name):
        raise ExportError(f"{recording_id!r} is not a recording id")
    return name


def export(folder: Path, recording_id: str, fmt: str, *, stem: str | None = None,
           out: Path | None = None) -> Exported:
    if fmt not in FORMATS:
        raise ExportError(f"format must be one of {', '.join(FORMATS)}")
    source = folder / source_name(recording_id, stem)
    if not source.is_file():
        raise ExportError(f"no {source.name} in {folder}")
    from pydub import AudioSegment  # imported when asked for: the server never needs it
    from pydub.exceptions import CouldntDecodeError

    try:
        audio = AudioSegment.from_file(str(source), format="ogg", codec="libopus")
    except (CouldntDecodeError, OSError) as exc:
        raise ExportError(f"cannot read {source.name}: {exc}") from None
    target = out if out is not None else source.with_suffix(f".{fmt}")
    try:
        audio.export(str(target), format=fmt, **FORMATS[fmt]).close()
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None
    return Exported(target, len(audio) / 1000)
