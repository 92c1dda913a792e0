"""audio.opus over the real system libopus: round trip, settings, PLC, in-band FEC, stereo."""

from __future__ import annotations

import ctypes.util

import numpy as np
import numpy.typing as npt
import pytest

from audio import opus
from audio.constants import FRAME_SAMPLES, SAMPLE_RATE
from audio.opus import (
    OPUS_GET_BITRATE_REQUEST,
    OPUS_GET_COMPLEXITY_REQUEST,
    OPUS_GET_DTX_REQUEST,
    OPUS_GET_INBAND_FEC_REQUEST,
    OPUS_GET_PACKET_LOSS_PERC_REQUEST,
    OPUS_GET_SIGNAL_REQUEST,
    OPUS_SIGNAL_MUSIC,
    OpusDecoder,
    OpusEncoder,
    OpusError,
    OpusUnavailable,
)

N = FRAME_SAMPLES


def tone(freq: float, amp: float, samples: int, start: int = 0) -> npt.NDArray[np.int16]:
    """A sine of `amp` (fraction of full scale), continuous in phase across calls."""
    t = (np.arange(samples) + start) / SAMPLE_RATE
    return np.round(amp * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def band_db(x: npt.NDArray[np.int16], freq: float, width: float = 60.0) -> float:
    """Energy (dB, arbitrary reference) of `x` within `width` Hz of `freq`."""
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)
    return float(10 * np.log10(spectrum[np.abs(freqs - freq) <= width].sum() + 1.0))


def peak_hz(x: npt.NDArray[np.int16]) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SAMPLE_RATE)[int(spectrum.argmax())])


def frames_of(signal: npt.NDArray[np.int16]) -> list[npt.NDArray[np.int16]]:
    return [signal[i : i + N] for i in range(0, len(signal), N)]


def test_settings_reach_the_encoder() -> None:
    # Reading every setting back through its GET request checks the CTL numbers too.
    with OpusEncoder(
        bitrate=24000, complexity=3, fec=True, packet_loss_perc=7, dtx=True
    ) as enc:
        assert enc.get(OPUS_GET_BITRATE_REQUEST) == 24000
        assert enc.get(OPUS_GET_COMPLEXITY_REQUEST) == 3
        assert enc.get(OPUS_GET_INBAND_FEC_REQUEST) == 1
        assert enc.get(OPUS_GET_PACKET_LOSS_PERC_REQUEST) == 7
        assert enc.get(OPUS_GET_DTX_REQUEST) == 1
        enc.set_bitrate(48000)
        assert enc.get(OPUS_GET_BITRATE_REQUEST) == 48000
    with OpusEncoder(fec=False, dtx=False, signal="music") as enc:
        assert enc.get(OPUS_GET_INBAND_FEC_REQUEST) == 0
        assert enc.get(OPUS_GET_DTX_REQUEST) == 0
        assert enc.get(OPUS_GET_SIGNAL_REQUEST) == OPUS_SIGNAL_MUSIC


def test_bad_settings_raise() -> None:
    with pytest.raises(ValueError):
        OpusEncoder(application="karaoke")
    with pytest.raises(ValueError):
        OpusEncoder(signal="noise")
    with pytest.raises(OpusError):
        OpusEncoder(complexity=11)
    with pytest.raises(OpusError):
        OpusEncoder(sample_rate=44100)
    with pytest.raises(OpusError):
        OpusDecoder(channels=3)


def test_tone_round_trip() -> None:
    signal = tone(1000, 0.3, 50 * N)
    enc, dec = OpusEncoder(), OpusDecoder()
    packets = [enc.encode(f) for f in frames_of(signal)]
    assert all(0 < len(p) < 400 for p in packets)
    out = np.concatenate([dec.decode(p) for p in packets])
    assert out.dtype == np.int16 and out.shape == signal.shape
    steady = out[10 * N : 40 * N]
    assert abs(peak_hz(steady) - 1000) <= 50
    # Tone purity: the energy near 1 kHz against everything else.
    spectrum = np.abs(np.fft.rfft(steady.astype(np.float64) * np.hanning(len(steady)))) ** 2
    freqs = np.fft.rfftfreq(len(steady), 1 / SAMPLE_RATE)
    near = spectrum[np.abs(freqs - 1000) <= 60].sum()
    assert 10 * np.log10(near / (spectrum.sum() - near)) > 20
    # Waveform SNR at the codec's delay (found by search, libopus' lookahead is ~6.5 ms).
    ref = signal[10 * N : 40 * N].astype(np.float64)
    best = max(
        10 * np.log10((ref**2).sum() / ((out[10 * N + d : 40 * N + d] - ref) ** 2).sum())
        for d in range(0, 600)
    )
    assert best > 10


