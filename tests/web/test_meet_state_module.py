"""The page's pure "meet someone" module (web/meet_state.js) under node's own test runner, no
browser (with call_state.js's part of a match: match_found makes the page's live call).

node missing: the tests skip, or fail under CI=true.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.web.test_state_module import node_path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_meet_state_passes_its_node_tests() -> None:
    tests = REPO_ROOT / "web" / "meet_state.test.mjs"
    done = subprocess.run([node_path(), "--test", str(tests)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout


def test_meet_state_touches_no_browser_api_and_no_clock() -> None:
    # Pure: it loads where there is no DOM (node), and nothing in it reads a clock.
    source = (REPO_ROOT / "web" / "meet_state.js").read_text(encoding="utf-8")
    for name in ("document.", "window.", "sessionStorage", "WebSocket", "setTimeout",
                 "setInterval", "Date.now", "new Date", "import "):
        assert name not in source, name
