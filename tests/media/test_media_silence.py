"""media.session: a room where nobody makes a sound stops encoding and repeats its packet of
silence to everyone; the first sound brings the encoder back; a speaker who falls silent
fades out without a click, and keeps their own stream for the talker hold."""

from __future__ import annotations

import numpy as np

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.opus import OpusDecoder, OpusEncoder
from media.rtp import PayloadSink
from media.session import SILENT_TAIL_TICKS, RoomMixSession
from media.tracks import Outgoing


class Collect:
    """A listener's output that keeps what it is handed."""

    def __init__(self) -> None:
        self.got: list[bytes] = []

    def deliver(self, out: Outgoing) -> None:
        self.got.append(out.payload)

    def stop(self) -> None:
        pass


def tone_frame(tick: int, freq: float = 700.0) -> np.ndarray:
    t = (np.arange(FRAME_SAMPLES) + tick * FRAME_SAMPLES) / SAMPLE_RATE
    return np.round(0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)[int(spectrum.argmax())])


def host_and_listener() -> tuple[RoomMixSession, PayloadSink, Collect]:
    """A room whose host is heard by one listener: the session, the host's input, what the
    listener gets."""
    session = RoomMixSession("r1")
    inbound, sink = session.new_input("host")
    session.attach_input(inbound)
    session.set_heard(["host"])
    listener = Collect()
    session.attach_output("fan", listener)
    return session, sink, listener


def test_silent_room_repeats_its_silence_and_wakes_on_sound() -> None:
    session, sink, listener = host_and_listener()
    encoder = OpusEncoder()
    seq = 0

    def run(ticks: int, talking: bool) -> list[int]:
        nonlocal seq
        encodes = []
        for _ in range(ticks):
            if talking:
                sink(seq, encoder.encode(tone_frame(seq)), (False, 10))
                seq += 1
            before = session.stats.encodes
            session.tick()
            encodes.append(session.stats.encodes - before)
        return encodes

    run(20, talking=True)
    quiet = run(20, talking=False)
    # The jitter buffer plays out, the encoder sees a few ticks of silence, then stops.
    # (Concealment of the missing packets counts as sound for a few ticks.)
    assert sum(quiet) <= SILENT_TAIL_TICKS + 8 and quiet[-10:] == [0] * 10
    assert len(set(listener.got[-10:])) == 1  # one packet of silence, again and again
    woke = run(20, talking=True)
    assert woke[-10:] == [1] * 10
    assert len(listener.got) == 60  # a packet every tick, sound or not

    decoder = OpusDecoder()
    pcm = [decoder.decode(p) for p in listener.got]
    assert max(int(np.abs(frame).max()) for frame in pcm[30:40]) == 0
    assert abs(peak_hz(np.concatenate(pcm[48:60])) - 700) < 30


def test_a_speaker_who_falls_silent_fades_out_without_a_click() -> None:
    # A tone that fades out over its last frame, then the packets of a muted microphone
    # (RFC 6464: digital silence). Opus frames overlap, so the first silent packet carries
    # the end of the fade: not decoding it would end the fade in a step (a click).
    session, sink, listener = host_and_listener()
    encoder = OpusEncoder()
    quiet = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    for seq in range(40):
        frame = tone_frame(seq, 300.0)
        if seq == 19:
            frame = (frame * np.linspace(1.0, 0.0, FRAME_SAMPLES)).astype(np.int16)
        loud = seq < 20
        sink(seq, encoder.encode(frame if loud else quiet), (False, 10 if loud else 127))
        session.tick()
    decoder = OpusDecoder()
    heard = np.concatenate([decoder.decode(p) for p in listener.got]).astype(np.int32)
    steps = np.abs(np.diff(heard))
    tone_step = steps[10 * FRAME_SAMPLES : 18 * FRAME_SAMPLES].max()  # the steady tone's
    end_step = steps[19 * FRAME_SAMPLES : 26 * FRAME_SAMPLES].max()  # the fade and after
    assert heard[-5 * FRAME_SAMPLES :].max() == 0  # silent in the end
    # (Dropping the first silent packet made the end's step 2.8x the tone's.)
    assert end_step < 1.2 * tone_step, (end_step, tone_step)
    assert session.stats.silent_skipped > 10  # the rest of the silence is not decoded


def test_a_talker_who_falls_silent_keeps_their_own_stream_for_the_hold() -> None:
    # Two talkers; a's microphone goes silent (its packets say so and are not decoded). The
    # shared stream still carries a's last words in its encoder's overlap, so a keeps their
    # mix-minus for the tracker's hold (1 s), and only then shares the audience's packet.
    session = RoomMixSession("r1")
    sinks = {}
    for user in ("a", "b"):
        inbound, sinks[user] = session.new_input(user)
        session.attach_input(inbound)
    session.set_heard(["a", "b"])
    for user in ("a", "b", "fan"):
        session.attach_output(user, Collect())
    encoders = {"a": OpusEncoder(), "b": OpusEncoder()}
    quiet = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    stop, talkers = 40, []
    for seq in range(120):
        loud = seq < stop
        sinks["a"](seq, encoders["a"].encode(tone_frame(seq, 400.0) if loud else quiet),
                   (False, 10 if loud else 127))
        sinks["b"](seq, encoders["b"].encode(tone_frame(seq, 700.0)), (False, 10))
        session.tick()
        talkers.append(session.stats.talkers_last_tick)
    # (the jitter buffer delays everything by a tick or two)
    assert talkers[5 : stop + 45] == [2] * (stop + 40), talkers
    assert talkers[stop + 60 :] == [1] * (120 - stop - 60), talkers
