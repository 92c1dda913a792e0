"""A room session's props, tick by tick: the real RoomMixSession, mixer, Opus encoders and
decoders and PropsMix, driven without the network or the clock, so that every sample can be
checked: music ducked 10 dB with no click at either ramp, a sound in every talker's mix,
an effect never in its speaker's own stream."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.opus import OpusDecoder, OpusEncoder
from audio.sources import tone_levels
from media.catalogue import Catalogue
from media.props import PropsMix
from media.session import RoomMixSession
from media.tracks import Outgoing
from rooms.propstate import Music, RoomProps
from tests.media.propskit import FULL, GatedTone, db, tone_file

MUSIC_HZ = 610.0  # 12.2 cycles a frame: gain changes at frame edges meet the wave anywhere
VOICE_HZ = 200.0


class Ear:
    """An output that decodes what the session sends it."""

    def __init__(self) -> None:
        self.decoder = OpusDecoder()
        self.frames: list[np.ndarray] = []

    def deliver(self, out: Outgoing) -> None:
        self.frames.append(self.decoder.decode(out.payload))

    def stop(self) -> None:
        pass

    def pcm(self, first: int = 0, last: int | None = None) -> np.ndarray:
        return np.concatenate(self.frames[first:last]).astype(np.float64)


class Mouth:
    """A speaker's microphone into the session: Opus packets through the real inbound sink,
    with the RFC 6464 level a browser would put on them."""

    def __init__(self, session: RoomMixSession, user: str, source: GatedTone) -> None:
        self.source = source
        self.encoder = OpusEncoder()
        inbound, self.sink = session.new_input(user)
        session.attach_input(inbound)
        self.seq = 0

    def speak(self) -> None:
        pcm = self.source.read()
        level = db(float(np.sqrt(np.mean((pcm / FULL) ** 2)))) if pcm.any() else -127.0
        self.sink(self.seq, self.encoder.encode(pcm), (False, min(127, int(-level))))
        self.seq += 1


async def session_with_music(tmp_path: Path) -> tuple[RoomMixSession, PropsMix]:
    tone_file(tmp_path / "hum.wav", MUSIC_HZ, 2.0, fade=0.0)
    session = RoomMixSession("r")
    props = session.props = PropsMix("r", Catalogue.load(None, tmp_path))
    props.follow(RoomProps().with_music(Music("hum", volume=1.0, loop=True, play=1)))
    for _ in range(200):
        if props.overlay.music is not None:
            break
        await asyncio.sleep(0.01)
    assert props.overlay.music is not None
    return session, props


def highs_db(pcm: np.ndarray) -> float:
    """The loudest 5 ms of what lies above 2 kHz (the tones have nothing there)."""
    spectrum = np.fft.rfft(pcm / FULL)
    spectrum[np.fft.rfftfreq(len(pcm), 1 / SAMPLE_RATE) < 2000] = 0
    y = np.fft.irfft(spectrum, len(pcm))[240:-240]  # the transform's own edges left out
    return db(float(np.sqrt(np.mean(y[: len(y) // 240 * 240].reshape(-1, 240) ** 2, 1)).max()))


async def duck_run(tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """100 ticks of music alone, 100 with a voice, 100 alone again: what a listener and the
    talker got, decoded."""
    session, _ = await session_with_music(tmp_path)
    voice = GatedTone(VOICE_HZ, 0.3)
    mouth = Mouth(session, "sat", voice)
    session.set_heard({"sat"})
    listener, talker = Ear(), Ear()
    session.attach_output("lis", listener)
    session.attach_output("sat", talker)
    try:
        for on in [False] * 100 + [True] * 100 + [False] * 100:
            voice.on = on
            mouth.speak()
            session.tick()
    finally:
        await session.stop()
    return listener.pcm(), talker.pcm()


def ramps(heard: np.ndarray) -> dict[str, tuple[float, float]]:
    """The largest sample step (of full scale) and the loudest burst above 2 kHz (dB) at each
    ramp. The voice reaches the mix at tick 101 (the jitter buffer holds it a tick) and leaves
    it after tick 200; the attack starts a tick later, the release after the 0.3 s hold. The
    voice's own first and last frames are left out: their onset and cut-off are the
    speaker's."""
    frame = FRAME_SAMPLES
    out = {}
    for name, start, end in (("attack", 102 * frame, 130 * frame),
                             ("release", 204 * frame, 260 * frame)):
        part = heard[start:end]
        out[name] = (float(np.abs(np.diff(part)).max()) / FULL, highs_db(part))
    return out


