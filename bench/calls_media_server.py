"""The server of bench/calls_media.py: the real MediaEngine's calls, nothing else, in its own
process, with a small websocket signaling of its own (the call verbs' state machine is not
what is measured; its answers go through the same ``MediaEngine.offer_call``).

    python -m bench.calls_media_server [--send-mode direct|track]

Messages (JSON): ``{"op": "offer", "call": ID, "caller": U, "callee": U, "user": U, "sdp": S}``
-> ``{"sdp": ANSWER}`` or ``{"error": CODE}``; ``{"op": "mix"}`` puts a silent mix-in on both
directions of every call (everything on the decoded path) -> ``{"calls": N}``. GET /stats
answers ``MediaEngine.stats()`` as JSON, GET /healthz ``ok``. Prints ``serving on
ws://HOST:PORT/ws pid PID`` once it listens; SIGTERM stops it.

``--send-mode track`` sends each leg's audio through aiortc's own RTCRtpSender (a PacketTrack
of ``av.Packet``s) instead of the DirectSender: the baseline the relay is compared with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from http import HTTPStatus
from typing import Any

import numpy as np
from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamTrack
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from audio.constants import FRAME_SAMPLES
from bench.serving import serve_until_sigterm
from calls.model import CallKind, CallState, CallStatus, Party
from media.engine import MediaEngine
from media.relay import AudioSend
from media.tracks import PacketTrack, make_packet
from protocol.errors import ProtocolError


class TrackSend:
    """A leg's audio through aiortc's RTCRtpSender: a bounded PacketTrack it pulls from. The
    sender numbers packets itself (sequence numbers one by one, its own timestamp origin
    plus the packet's pts)."""

    def __init__(self, track: PacketTrack) -> None:
        self.track = track

    def send_at(self, payload: bytes, seq: int, timestamp: int, ntp: int,
                extension: bytes = b"") -> bool:
        self.track.push(make_packet(payload, timestamp))
        return True

    def stop(self) -> None:
        self.track.stop()


def track_audio(transceiver: RTCRtpTransceiver) -> tuple[MediaStreamTrack, AudioSend]:
    track = PacketTrack()
    return track, TrackSend(track)


class Quiet:
    """A mix-in of silence that never ends: keeps a direction on the decoded path."""

    def read(self) -> np.ndarray:
        return np.zeros(FRAME_SAMPLES, dtype=np.int16)


def call_state(call_id: str, caller: str, callee: str) -> CallState:
    return CallState(
        id=call_id, state=CallStatus.ACTIVE, video=False,
        caller=Party(caller, caller, app="main"), callee=Party(callee, callee, app="main"),
        kind=CallKind.FRIEND, created_at=0.0, started_at=0.0,
    )


class Bench:
    def __init__(self, engine: MediaEngine) -> None:
        self.engine = engine
        self.calls: dict[str, CallState] = {}

    async def handle(self, ws: ServerConnection) -> None:
        async for message in ws:
            request = json.loads(message)
            await ws.send(json.dumps(await self.answer(request)))

    async def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("op") == "mix":
            for call in self.calls.values():
                media = self.engine.call_media(call.id)
                if media is not None:
                    for user in call.users:
                        media.mix_in(user, Quiet())
            return {"calls": len(self.calls)}
        call = self.calls.setdefault(
            request["call"], call_state(request["call"], request["caller"], request["callee"]))
        try:
            return {"sdp": await self.engine.offer_call(call, request["user"], request["sdp"])}
        except ProtocolError as exc:
            return {"error": exc.code.value, "message": exc.message}

    def http(self, ws: ServerConnection, request: Request) -> Response | None:
        if request.path == "/healthz":
            return ws.respond(HTTPStatus.OK, "ok\n")
        if request.path == "/stats":
            return ws.respond(HTTPStatus.OK, json.dumps(self.engine.stats()))
        return None


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calls_media_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--send-mode", choices=("direct", "track"), default="direct")
    parser.add_argument("--profile", metavar="FILE",
                        help="cProfile the whole run, stats written to FILE at exit")
    args = parser.parse_args(argv)
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            return await serve_until_stopped(args)
        finally:
            profiler.disable()
            profiler.dump_stats(args.profile)
    return await serve_until_stopped(args)


async def serve_until_stopped(args: argparse.Namespace) -> int:
    engine = MediaEngine()
    if args.send_mode == "track":
        engine.calls.audio_sender = track_audio
    bench = Bench(engine)
    async with serve(bench.handle, args.host, args.port, process_request=bench.http,
                     max_size=1 << 20, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        await serve_until_sigterm(f"ws://{args.host}:{port}/ws")
    await engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
