"""Reading streamed HTTP (listen.ogg, Icecast, recordings) the way a player does: a raw
socket, chunked or close-delimited bodies, Ogg pages checked, PyAV decoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import struct
from dataclasses import dataclass, field

import av
import numpy as np
import numpy.typing as npt
from av.audio.resampler import AudioResampler

from audio.ogg import ogg_crc

READ_TIMEOUT = 10.0


@dataclass
class HttpStream:
    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    chunked: bool
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False  # the body is complete (terminator or close)

    async def read_some(self) -> bytes:
        """The next piece of the body (b"" at its end)."""
        if self.ended:
            return b""
        if not self.chunked:
            data = await asyncio.wait_for(self.reader.read(65536), READ_TIMEOUT)
        else:
            line = await asyncio.wait_for(self.reader.readuntil(b"\r\n"), READ_TIMEOUT)
            size = int(line.strip(), 16)
            if size == 0:
                await asyncio.wait_for(self.reader.readuntil(b"\r\n"), READ_TIMEOUT)
                data = b""
            else:
                chunk = await asyncio.wait_for(self.reader.readexactly(size + 2), READ_TIMEOUT)
                assert chunk[-2:] == b"\r\n"
                data = chunk[:-2]
        if not data:
            self.ended = True
        self.body += data
        return data

    async def read_until(self, size: int) -> bytes:
        while len(self.body) < size and await self.read_some():
            pass
        return bytes(self.body)

    async def read_to_end(self) -> bytes:
        while await self.read_some():
            pass
        return bytes(self.body)

    async def read_seconds(self, seconds: float) -> bytes:
        """Read until the body holds ``seconds`` of 20 ms Ogg pages beyond the headers."""
        want = 2 + int(seconds * 50)
        while len(parse_pages(bytes(self.body), partial=True)) < want:
            if not await self.read_some():
                break
        return bytes(self.body)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(self.writer.wait_closed(), READ_TIMEOUT)


async def open_stream(host: str, port: int, path: str, *, http10: bool = False,
                      headers: dict[str, str] | None = None,
                      rcvbuf: int | None = None) -> HttpStream:
    """GET ``path``; returns once the response's headers are read."""
    if rcvbuf is None:
        reader, writer = await asyncio.open_connection(host, port)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=rcvbuf)
    version = "HTTP/1.0" if http10 else "HTTP/1.1"
    lines = [f"GET {path} {version}", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        if ":" in line:
            name, _, value = line.partition(":")
            parsed[name.strip().lower()] = value.strip()
    status = int(status_line.split(" ")[1])
    chunked = parsed.get("transfer-encoding", "").lower() == "chunked"
    return HttpStream(status, parsed, reader, writer, chunked)


async def get(host: str, port: int, path: str, **kwargs: object) -> tuple[int, dict[str, str],
                                                                         bytes]:
    """A whole (finite) response."""
    stream = await open_stream(host, port, path, **kwargs)  # type: ignore[arg-type]
    try:
        if "content-length" in stream.headers:
            size = int(stream.headers["content-length"])
            body = await asyncio.wait_for(stream.reader.readexactly(size), READ_TIMEOUT)
        else:
            body = await stream.read_to_end()
        return stream.status, stream.headers, body
    finally:
        await stream.close()


@dataclass(frozen=True)
class Page:
    flags: int
    granule: int
    serial: int
    seq: int
    packets: list[bytes]


def parse_pages(data: bytes, *, partial: bool = False) -> list[Page]:
    """Ogg pages (capture pattern and CRC checked); ``partial``: a cut last page is left out."""
    pages: list[Page] = []
    pos = 0
    while pos < len(data):
        if partial and len(data) - pos < 27:
            break
        assert data[pos:pos + 4] == b"OggS", f"no page at byte {pos}"
        _, version, flags, granule, serial, seq, crc, n = struct.unpack_from(
            "<4sBBqIIIB", data, pos)
        assert version == 0
        if partial and len(data) < pos + 27 + n:
            break
        lacing = data[pos + 27:pos + 27 + n]
        end = pos + 27 + n + sum(lacing)
        if partial and len(data) < end:
            break
        page = data[pos:end]
        assert ogg_crc(page[:22] + b"\0\0\0\0" + page[26:]) == crc, f"bad CRC at {pos}"
        packets, current, at = [], b"", pos + 27 + n
        for size in lacing:
            current += data[at:at + size]
            at += size
            if size < 255:
                packets.append(current)
                current = b""
        pages.append(Page(flags, granule, serial, seq, packets))
        pos = end
    return pages


def check_stream(data: bytes, *, ended: bool = False) -> list[Page]:
    """A valid Ogg Opus stream from its first byte: OpusHead (BOS), OpusTags, then one 20 ms
    packet per page, sequence numbers without a hole, granules 960 apart."""
    pages = parse_pages(data, partial=not ended)
    assert len(pages) >= 2
    assert pages[0].flags & 0x02 and pages[0].packets[0].startswith(b"OpusHead")
    assert pages[1].packets[0].startswith(b"OpusTags") and pages[1].granule == 0
    assert len({p.serial for p in pages}) == 1
    assert [p.seq for p in pages] == list(range(len(pages)))
    audio = pages[2:]
    assert [p.granule for p in audio] == [960 * (i + 1) for i in range(len(audio))]
    assert all(len(p.packets) == 1 for p in audio)
    if ended:
        assert pages[-1].flags & 0x04
    return pages


def decode_ogg(data: bytes) -> npt.NDArray[np.int16]:
    """Decode with PyAV (FFmpeg's Ogg demuxer and libopus): mono 48 kHz int16."""
    resampler = AudioResampler(format="s16", layout="mono", rate=48000)
    out: list[npt.NDArray[np.int16]] = []
    with av.open(io.BytesIO(data), format="ogg") as container:
        for frame in container.decode(audio=0):
            for converted in resampler.resample(frame):
                out.append(converted.to_ndarray().reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)