async def test_music_ducks_10_db_under_a_voice_and_ramps_without_a_click(
        tmp_path: Path) -> None:
    heard, own = await duck_run(tmp_path)
    second = SAMPLE_RATE

    def music_db(pcm: np.ndarray, start: int, end: int) -> float:
        return tone_levels(pcm[start:end], [MUSIC_HZ])[MUSIC_HZ]

    free = music_db(heard, second, 2 * second)  # ticks 50-100
    ducked = music_db(heard, 3 * second, 4 * second)  # ticks 150-200
    back = music_db(heard, 5 * second, 6 * second)  # ticks 250-300
    assert free - ducked == pytest.approx(10.0, abs=0.5), (free, ducked)
    assert back == pytest.approx(free, abs=0.3)
    # No sample steps further than the tones can (music 0.5 FS at 610 Hz: 0.04; the voice
    # 0.008), and nothing bursts above 2 kHz at the release (at the attack, the voice's own
    # onset does).
    got = ramps(heard)
    assert got["attack"][0] < 0.06 and got["release"][0] < 0.06, got
    assert got["release"][1] < -50, got
    # The talker hears the music ducked, never their own voice.
    mine = tone_levels(own[3 * second: 4 * second], [MUSIC_HZ, VOICE_HZ])
    assert mine[MUSIC_HZ] == pytest.approx(ducked, abs=0.5)
    assert mine[VOICE_HZ] < mine[MUSIC_HZ] - 40, mine


async def test_the_click_check_sees_a_gain_switched_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same run with ramps a sample long: the checks above must catch it.
    monkeypatch.setattr("audio.overlay.DUCK_ATTACK_S", 1 / SAMPLE_RATE)
    monkeypatch.setattr("audio.overlay.DUCK_RELEASE_S", 1 / SAMPLE_RATE)
    heard, _ = await duck_run(tmp_path)
    got = ramps(heard)
    assert got["attack"][0] > 0.09 and got["release"][0] > 0.06, got
    assert got["release"][1] > -45, got


async def test_a_sound_reaches_every_stream_and_an_effect_never_its_speaker(
        tmp_path: Path) -> None:
    session = RoomMixSession("r")
    props = session.props = PropsMix("r", Catalogue.load(None, None))
    props.follow(RoomProps().with_effect("sat", "pitch_up"))
    mouth = Mouth(session, "sat", GatedTone(440.0, 0.3, on=True))
    session.set_heard({"sat"})
    listener, talker = Ear(), Ear()
    session.attach_output("lis", listener)
    session.attach_output("sat", talker)
    for tick in range(150):
        if tick == 50:
            assert props.play_sound("ding")
        mouth.speak()
        session.tick()
    try:
        lis = tone_levels(listener.pcm(60, 100), [440.0, 660.0, 880.0])
        own = tone_levels(talker.pcm(60, 100), [440.0, 660.0, 880.0])
        assert lis[660.0] > -25 and lis[440.0] < lis[660.0] - 30, lis
        assert lis[880.0] > -30 and own[880.0] == pytest.approx(lis[880.0], abs=1.0)
        assert max(own[440.0], own[660.0]) < own[880.0] - 40, own
        assert props.costs["pitch_up"].frames >= 140
    finally:
        await session.stop()


async def test_an_ended_play_is_reported_once_and_not_started_again(tmp_path: Path) -> None:
    tone_file(tmp_path / "blip.wav", 500.0, 0.1)
    ended: list[tuple[str, int]] = []
    props = PropsMix("r", Catalogue.load(None, tmp_path), lambda room, play: ended.append(
        (room, play)))

    async def loaded() -> None:
        for _ in range(200):
            if props.overlay.music is not None:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the track was not decoded")

    once = RoomProps().with_music(Music("blip", volume=1.0, loop=False, play=1))
    props.follow(once)
    await loaded()
    for _ in range(20):  # 0.4 s: the 0.1 s track runs out
        props.before_mix({}, set())
    assert ended == [("r", 1)]
    # A room change sent before the server stopped the music still names play 1.
    props.follow(once)
    await asyncio.sleep(0.05)
    assert props.overlay.music is None and ended == [("r", 1)]
    # Played again (a new play): it starts.
    props.follow(RoomProps().with_music(Music("blip", volume=1.0, play=2)))
    await loaded()
    props.close()
