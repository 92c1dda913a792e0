"""The page's pure props state module (web/props_state.js) under node's own test runner, no
browser. node missing: the test skips, or fails under CI=true."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.web.test_state_module import node_path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_props_state_passes_its_node_tests() -> None:
    done = subprocess.run([node_path(), "--test", str(REPO_ROOT / "web" / "props_state.test.mjs")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout


def test_props_state_touches_no_browser_api_and_no_clock() -> None:
    source = (REPO_ROOT / "web" / "props_state.js").read_text(encoding="utf-8")
    for name in ("document.", "window.", "sessionStorage", "WebSocket", "setTimeout",
                 "setInterval", "Date.now", "new Date", "import "):
        assert name not in source, name
