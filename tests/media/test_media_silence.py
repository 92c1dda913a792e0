"""media.session: a room where nobody makes a sound stops encoding and repeats its packet of
silence to everyone; the first sound brings the encoder back."""

from __future__ import annotations

import numpy as np

from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.opus import OpusDecoder, OpusEncoder
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


def test_silent_room_repeats_its_silence_and_wakes_on_sound() -> None:
    session = RoomMixSession("r1")
    inbound, sink = session.new_input("host")
    session.attach_input(inbound)
    session.set_heard(["host"])
    listener = Collect()
    session.attach_output("fan", listener)
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
