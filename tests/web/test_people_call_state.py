"""The page's pure people and call state modules (web/people_state.js, web/call_state.js)
under node's own test runner, no browser.

node missing: the tests skip, or fail under CI=true.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.web.test_state_module import node_path

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULES = ("people_state", "call_state")


@pytest.mark.parametrize("module", MODULES)
def test_state_module_passes_its_node_tests(module: str) -> None:
    tests = REPO_ROOT / "web" / f"{module}.test.mjs"
    done = subprocess.run([node_path(), "--test", str(tests)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout and "# pass 0" not in done.stdout


@pytest.mark.parametrize("module", MODULES)
def test_state_module_touches_no_browser_api_and_no_clock(module: str) -> None:
    # Pure: it loads where there is no DOM (node), and time comes in as an argument.
    source = (REPO_ROOT / "web" / f"{module}.js").read_text(encoding="utf-8")
    for name in ("document.", "window.", "sessionStorage", "WebSocket", "setTimeout",
                 "setInterval", "Date.now", "new Date", "import "):
        assert name not in source, name
