"""The server for the media benchmarks: the real stack (server.app.build), in its own process.

    python -m bench.media_server [--send-mode direct|track] [--encode once|per-listener]

Prints `serving on ws://HOST:PORT/ws pid PID` once it listens; SIGTERM stops it.
`--send-mode track` and `--encode per-listener` are the baselines bench/fanout.py compares
against (aiortc's RTCRtpSender per listener; an Opus encode per listener, as Janus does):
room sessions of their own, defined here, that the production server never builds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamTrack

from audio.constants import FRAME_SAMPLES
from audio.mixer import Pcm
from bench.serving import serve_until_sigterm
from media.rtp import ntp_now
from media.session import RoomMixSession
from media.session_wiring import Output
from media.tracks import Outgoing, PacketTrack
from server.app import build
from server.settings import Settings


class TrackSession(RoomMixSession):
    """Each listener's packet through aiortc's own RTCRtpSender, fed by a PacketTrack (about
    3x the CPU per listener of the DirectSender)."""

    def outbound_track(self) -> MediaStreamTrack:
        return PacketTrack()

    def make_output(self, track: MediaStreamTrack, transceiver: RTCRtpTransceiver) -> Output:
        assert isinstance(track, PacketTrack)
        return track


class PerListenerSession(RoomMixSession):
    """An Opus encode per listener per tick (Janus AudioBridge's way), sent direct."""

    def detach_output(self, user: str, output: Output) -> None:
        super().detach_output(user, output)
        if user not in self.outputs:
            self._encoders.pop(user, None)

    def _encode_and_send(self, tick_no: int, full: Pcm, talkers: list[str],
                         sound: bool) -> int:
        pts = tick_no * FRAME_SAMPLES
        ntp = ntp_now()
        minus = self.mixer.minus_for(talkers) if talkers else {}
        for user, output in self.outputs.items():
            pcm = minus.get(user, full)
            output.deliver(Outgoing(self._encoder(user).encode(pcm), pts, ntp))
        return len(self.outputs)


SESSIONS: dict[tuple[str, str], type[RoomMixSession]] = {
    ("direct", "once"): RoomMixSession,
    ("track", "once"): TrackSession,
    ("direct", "per-listener"): PerListenerSession,
}


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.media_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--send-mode", choices=("direct", "track"), default="direct")
    parser.add_argument("--encode", choices=("once", "per-listener"), default="once")
    args = parser.parse_args(argv)
    session_class = SESSIONS.get((args.send_mode, args.encode))
    if session_class is None:
        parser.error("--encode per-listener goes with --send-mode direct")
    # Benchmarks open many connections from one address: no request rate limit here.
    settings = Settings(host=args.host, port=args.port, media=True, node_id="bench",
                        log_level="WARNING", rate=1e6, burst=1_000_000)
    app = await build(settings)
    engine = app.media
    assert engine is not None, "no media engine"
    engine.session_factory = lambda room_id: session_class(room_id, on_levels=engine.on_levels)
    await app.start()
    await serve_until_sigterm(app.url)
    await app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
