"""Opus encoder and decoder over the system libopus (ctypes), with PLC and in-band FEC.

PyAV's libopus wrapper cannot conceal a lost packet nor decode in-band FEC; libopus can, so
the media engine decodes and encodes through this module. 48 kHz, 20 ms frames
(audio.mixer.FRAME_SAMPLES samples per channel), int16 samples.

The CTL request numbers are those of opus_defines.h (stable ABI since libopus 1.0).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from audio.constants import FRAME_MS, SAMPLE_RATE

OPUS_OK: Final = 0
OPUS_BAD_ARG: Final = -1
OPUS_INVALID_PACKET: Final = -4
OPUS_APPLICATION_VOIP: Final = 2048
OPUS_APPLICATION_AUDIO: Final = 2049
OPUS_APPLICATION_RESTRICTED_LOWDELAY: Final = 2051
OPUS_SET_BITRATE_REQUEST: Final = 4002
OPUS_GET_BITRATE_REQUEST: Final = 4003
OPUS_SET_COMPLEXITY_REQUEST: Final = 4010
OPUS_GET_COMPLEXITY_REQUEST: Final = 4011
OPUS_SET_INBAND_FEC_REQUEST: Final = 4012
OPUS_GET_INBAND_FEC_REQUEST: Final = 4013
OPUS_SET_PACKET_LOSS_PERC_REQUEST: Final = 4014
OPUS_GET_PACKET_LOSS_PERC_REQUEST: Final = 4015
OPUS_SET_DTX_REQUEST: Final = 4016
OPUS_GET_DTX_REQUEST: Final = 4017
OPUS_SET_SIGNAL_REQUEST: Final = 4024
OPUS_GET_SIGNAL_REQUEST: Final = 4025
OPUS_RESET_STATE: Final = 4028
OPUS_AUTO: Final = -1000
OPUS_SIGNAL_VOICE: Final = 3001
OPUS_SIGNAL_MUSIC: Final = 3002

APPLICATIONS: Final = {
    "voip": OPUS_APPLICATION_VOIP,
    "audio": OPUS_APPLICATION_AUDIO,
    "lowdelay": OPUS_APPLICATION_RESTRICTED_LOWDELAY,
}
SIGNALS: Final = {"auto": OPUS_AUTO, "voice": OPUS_SIGNAL_VOICE, "music": OPUS_SIGNAL_MUSIC}
MAX_PACKET_BYTES: Final = 1275  # the largest Opus frame (RFC 6716 §3.4)
MAX_FRAME_SAMPLES: Final = SAMPLE_RATE * 120 // 1000  # longest packet: 120 ms
# With DTX on, a packet of this many bytes or fewer carries no audio and need not be sent.
DTX_MAX_BYTES: Final = 2

Pcm = npt.NDArray[np.int16]


class OpusError(Exception):
    """A libopus call failed; `code` is libopus's error code."""

    def __init__(self, code: int, what: str) -> None:
        self.code = code
        super().__init__(f"{what}: {_strerror(code)} ({code})")


class OpusUnavailable(OpusError):
    """The system libopus could not be loaded."""

    def __init__(self) -> None:
        self.code = OPUS_BAD_ARG
        Exception.__init__(
            self,
            "libopus not found: install the system package libopus0 "
            "(Debian/Ubuntu: apt-get install libopus0; Fedora: dnf install opus; "
            "macOS: brew install opus)",
        )


@functools.cache
def _lib() -> Any:
    name = ctypes.util.find_library("opus")
    if name is None:
        raise OpusUnavailable()
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise OpusUnavailable() from exc
    p, i32, cint = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int
    lib.opus_get_version_string.restype = ctypes.c_char_p
    lib.opus_get_version_string.argtypes = []
    lib.opus_strerror.restype = ctypes.c_char_p
    lib.opus_strerror.argtypes = [cint]
    lib.opus_encoder_create.restype = p
    lib.opus_encoder_create.argtypes = [i32, cint, cint, ctypes.POINTER(cint)]
    lib.opus_encoder_destroy.restype = None
    lib.opus_encoder_destroy.argtypes = [p]
    lib.opus_encode.restype = i32
    lib.opus_encode.argtypes = [p, p, cint, p, i32]
    # opus_encoder_ctl / opus_decoder_ctl are variadic: no argtypes, typed arguments per call.
    lib.opus_encoder_ctl.restype = cint
    lib.opus_decoder_ctl.restype = cint
    lib.opus_decoder_create.restype = p
    lib.opus_decoder_create.argtypes = [i32, cint, ctypes.POINTER(cint)]
    lib.opus_decoder_destroy.restype = None
    lib.opus_decoder_destroy.argtypes = [p]
    lib.opus_decode.restype = cint
    lib.opus_decode.argtypes = [p, ctypes.c_char_p, i32, p, cint, cint]
    lib.opus_packet_get_nb_samples.restype = cint
    lib.opus_packet_get_nb_samples.argtypes = [ctypes.c_char_p, i32, i32]
    lib.opus_packet_get_nb_channels.restype = cint
    lib.opus_packet_get_nb_channels.argtypes = [ctypes.c_char_p]
    return lib


