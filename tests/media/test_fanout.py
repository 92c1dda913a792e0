"""The batched fan-out (media/_fanout.c behind media/fanout.py): real libsrtp sessions, real
UDP sockets on loopback; every packet is unprotected and read back as a listener would."""

from __future__ import annotations

import os
import re
import socket
import struct
from collections.abc import Iterator

import pytest
from pylibsrtp import Policy, Session

from media import fanout
from media.sender import _ffi_address

KEY = bytes(range(28))  # AEAD_AES_128_GCM: 16-byte key + 12-byte salt
GCM = Policy.SRTP_PROFILE_AEAD_AES_128_GCM


def test_the_c_module_is_built() -> None:
    # `pip install -e .` builds it where a C compiler is found; CI has one.
    if fanout._fanout is None:
        if os.environ.get("CI") == "true":
            pytest.fail("media._fanout is not built (pip install -e . with gcc and Python headers)")
        pytest.skip("media._fanout is not built here")
    assert fanout.BATCHED


def sessions() -> tuple[Session, Session]:
    tx = Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=GCM))
    rx = Session(Policy(key=KEY, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=GCM))
    return tx, rx


@pytest.fixture
def group() -> Iterator[object]:
    if fanout._fanout is None or fanout._PROTECT is None:
        pytest.skip("media._fanout is not built here")
    yield fanout._fanout.Group(fanout._PROTECT)


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    return sock


def header(packet: bytes) -> tuple[int, int, int, int, int]:
    first, pt, seq, ts, ssrc = struct.unpack("!BBHII", packet[:12])
    return first, pt, seq, ts, ssrc


def test_each_listener_gets_its_own_header_and_srtp_and_the_shared_payload(group) -> None:
    out = udp()
    listeners = [udp() for _ in range(3)]
    keys = [sessions() for _ in listeners]
    try:
        for i, (sock, (tx, _)) in enumerate(zip(listeners, keys, strict=True)):
            host, port = sock.getsockname()
            group.add(i, _ffi_address(tx._srtp[0]), out.fileno(), host, port, 1000 + i, 111,
                      65535 - i, 7 * i, tx)
        assert len(group) == 3
        assert group.send(b"opus-frame", 960) == 3
        assert group.send(b"next", 1920) == 3
        for i, (sock, (_, rx)) in enumerate(zip(listeners, keys, strict=True)):
            first = rx.unprotect(sock.recv(2048))
            second = rx.unprotect(sock.recv(2048))
            assert header(first) == (0x80, 111, 65535 - i, 960 + 7 * i, 1000 + i)
            assert first[12:] == b"opus-frame"
            # The sequence number wraps; the timestamp follows the pts.
            assert header(second)[2:4] == ((65536 - i) & 0xFFFF, 1920 + 7 * i)
            assert second[12:] == b"next"
        assert group.take(1) == ((65534 + 2) & 0xFFFF, 2, len(b"opus-frame") + len(b"next"))
        assert group.take(1)[1:] == (0, 0)  # counted once
    finally:
        for sock in [out, *listeners]:
            sock.close()


def test_a_skipped_listener_gets_its_own_packet_in_the_same_sequence(group) -> None:
    out, a, b = udp(), udp(), udp()
    (tx_a, rx_a), (tx_b, rx_b) = sessions(), sessions()
    try:
        group.add(1, _ffi_address(tx_a._srtp[0]), out.fileno(), *a.getsockname(), 1, 111, 10,
                  0, tx_a)
        group.add(2, _ffi_address(tx_b._srtp[0]), out.fileno(), *b.getsockname(), 2, 111, 20,
                  0, tx_b)
        group.skip(2, True)
        assert group.send(b"full mix", 960) == 1
        assert group.send_one(2, b"mix minus", 960) is True
        group.skip(2, False)
        assert group.send(b"full again", 1920) == 2
        assert rx_a.unprotect(a.recv(2048))[12:] == b"full mix"
        own = rx_b.unprotect(b.recv(2048))
        assert own[12:] == b"mix minus" and header(own)[2] == 20
        again = rx_b.unprotect(b.recv(2048))
        assert again[12:] == b"full again" and header(again)[2] == 21
        assert group.remove(2) == 22  # the next sequence number, for whoever sends next
        assert len(group) == 1
        with pytest.raises(KeyError):
            group.take(2)
    finally:
        for sock in (out, a, b):
            sock.close()


