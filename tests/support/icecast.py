"""Debian's icecast2 for the relay tests: a private instance on a free loopback port whose
`<relay>` pulls a room's listen.ogg from our server (the configuration docs/deployment.md
shows). Missing icecast2 fails the test under CI=true (scripts/system-deps.sh test installs
it), skips it elsewhere, with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from server.process import free_port

START_TIMEOUT = 15.0


def icecast_path() -> str:
    path = shutil.which("icecast2") or shutil.which("icecast")
    if path is None:
        reason = "no icecast2 on PATH (install the system package: scripts/system-deps.sh test)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def relay_config(*, port: int, folder: Path, upstream_host: str, upstream_port: int,
                 upstream_mount: str, local_mount: str, burst_size: int = 65535) -> str:
    """An icecast.xml with one always-on relay of ``upstream_mount``."""
    web = "/usr/share/icecast2/web"
    admin = "/usr/share/icecast2/admin"
    # Icecast will not run as root unless told whom to become.
    security = ("<changeowner><user>nobody</user><group>nogroup</group></changeowner>"
                if os.geteuid() == 0 else "")
    return f"""<icecast>
  <location>test</location>
  <admin>test@localhost</admin>
  <limits>
    <clients>100</clients>
    <sources>4</sources>
    <queue-size>524288</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>10</source-timeout>
    <burst-on-connect>1</burst-on-connect>
    <burst-size>{burst_size}</burst-size>
  </limits>
  <authentication>
    <source-password>source-test</source-password>
    <relay-password>relay-test</relay-password>
    <admin-user>admin</admin-user>
    <admin-password>admin-test</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket>
    <port>{port}</port>
    <bind-address>127.0.0.1</bind-address>
  </listen-socket>
  <relay>
    <server>{escape(upstream_host)}</server>
    <port>{upstream_port}</port>
    <mount>{escape(upstream_mount)}</mount>
    <local-mount>{escape(local_mount)}</local-mount>
    <on-demand>0</on-demand>
    <relay-shoutcast-metadata>0</relay-shoutcast-metadata>
  </relay>
  <fileserve>1</fileserve>
  <paths>
    <basedir>{folder}</basedir>
    <logdir>{folder}</logdir>
    <webroot>{web}</webroot>
    <adminroot>{admin}</adminroot>
    <pidfile>{folder}/icecast.pid</pidfile>
  </paths>
  <logging>
    <accesslog>access.log</accesslog>
    <errorlog>error.log</errorlog>
    <loglevel>3</loglevel>
  </logging>
  <security>
    <chroot>0</chroot>
    {security}
  </security>
</icecast>
"""


@dataclass
class Icecast:
    port: int
    folder: Path
    proc: subprocess.Popen[bytes]

    def log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def icecast_relay(*, upstream_host: str, upstream_port: int, upstream_mount: str,
                  local_mount: str = "/room.ogg", burst_size: int = 65535) -> Iterator[Icecast]:
    """icecast2 relaying ``upstream_mount``; yields once it accepts connections."""
    binary = icecast_path()
    with tempfile.TemporaryDirectory(prefix="icecast-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o777)  # it may write its logs as `nobody`
        port = free_port()
        config = folder / "icecast.xml"
        config.write_text(relay_config(
            port=port, folder=folder, upstream_host=upstream_host,
            upstream_port=upstream_port, upstream_mount=upstream_mount,
            local_mount=local_mount, burst_size=burst_size))
        proc = subprocess.Popen([binary, "-c", str(config)], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = Icecast(port, folder, proc)
        try:
            _wait_listening(server)
            yield server
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_listening(server: Icecast) -> None:
    import socket

    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"icecast2 exited ({server.proc.returncode}):\n{server.log()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", server.port),
                                                                    timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"icecast2 did not listen within {START_TIMEOUT:g} s:\n{server.log()}")