def _strerror(code: int) -> str:
    try:
        return str(_lib().opus_strerror(code).decode())
    except OpusUnavailable:
        return "libopus unavailable"


def version() -> str:
    """libopus's version string, e.g. 'libopus 1.3.1'."""
    return str(_lib().opus_get_version_string().decode())


def packet_samples(payload: bytes, sample_rate: int = SAMPLE_RATE) -> int:
    """Samples per channel that `payload` decodes to; raises OpusError for a bad packet."""
    n = int(_lib().opus_packet_get_nb_samples(payload, len(payload), sample_rate))
    if n < 0:
        raise OpusError(n, "opus_packet_get_nb_samples")
    return n


def packet_channels(payload: bytes) -> int:
    """Channels coded in `payload` (1 or 2); raises OpusError for an empty packet."""
    if not payload:
        raise OpusError(OPUS_BAD_ARG, "opus_packet_get_nb_channels")
    n = int(_lib().opus_packet_get_nb_channels(payload))
    if n < 0:
        raise OpusError(n, "opus_packet_get_nb_channels")
    return n


class OpusEncoder:
    """Encodes 20 ms frames of int16 PCM into Opus packets.

    `encode(pcm)` takes FRAME_SAMPLES samples (mono: shape (960,); stereo: (960, 2) or
    interleaved (1920,)) and returns one packet. With `dtx=True` a packet of DTX_MAX_BYTES
    bytes or fewer means "silence, nothing to send". `signal="music"` with `fec=False` keeps
    libopus in CELT-only mode at 64 kb/s (a third of a hybrid SILK + CELT encode's CPU);
    in-band FEC exists only in SILK, so `fec=True` keeps hybrid mode.
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        channels: int = 1,
        bitrate: int = 32000,
        complexity: int = 5,
        application: str = "voip",
        fec: bool = True,
        packet_loss_perc: int = 10,
        dtx: bool = False,
        signal: str = "auto",
    ) -> None:
        if application not in APPLICATIONS:
            raise ValueError(f"application must be one of {sorted(APPLICATIONS)}")
        if signal not in SIGNALS:
            raise ValueError(f"signal must be one of {sorted(SIGNALS)}")
        lib = _lib()
        self._lib = lib
        self._st: int | None = None
        err = ctypes.c_int(0)
        st = lib.opus_encoder_create(sample_rate, channels, APPLICATIONS[application], err)
        if err.value != OPUS_OK or not st:
            raise OpusError(err.value, "opus_encoder_create")
        self._st = st
        self.sample_rate = sample_rate
        self.channels = channels
        self.frame_samples = sample_rate * FRAME_MS // 1000
        self._out = ctypes.create_string_buffer(MAX_PACKET_BYTES)
        self._out_ptr = ctypes.addressof(self._out)
        self._ctl(OPUS_SET_BITRATE_REQUEST, bitrate)
        self._ctl(OPUS_SET_COMPLEXITY_REQUEST, complexity)
        self._ctl(OPUS_SET_INBAND_FEC_REQUEST, int(fec))
        self._ctl(OPUS_SET_PACKET_LOSS_PERC_REQUEST, packet_loss_perc)
        self._ctl(OPUS_SET_DTX_REQUEST, int(dtx))
        self._ctl(OPUS_SET_SIGNAL_REQUEST, SIGNALS[signal])

    def _ctl(self, request: int, value: int) -> None:
        rc = self._lib.opus_encoder_ctl(
            ctypes.c_void_p(self._state()), ctypes.c_int(request), ctypes.c_int32(value)
        )
        if rc != OPUS_OK:
            raise OpusError(rc, f"opus_encoder_ctl({request}, {value})")

    def get(self, request: int) -> int:
        """Read an encoder setting by its GET request number (e.g. OPUS_GET_BITRATE_REQUEST)."""
        value = ctypes.c_int32(0)
        rc = self._lib.opus_encoder_ctl(
            ctypes.c_void_p(self._state()), ctypes.c_int(request), ctypes.byref(value)
        )
        if rc != OPUS_OK:
            raise OpusError(rc, f"opus_encoder_ctl({request})")
        return int(value.value)

    def set_bitrate(self, bitrate: int) -> None:
        self._ctl(OPUS_SET_BITRATE_REQUEST, bitrate)

    def _state(self) -> int:
        if self._st is None:
            raise OpusError(OPUS_BAD_ARG, "encoder is closed")
        return self._st

    def encode(self, pcm: Pcm) -> bytes:
        frame = np.ascontiguousarray(pcm, dtype=np.int16)
        if frame.size != self.frame_samples * self.channels:
            raise ValueError(
                f"expected {self.frame_samples * self.channels} samples, got {frame.size}"
            )
        n = self._lib.opus_encode(
            self._state(), frame.ctypes.data, self.frame_samples, self._out_ptr, MAX_PACKET_BYTES
        )
        if n < 0:
            raise OpusError(n, "opus_encode")
        return ctypes.string_at(self._out_ptr, n)

    def close(self) -> None:
        st, self._st = self._st, None
        if st is not None:
            self._lib.opus_encoder_destroy(st)

    def __del__(self) -> None:
        # getattr: __init__ may have failed before _st existed.
        if getattr(self, "_st", None) is not None:
            self.close()

    def __enter__(self) -> OpusEncoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OpusDecoder:
    """Decodes 20 ms Opus packets to int16 PCM; conceals lost packets; decodes in-band FEC.

    A decoder made with channels=1 downmixes stereo packets (browsers may send stereo), so
    every output is shape (FRAME_SAMPLES,) for mono, (FRAME_SAMPLES, 2) for stereo.
    Packets of another duration than 20 ms raise OpusError (the decoder's state is then
    unchanged), as do corrupt packets: conceal() in their place.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, channels: int = 1) -> None:
        lib = _lib()
        self._lib = lib
        self._st: int | None = None
        err = ctypes.c_int(0)
        st = lib.opus_decoder_create(sample_rate, channels, err)
        if err.value != OPUS_OK or not st:
            raise OpusError(err.value, "opus_decoder_create")
        self._st = st
        self.sample_rate = sample_rate
        self.channels = channels
        self.frame_samples = sample_rate * FRAME_MS // 1000
        self._pcm = np.zeros(self.frame_samples * channels, dtype=np.int16)
        self._pcm_ptr = self._pcm.ctypes.data

    def _state(self) -> int:
        if self._st is None:
            raise OpusError(OPUS_BAD_ARG, "decoder is closed")
        return self._st

    def _run(self, payload: bytes | None, fec: int, what: str) -> Pcm:
        size = 0 if payload is None else len(payload)
        n = self._lib.opus_decode(
            self._state(), payload, size, self._pcm_ptr, self.frame_samples, fec
        )
        if n < 0:
            raise OpusError(n, what)
        if n != self.frame_samples:  # cannot happen after the duration check; be safe
            raise OpusError(OPUS_INVALID_PACKET, what)
        out = self._pcm.copy()
        return out if self.channels == 1 else out.reshape(-1, self.channels)

    def decode(self, payload: bytes) -> Pcm:
        """Decode one 20 ms packet."""
        if not payload:
            raise OpusError(OPUS_INVALID_PACKET, "opus_decode of an empty packet")
        n = self._lib.opus_packet_get_nb_samples(payload, len(payload), self.sample_rate)
        if n < 0:
            raise OpusError(n, "opus_decode")
        if n != self.frame_samples:
            ms = n * 1000 // self.sample_rate
            raise OpusError(OPUS_BAD_ARG, f"opus_decode of a {ms} ms packet (20 ms expected)")
        return self._run(payload, 0, "opus_decode")

    def conceal(self) -> Pcm:
        """Packet loss concealment: a plausible 20 ms frame in place of a lost packet."""
        return self._run(None, 0, "opus_decode(PLC)")

    def decode_fec(self, next_payload: bytes) -> Pcm:
        """Recover the lost frame before `next_payload` from its in-band FEC data.

        Plays the lost frame, not `next_payload` (decode that one next, as usual). If the
        packet carries no FEC data, libopus conceals instead.
        """
        if not next_payload:
            return self.conceal()
        try:
            return self._run(next_payload, 1, "opus_decode(FEC)")
        except OpusError:
            # A corrupt next packet is the next tick's problem; this one still needs a frame.
            return self.conceal()

    def reset(self) -> None:
        """Forget the stream's history (a new stream starts on this decoder)."""
        rc = self._lib.opus_decoder_ctl(
            ctypes.c_void_p(self._state()), ctypes.c_int(OPUS_RESET_STATE)
        )
        if rc != OPUS_OK:
            raise OpusError(rc, "opus_decoder_ctl(RESET_STATE)")

    def close(self) -> None:
        st, self._st = self._st, None
        if st is not None:
            self._lib.opus_decoder_destroy(st)

    def __del__(self) -> None:
        if getattr(self, "_st", None) is not None:
            self.close()

    def __enter__(self) -> OpusDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# A room's outbound streams: at 32 kb/s Opus, a mix of two tones already has coding noise
# only ~30 dB down between them; 64 kb/s mono keeps it ~50 dB down (music rooms gain too)
# for a few per cent more encode time.
OUTPUT_BITRATE = 64_000
# CELT-only (signal "music", no in-band FEC) at complexity 7: about half the CPU of the
# hybrid SILK + CELT encode libopus picks for voip at 64 kb/s (complexity 5, FEC), with less
# coding noise between two tones (40 dB against 36; complexity 5-6 CELT: 32 dB). Encodes are
# most of a room's tick (docs/benchmarks.md). The price: no in-band FEC (a SILK-layer
# feature) in what listeners receive; their decoders conceal a lost packet instead.
OUTPUT_SIGNAL = "music"
OUTPUT_FEC = False
OUTPUT_COMPLEXITY = 7


def output_encoder() -> OpusEncoder:
    """An encoder for one of a room's outbound streams (full mix or a mix-minus)."""
    return OpusEncoder(
        bitrate=OUTPUT_BITRATE, complexity=OUTPUT_COMPLEXITY, fec=OUTPUT_FEC, signal=OUTPUT_SIGNAL
    )
