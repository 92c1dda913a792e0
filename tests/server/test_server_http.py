"""The plain HTTP side of the port: /healthz, /metrics, the web page; only /ws upgrades."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from server.http import resolve_static
from tests.support.server import http_get, running_server


@pytest.fixture
def web_dir(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>voice</title>")
    (root / "app.js").write_text("export const x = 1;\n")
    (root / "js" / "mod.mjs").write_text("export {};\n")
    (root / "style.css").write_text("body{}\n")
    (root / ".secret").write_text("hidden")
    (tmp_path / "outside.txt").write_text("outside")
    (root / "link.txt").symlink_to(tmp_path / "outside.txt")
    return root


async def test_healthz() -> None:
    async with running_server() as srv:
        status, headers, body = await http_get(srv.host, srv.port, "/healthz")
        assert (status, body) == (200, b"ok\n")
        assert headers["content-type"].startswith("text/plain")
        srv.gateway.stopping = True  # what stop() sets first
        status, _, _ = await http_get(srv.host, srv.port, "/healthz")
        assert status == 503
        srv.gateway.stopping = False


async def test_static_files(web_dir: Path) -> None:
    async with running_server(web_dir=web_dir) as srv:
        status, headers, body = await http_get(srv.host, srv.port, "/")
        assert status == 200 and body.startswith(b"<!doctype html>")
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert int(headers["content-length"]) == len(body)
        status, headers, body = await http_get(srv.host, srv.port, "/app.js?v=2")
        assert status == 200 and headers["content-type"].startswith("text/javascript")
        status, headers, _ = await http_get(srv.host, srv.port, "/js/mod.mjs")
        assert status == 200 and headers["content-type"].startswith("text/javascript")
        status, headers, _ = await http_get(srv.host, srv.port, "/style.css")
        assert status == 200 and headers["content-type"].startswith("text/css")
        status, _, body = await http_get(srv.host, srv.port, "/index.html")
        assert status == 200
        for path in ("/nope.js", "/.secret", "/../outside.txt", "/%2e%2e/outside.txt",
                     "/js/../../outside.txt", "/link.txt", "/js", "/%00", "//etc/passwd",
                     "/js%2f..%2f..%2foutside.txt", "/..%5coutside.txt"):
            status, _, body = await http_get(srv.host, srv.port, path)
            assert status == 404, path
            assert b"outside" not in body and b"hidden" not in body


async def test_the_repository_page_is_served_by_default() -> None:
    async with running_server() as srv:
        status, headers, _body = await http_get(srv.host, srv.port, "/")
        if not (srv.settings.web_dir / "index.html").is_file():
            pytest.fail("web/index.html is missing from the repository")
        assert status == 200 and headers["content-type"].startswith("text/html")


def test_resolve_static_refuses_escapes(web_dir: Path) -> None:
    assert resolve_static(web_dir, "/") == (web_dir / "index.html").resolve()
    assert resolve_static(web_dir, "/js/mod.mjs") == (web_dir / "js" / "mod.mjs").resolve()
    for path in ("/../outside.txt", "/link.txt", "/.secret", "/js/.", "/a\x00b", "/js\\..\\x"):
        assert resolve_static(web_dir, path) is None, path


async def test_only_ws_upgrades() -> None:
    async with running_server() as srv:
        base = f"ws://{srv.host}:{srv.port}"
        for path in ("/", "/healthz", "/other"):
            with pytest.raises(InvalidStatus):
                async with connect(base + path):
                    pass
        async with connect(base + "/ws"):
            pass
        # A plain GET of /ws is not a websocket handshake.
        status, _, _ = await http_get(srv.host, srv.port, "/ws")
        assert status == 426
