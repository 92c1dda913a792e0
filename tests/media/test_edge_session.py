"""media/edge.py without a network: which offers are listen-only, and an edge session's
timeline as the owner's relayed ticks arrive (in order, late, repeated, or from a new
owner whose clock starts again)."""

from __future__ import annotations

from media.edge import MAX_TICK_STEP, EdgeSession, listen_only

HEAD = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"


def audio(direction: str | None) -> str:
    line = f"a={direction}\r\n" if direction else ""
    return f"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n{line}a=mid:0\r\n"


def video(direction: str) -> str:
    return f"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na={direction}\r\na=mid:1\r\n"


def test_listen_only_offers() -> None:
    assert listen_only(HEAD + audio("recvonly"))
    assert not listen_only(HEAD + audio("sendrecv"))
    assert not listen_only(HEAD + audio("sendonly"))
    assert not listen_only(HEAD + audio(None))  # no attribute: sendrecv (RFC 4566)
    assert not listen_only(HEAD + audio("inactive"))  # receives nothing either
    assert listen_only(HEAD + "a=recvonly\r\n" + audio(None))  # session-level direction
    assert not listen_only(HEAD + "a=recvonly\r\n" + audio("sendrecv"))  # media-level wins
    assert listen_only(HEAD + audio("recvonly") + video("sendrecv"))  # audio decides
    assert not listen_only(HEAD + audio("recvonly") + audio("sendrecv"))
    assert not listen_only(HEAD + video("recvonly"))  # no audio at all
    assert not listen_only("")


class Ticks:
    def __init__(self) -> None:
        self.seen: list[tuple[int, bytes]] = []

    def mixed(self, tick: int, payload: bytes) -> None:
        self.seen.append((tick, payload))

    def received(self, user: str, tick: int, seq: int, payload: bytes) -> None:
        return None

    def ended(self) -> None:
        return None


def test_the_edge_timeline_stays_continuous() -> None:
    session = EdgeSession("r1")
    ticks = Ticks()
    session.add_tap(ticks)
    session.feed(100, b"before start", source=1)  # not started: nothing goes out
    session.start()
    session.feed(100, b"a", source=1)
    session.feed(101, b"b", source=1)
    session.feed(101, b"repeat", source=1)  # repeated: dropped
    session.feed(99, b"late", source=1)  # late: dropped
    session.feed(104, b"c", source=1)  # three ticks the owner skipped: the timeline moves by three
    session.feed(7, b"d", source=2)  # a new owner's feed, its clock from 0: one step on
    session.feed(8, b"e", source=2)
    session.feed(8, b"repeat", source=2)
    session.feed(9 + MAX_TICK_STEP + 1, b"f", source=2)  # a jump too far: one step as well
    assert ticks.seen == [(1, b"a"), (2, b"b"), (5, b"c"), (6, b"d"), (7, b"e"), (8, b"f")]
    assert session.stats.ticks == 6
