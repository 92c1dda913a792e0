"""The server's sounds and music: files read with pydub, as room PCM (48 kHz mono int16).

- Sounds (`--sounds DIR`, else the built-in set of audio.sounds) are short: decoded once at
  start and kept in memory, so a `play_sound` starts on the next tick.
- Music (`--music DIR`) may be long: probed at start (pydub's ffprobe: an audio stream and
  its length), decoded when played (off the event loop, see media.props) and kept for the
  few tracks played last.

A file's id is its name without the extension (it must fit the protocol's id rule); its title
is that name with `_` and `-` read as spaces. WAV, MP3 and Ogg files are read; any other file,
or one that cannot be read, is skipped at start with a warning naming it.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from audio.constants import SAMPLE_RATE
from audio.sounds import Pcm, Sound, builtin_sounds
from protocol.validate import CATALOGUE_ID_RE

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".mp3", ".ogg", ".oga")
# A sound is a short effect: anything longer is music, and a sound is held in memory.
SOUND_MAX_SECONDS = 30.0
# A track longer than this is not taken: a played track is held in memory (int16 mono:
# 5.8 MB a minute).
TRACK_MAX_SECONDS = 20 * 60.0
# Decoded tracks kept for the next play (the rooms often play the same few).
TRACKS_KEPT = 4


class CatalogueError(Exception):
    """A file that cannot be read as audio (the message names it and says why)."""


@dataclass(frozen=True, slots=True)
class Track:
    id: str
    title: str
    seconds: float
    path: Path

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "seconds": round(self.seconds, 3)}


def title_of(stem: str) -> str:
    words = stem.replace("_", " ").replace("-", " ").split()
    text = " ".join(words)
    return text[:1].upper() + text[1:] if text else stem


def decode(path: Path) -> Pcm:
    """The whole file as 48 kHz mono int16, read with pydub (ffmpeg for MP3 and Ogg)."""
    if not path.is_file():
        raise CatalogueError(f"{path}: no such file")
    with warnings.catch_warnings():
        # pydub warns at import about audioop (deprecated in 3.11) and a missing ffmpeg.
        warnings.simplefilter("ignore")
        from pydub import AudioSegment

    kind = path.suffix.lower().lstrip(".").replace("oga", "ogg")
    try:
        # Our own handle: pydub leaves the one it opens from a name for the collector.
        with open(path, "rb") as file:
            segment = AudioSegment.from_file(file, format=kind)
        segment = segment.set_frame_rate(SAMPLE_RATE).set_channels(1).set_sample_width(2)
    except Exception as exc:  # CouldntDecodeError, OSError, and what pydub's parsers meet
        raise CatalogueError(f"{path.name}: cannot decode it ({_first_line(exc)})") from None
    pcm = np.frombuffer(segment.raw_data, dtype=np.int16).copy()
    if len(pcm) == 0:
        raise CatalogueError(f"{path.name}: no audio in it")
    pcm.setflags(write=False)
    return pcm


def probe_seconds(path: Path) -> float:
    """The length of the file's first audio stream (pydub's ffprobe), without decoding it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pydub.utils import mediainfo_json

    try:
        info = mediainfo_json(str(path))
    except Exception as exc:  # no ffprobe, output that is not JSON, an odd file
        raise CatalogueError(f"{path.name}: cannot probe it ({_first_line(exc)})") from None
    streams = [s for s in info.get("streams", ()) if s.get("codec_type") == "audio"]
    if not streams:
        raise CatalogueError(f"{path.name}: no audio stream in it")
    for source in (streams[0], info.get("format", {})):
        try:
            seconds = float(source.get("duration", "nan"))
        except (TypeError, ValueError):
            continue
        if seconds > 0:
            return seconds
    raise CatalogueError(f"{path.name}: its length cannot be read")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def _audio_files(folder: Path) -> list[tuple[str, Path]]:
    """(id, path) of each audio file in the folder, by name; others skipped with a warning."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        if path.suffix.lower() not in AUDIO_SUFFIXES:
            log.warning("skipping %s: not a WAV, MP3 or Ogg file", path)
            continue
        if not CATALOGUE_ID_RE.fullmatch(path.stem):
            log.warning("skipping %s: its name (without the extension) must be 1 to 64 of "
                        "A-Z a-z 0-9 _ . -", path)
            continue
        if path.stem in found:
            log.warning("skipping %s: %s has the same id", path, found[path.stem].name)
            continue
        found[path.stem] = path
    return list(found.items())


def load_sounds(folder: Path) -> dict[str, Sound]:
    sounds: dict[str, Sound] = {}
    for sound_id, path in _audio_files(folder):
        try:
            pcm = decode(path)
        except CatalogueError as exc:
            log.warning("skipping sound %s", exc)
            continue
        if len(pcm) > SOUND_MAX_SECONDS * SAMPLE_RATE:
            log.warning("skipping sound %s: longer than %g s (music goes in --music)", path,
                        SOUND_MAX_SECONDS)
            continue
        sounds[sound_id] = Sound(sound_id, title_of(sound_id), pcm)
    return sounds


def load_tracks(folder: Path) -> dict[str, Track]:
    tracks: dict[str, Track] = {}
    for track_id, path in _audio_files(folder):
        try:
            seconds = probe_seconds(path)
        except CatalogueError as exc:
            log.warning("skipping track %s", exc)
            continue
        if seconds > TRACK_MAX_SECONDS:
            log.warning("skipping track %s: longer than %g minutes", path,
                        TRACK_MAX_SECONDS / 60)
            continue
        tracks[track_id] = Track(track_id, title_of(track_id), seconds, path)
    return tracks


class Catalogue:
    """Sounds by id (in memory) and tracks by id (on disk); services.props.Catalogue."""

    def __init__(self, sounds: Mapping[str, Sound], tracks: Mapping[str, Track]) -> None:
        self.sounds = MappingProxyType(dict(sounds))
        self.tracks = MappingProxyType(dict(tracks))
        self._decoded: OrderedDict[tuple[str, float], Pcm] = OrderedDict()
        self._lock = threading.Lock()  # decode_track runs in worker threads

    @classmethod
    def load(cls, sounds_dir: Path | None = None, music_dir: Path | None = None) -> Catalogue:
        """Read the folders (the built-in sounds when `sounds_dir` is None); unreadable files
        are skipped with a warning."""
        sounds: Mapping[str, Sound] = (builtin_sounds() if sounds_dir is None
                                       else load_sounds(sounds_dir))
        tracks = {} if music_dir is None else load_tracks(music_dir)
        if sounds_dir is not None:
            log.info("%d sounds from %s", len(sounds), sounds_dir)
        if music_dir is not None:
            log.info("%d music tracks from %s", len(tracks), music_dir)
        return cls(sounds, tracks)

    def list_sounds(self) -> list[dict[str, Any]]:
        return [sound.to_wire() for sound in self.sounds.values()]

    def list_tracks(self) -> list[dict[str, Any]]:
        return [track.to_wire() for track in self.tracks.values()]

    def has_sound(self, sound_id: str) -> bool:
        return sound_id in self.sounds

    def has_track(self, track_id: str) -> bool:
        return track_id in self.tracks

    def track_present(self, track_id: str) -> bool:
        """Whether the track's file is still there (a removed file stops its music)."""
        track = self.tracks.get(track_id)
        return track is not None and track.path.is_file()

    def decode_track(self, track_id: str) -> Pcm:
        """The track's samples (blocking: call it from a worker thread). Raises
        CatalogueError when it is unknown or its file cannot be read any more."""
        track = self.tracks.get(track_id)
        if track is None:
            raise CatalogueError(f"no track {track_id!r}")
        try:
            stamp = os.stat(track.path).st_mtime
        except OSError:
            raise CatalogueError(f"{track.path.name}: no such file") from None
        key = (track_id, stamp)  # a file replaced in place is read again
        with self._lock:
            pcm = self._decoded.get(key)
            if pcm is not None:
                self._decoded.move_to_end(key)
                return pcm
        pcm = decode(track.path)
        with self._lock:
            self._decoded[key] = pcm
            while len(self._decoded) > TRACKS_KEPT:
                self._decoded.popitem(last=False)
        return pcm