def test_room_output_encoder_is_celt_and_keeps_two_tones_apart() -> None:
    from audio.opus import output_encoder

    signal = tone(440, 0.25, 100 * N) + tone(1000, 0.25, 100 * N)
    enc, dec = output_encoder(), OpusDecoder()
    packets = [enc.encode(f) for f in frames_of(signal)]
    # TOC configurations 16..31 are CELT-only (RFC 6716 §3.1): no SILK layer to run.
    assert all(p[0] >> 3 >= 16 for p in packets)
    out = np.concatenate([dec.decode(p) for p in packets])[20 * N : 90 * N]
    spectrum = np.abs(np.fft.rfft(out.astype(np.float64) * np.hanning(len(out)))) ** 2
    freqs = np.fft.rfftfreq(len(out), 1 / SAMPLE_RATE)
    tones = (np.abs(freqs - 440) <= 60) | (np.abs(freqs - 1000) <= 60)
    for freq in (440, 1000):
        near = spectrum[np.abs(freqs - freq) <= 60].sum()
        assert 10 * np.log10(near / spectrum[~tones].sum()) > 35  # hybrid with FEC: 36


def test_plc_continues_the_tone() -> None:
    enc, dec = OpusEncoder(), OpusDecoder()
    packets = [enc.encode(f) for f in frames_of(tone(800, 0.3, 30 * N))]
    for p in packets[:20]:
        dec.decode(p)
    concealed = dec.conceal()
    assert concealed.shape == (N,) and concealed.dtype == np.int16
    assert abs(peak_hz(concealed) - 800) <= 50
    assert band_db(concealed, 800) > band_db(np.zeros(N, dtype=np.int16), 800) + 60
    # The decoder goes on normally after concealment.
    assert abs(peak_hz(np.concatenate([dec.decode(p) for p in packets[21:]])) - 800) <= 50


def test_fec_recovers_what_plc_cannot() -> None:
    # The tone changes from 500 Hz to 1500 Hz exactly at the lost frame: concealment can
    # only extrapolate the old tone, the next packet's in-band FEC carries the new one.
    signal = np.concatenate([tone(500, 0.3, 30 * N), tone(1500, 0.3, 20 * N, 30 * N)])
    enc = OpusEncoder(fec=True, packet_loss_perc=10)
    packets = [enc.encode(f) for f in frames_of(signal)]
    lost = 30
    with_plc, with_fec, reference = OpusDecoder(), OpusDecoder(), OpusDecoder()
    for p in packets[:lost]:
        with_plc.decode(p)
        with_fec.decode(p)
        reference.decode(p)
    expected = reference.decode(packets[lost])
    concealed = with_plc.conceal()
    recovered = with_fec.decode_fec(packets[lost + 1])
    assert band_db(recovered, 1500) > band_db(concealed, 1500) + 20
    assert band_db(recovered, 1500) > band_db(expected, 1500) - 6
    # Then the next packet itself decodes as usual.
    assert abs(peak_hz(with_fec.decode(packets[lost + 1])) - 1500) <= 50


def test_fec_without_fec_data_conceals() -> None:
    enc = OpusEncoder(fec=False)
    packets = [enc.encode(f) for f in frames_of(tone(600, 0.3, 30 * N))]
    dec = OpusDecoder()
    for p in packets[:20]:
        dec.decode(p)
    out = dec.decode_fec(packets[21])
    assert out.shape == (N,)
    assert abs(peak_hz(out) - 600) <= 50
    assert dec.decode_fec(b"").shape == (N,)


def test_stereo_packet_is_downmixed_by_mono_decoder() -> None:
    left = tone(500, 0.3, 30 * N)
    right = tone(1700, 0.3, 30 * N)
    stereo = np.stack([left, right], axis=1)  # (samples, 2)
    enc = OpusEncoder(channels=2, bitrate=64000, application="audio")
    packets = [enc.encode(stereo[i : i + N]) for i in range(0, len(stereo), N)]
    assert opus.packet_channels(packets[10]) == 2
    dec = OpusDecoder(channels=1)
    out = np.concatenate([dec.decode(p) for p in packets])
    assert out.shape == (30 * N,)
    steady = out[10 * N :]
    floor = band_db(steady, 1100)  # between the two tones
    assert band_db(steady, 500) > floor + 30
    assert band_db(steady, 1700) > floor + 30
    # A stereo decoder keeps the channels apart.
    dec2 = OpusDecoder(channels=2)
    out2 = np.concatenate([dec2.decode(p) for p in packets])
    assert out2.shape == (30 * N, 2)
    assert abs(peak_hz(out2[10 * N :, 0]) - 500) <= 50
    assert abs(peak_hz(out2[10 * N :, 1]) - 1700) <= 50


