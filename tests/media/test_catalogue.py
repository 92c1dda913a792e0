"""media.catalogue: sounds and music from folders of WAV, MP3 and Ogg files read with pydub,
as 48 kHz mono; what cannot be read is skipped at start with a warning naming it; the
--sounds and --music settings."""

from __future__ import annotations

import logging
import wave
from pathlib import Path

import numpy as np
import pytest

from audio.constants import SAMPLE_RATE
from audio.sources import tone_levels, write_wav
from media.catalogue import SOUND_MAX_SECONDS, Catalogue, CatalogueError, decode
from server.settings import parse_settings
from tests.support.ffmpeg import convert


def stereo_wav(path: Path, freq: float, seconds: float, rate: int) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    left = (8000 * np.sin(2 * np.pi * freq * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.column_stack([left, left]).tobytes())
    return path


def strongest(pcm: np.ndarray, freqs: list[float]) -> float:
    levels = tone_levels(pcm, freqs)
    return max(levels, key=lambda f: levels[f])


def test_wav_mp3_and_ogg_are_read_as_48_khz_mono(tmp_path: Path) -> None:
    sounds = tmp_path / "sounds"
    sounds.mkdir()
    source = stereo_wav(tmp_path / "source.wav", 523.0, 0.5, 22050)
    stereo_wav(sounds / "low_rate.wav", 440.0, 0.5, 22050)
    convert(source, sounds / "chime.mp3", "-c:a", "libmp3lame")
    convert(source, sounds / "bell.ogg", "-c:a", "libvorbis")
    catalogue = Catalogue.load(sounds, None)
    assert [s["id"] for s in catalogue.list_sounds()] == ["bell", "chime", "low_rate"]
    for sound in catalogue.sounds.values():
        assert sound.samples.dtype == np.int16 and sound.samples.ndim == 1
        # MP3 pads its start and end a little; resampling may lose a few samples.
        assert 0.47 <= sound.seconds <= 0.56, (sound.id, sound.seconds)
        expected = 440.0 if sound.id == "low_rate" else 523.0
        assert strongest(sound.samples, [440.0, 523.0, 220.0, 1046.0]) == expected
        assert not sound.samples.flags.writeable
    assert catalogue.sounds["low_rate"].title == "Low rate"


def test_unreadable_files_are_skipped_with_a_warning_naming_them(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "sounds"
    folder.mkdir()
    write_wav(folder / "good.wav", np.full(4800, 1000, np.int16))
    (folder / "broken.mp3").write_bytes(b"ID3 not really an mp3")
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.txt").write_text("hello")
    write_wav(folder / "bad name!.wav", np.full(4800, 1000, np.int16))
    write_wav(folder / "too_long.wav",
              np.zeros(int((SOUND_MAX_SECONDS + 1) * SAMPLE_RATE), np.int16))
    (folder / ".hidden.wav").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="media.catalogue"):
        catalogue = Catalogue.load(folder, None)
    assert list(catalogue.sounds) == ["good"]
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for name in ("broken.mp3", "empty.wav", "notes.txt", "bad name!.wav", "too_long.wav"):
        assert name in warned, (name, warned)
    assert ".hidden" not in warned


def test_music_is_probed_at_start_and_decoded_when_played(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    music = tmp_path / "music"
    music.mkdir()
    stereo_wav(music / "song.wav", 330.0, 1.5, 44100)
    convert(music / "song.wav", music / "other.mp3", "-c:a", "libmp3lame")
    (music / "junk.ogg").write_bytes(b"OggS but nothing more")
    with caplog.at_level(logging.WARNING, logger="media.catalogue"):
        catalogue = Catalogue.load(None, music)
    assert "junk.ogg" in caplog.text
    assert [t["id"] for t in catalogue.list_tracks()] == ["other", "song"]
    assert catalogue.tracks["song"].seconds == pytest.approx(1.5, abs=0.01)
    pcm = catalogue.decode_track("song")
    assert len(pcm) == pytest.approx(1.5 * SAMPLE_RATE, abs=2)
    assert strongest(pcm, [330.0, 440.0, 660.0]) == 330.0
    assert catalogue.decode_track("song") is pcm  # kept for the next play
    assert catalogue.has_track("song") and catalogue.track_present("song")
    (music / "song.wav").unlink()
    assert not catalogue.track_present("song")
    with pytest.raises(CatalogueError, match=r"song\.wav"):
        catalogue.decode_track("song")
    with pytest.raises(CatalogueError):
        catalogue.decode_track("nope")
    with pytest.raises(CatalogueError, match="no such file"):
        decode(music / "gone.wav")
    # With no folders: the built-in sounds and no music.
    plain = Catalogue.load()
    assert len(plain.list_sounds()) >= 5 and plain.list_tracks() == []


def test_settings_take_the_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = parse_settings(["--sounds", str(tmp_path), "--music", str(tmp_path)], env={})
    assert settings.sounds == tmp_path and settings.music == tmp_path
    from_env = parse_settings([], env={"VOICEROOM_MUSIC": str(tmp_path)})
    assert from_env.music == tmp_path and from_env.sounds is None
    with pytest.raises(SystemExit) as info:
        parse_settings(["--music", str(tmp_path / "missing")], env={})
    assert info.value.code == 2
    assert "--music" in capsys.readouterr().err