def test_a_closed_socket_loses_its_packet_only_and_bad_input_is_refused(group) -> None:
    good, listener = udp(), udp()
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead_fd = dead.fileno()
    dead.close()
    (tx1, rx1), (tx2, _) = sessions(), sessions()
    try:
        group.add(1, _ffi_address(tx2._srtp[0]), dead_fd, *listener.getsockname(), 5, 111, 0,
                  0, tx2)
        group.add(2, _ffi_address(tx1._srtp[0]), good.fileno(), *listener.getsockname(), 6,
                  111, 0, 0, tx1)
        assert group.send(b"x", 0) == 1
        assert group.refused == 1
        assert rx1.unprotect(listener.recv(2048))[12:] == b"x"
        with pytest.raises(ValueError):
            group.send(b"y" * 1500, 0)  # no room for it in a datagram
        with pytest.raises(ValueError):
            group.add(3, _ffi_address(tx1._srtp[0]), good.fileno(), "not an address", 1, 7,
                      111, 0, 0, tx1)
        with pytest.raises(ValueError):
            group.add(2, _ffi_address(tx1._srtp[0]), good.fileno(), "127.0.0.1", 1, 7, 111,
                      0, 0, tx1)  # the same id twice
        assert group.take(1)[1:] == (0, 0) and group.take(2)[1:] == (1, 1)
    finally:
        good.close()
        listener.close()


@pytest.mark.parametrize("batched", [True, False], ids=["c", "python"])
async def test_listeners_and_talkers_hear_the_room_either_way(batched: bool) -> None:
    """A room through the engine with the C fan-out and with the Python one: the listener
    hears both speakers, each speaker hears the other and not themselves (FFT), and aiortc's
    sender counters (its RTCP reports) follow what was sent."""
    from media.engine import MediaEngine
    from media.session import RoomMixSession
    from tests.media.test_engine import GAP_DB, HEARD_DB, ROOM, build_room, join
    from tests.support.rtc import close_all, levels_db, tone_peer, wait_for, wait_recorded

    if batched and not fanout.BATCHED:
        pytest.skip("media._fanout is not built here")

    def session_factory(room_id: str) -> RoomMixSession:
        s = RoomMixSession(room_id)
        s.fanout = fanout.Fanout(batched=batched)
        return s

    engine = MediaEngine(session_factory=session_factory)
    room = build_room("host", seated=["a"], audience=["lis"])
    peers = {"host": tone_peer(300.0), "a": tone_peer(500.0), "lis": tone_peer(None)}
    try:
        for user, peer in peers.items():
            await join(engine, room, user, peer)
        await wait_recorded(peers.values(), 1.5)
        heard = levels_db(peers["lis"], [300.0, 500.0])
        assert min(heard.values()) > HEARD_DB, heard
        got = levels_db(peers["host"], [300.0, 500.0])
        assert got[500.0] > HEARD_DB and got[300.0] < got[500.0] - GAP_DB, got
        got = levels_db(peers["a"], [300.0, 500.0])
        assert got[300.0] > HEARD_DB and got[500.0] < got[300.0] - GAP_DB, got
        media = engine.session(ROOM)
        assert media is not None and media.fanout.batched is batched
        listener = media.outputs["lis"]
        rtp_sender = listener._sender  # type: ignore[attr-defined]
        # Synced every CHECK_TICKS ticks in the batched path: wait for one round.
        await wait_for(lambda: rtp_sender._RTCRtpSender__packet_count > 50, 5.0)
        # A listen-only peer's RTCP is dropped at its sockets (batched path), a speaker's not.
        assert listener.listen_only  # type: ignore[attr-defined]
        assert listener._rtcp_ignored is batched  # type: ignore[attr-defined]
        assert not media.outputs["host"].listen_only  # type: ignore[attr-defined]
    finally:
        await close_all(peers.values())
        await engine.close()


async def test_the_floor_bench_prints_its_figures() -> None:
    if not fanout.BATCHED:
        pytest.skip("media._fanout is not built here")
    from tests.media.test_media_bench import run

    text = await run("bench.send_floor", "--listeners", "5", "--ticks", "3")
    for line in ("+ sendto to a loopback reader", "sendmmsg 64 at a time", "GCM) alone",
                 "SHA1-80) alone", "the kernel's part"):
        assert re.search(re.escape(line) + r".*: -?[\d.]+ µs", text), text