def test_bad_packets_raise_and_leave_the_decoder_working() -> None:
    enc, dec = OpusEncoder(), OpusDecoder()
    packets = [enc.encode(f) for f in frames_of(tone(700, 0.3, 20 * N))]
    for p in packets[:10]:
        dec.decode(p)
    with pytest.raises(OpusError):
        dec.decode(b"")
    # A real 40 ms packet: code 1 (two equal frames) with this packet's frame twice.
    toc, body = packets[10][0], packets[10][1:]
    forty = bytes([(toc & 0xFC) | 1]) + body + body
    assert opus.packet_samples(forty) == 2 * N
    with pytest.raises(OpusError, match="40 ms"):
        dec.decode(forty)
    # Code 3 with a frame count of 0 is malformed (RFC 6716 §3.2.5).
    with pytest.raises(OpusError):
        dec.decode(bytes([toc | 3, 0]))
    out = np.concatenate([dec.decode(p) for p in packets[10:]])
    assert abs(peak_hz(out) - 700) <= 50


def test_encode_checks_frame_size() -> None:
    enc = OpusEncoder()
    with pytest.raises(ValueError):
        enc.encode(np.zeros(480, dtype=np.int16))
    # Other dtypes are converted; the result is a normal packet.
    assert len(enc.encode(np.zeros(N, dtype=np.float32))) > 0


def test_dtx_sends_almost_nothing_for_silence() -> None:
    enc = OpusEncoder(dtx=True)
    sizes = [len(enc.encode(np.zeros(N, dtype=np.int16))) for _ in range(50)]
    assert sum(s <= opus.DTX_MAX_BYTES for s in sizes[-30:]) >= 25


def test_close_is_idempotent_and_final() -> None:
    enc, dec = OpusEncoder(), OpusDecoder()
    packet = enc.encode(tone(500, 0.3, N))
    enc.close()
    enc.close()
    dec.close()
    dec.close()
    with pytest.raises(OpusError):
        enc.encode(tone(500, 0.3, N))
    with pytest.raises(OpusError):
        dec.decode(packet)


def test_reset_forgets_history() -> None:
    enc, dec = OpusEncoder(), OpusDecoder()
    for f in frames_of(tone(900, 0.3, 10 * N)):
        dec.decode(enc.encode(f))
    dec.reset()
    # After a reset concealment has nothing to extend: (near) silence.
    assert np.abs(dec.conceal().astype(np.int32)).max() < 100


def test_missing_libopus_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one thing that cannot run here for real: a machine without libopus.
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    opus._lib.cache_clear()
    try:
        with pytest.raises(OpusUnavailable, match="libopus0"):
            OpusDecoder()
    finally:
        monkeypatch.undo()
        opus._lib.cache_clear()
    assert opus.version().startswith("libopus")


def voiced(seconds: float) -> npt.NDArray[np.int16]:
    """A speech-like signal: harmonics of a gliding pitch, syllable-modulated."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 130 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    x = sum(np.sin(k * phase) / k for k in range(1, 16)) * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    return np.round(0.04 * 32767 * x).astype(np.int16)


def test_fec_beats_concealment_on_speech() -> None:
    # Over many single losses, the frames around a loss recovered with FEC are closer to
    # the loss-free decode than with concealment alone.
    enc = OpusEncoder(fec=True, packet_loss_perc=10)
    packets = [enc.encode(f) for f in frames_of(voiced(3.0))]
    reference = OpusDecoder()
    clean = [reference.decode(p) for p in packets]
    snr: dict[str, list[float]] = {"fec": [], "plc": []}
    for lost in range(20, len(packets) - 3, 9):
        for how in snr:
            dec = OpusDecoder()
            for p in packets[:lost]:
                dec.decode(p)
            first = dec.decode_fec(packets[lost + 1]) if how == "fec" else dec.conceal()
            got = np.concatenate([first, dec.decode(packets[lost + 1])]).astype(np.float64)
            want = np.concatenate(clean[lost : lost + 2]).astype(np.float64)
            snr[how].append(10 * np.log10((want**2).sum() / ((got - want) ** 2).sum()))
    assert len(snr["fec"]) >= 10
    assert np.mean(snr["fec"]) > np.mean(snr["plc"]) + 2
