"""The page's pure state module (web/state.js) under node's own test runner, no browser.

node missing: the test skips, or fails under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_TESTS = REPO_ROOT / "web" / "state.test.mjs"


def node_path() -> str:
    path = shutil.which("node")
    if path is None:
        reason = "node is not installed (the web state tests run under `node --test`)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def test_web_state_module_passes_its_node_tests() -> None:
    done = subprocess.run([node_path(), "--test", str(STATE_TESTS)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout


def test_web_state_module_touches_no_browser_api() -> None:
    # Pure: it must load where there is no DOM (node), so the views' logic is testable there.
    source = (REPO_ROOT / "web" / "state.js").read_text(encoding="utf-8")
    for name in ("document.", "window.", "sessionStorage", "WebSocket", "setTimeout", "import "):
        assert name not in source, name
