"""The page has a sentence for every error code of the protocol (web/protocol.js)."""

from __future__ import annotations

import re
from pathlib import Path

from protocol.errors import ErrorCode

PROTOCOL_JS = Path(__file__).resolve().parents[2] / "web" / "protocol.js"


def error_text_table() -> dict[str, str]:
    source = PROTOCOL_JS.read_text(encoding="utf-8")
    match = re.search(r"const ERROR_TEXT = \{(.*?)\n\};", source, re.S)
    assert match, "web/protocol.js should define ERROR_TEXT"
    entries = re.findall(r'^\s*([a-z_]+):\s*"([^"]+)"', match.group(1), re.M)
    return dict(entries)


def test_every_protocol_error_code_has_a_message_for_the_user() -> None:
    table = error_text_table()
    missing = [code.value for code in ErrorCode if code.value not in table]
    assert not missing, f"web/protocol.js has no message for: {missing}"
    for code, text in table.items():
        assert text.strip() and text != code, f"{code}: the message should be a sentence"
