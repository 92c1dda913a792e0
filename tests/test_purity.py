"""Pure modules import no asyncio, aiortc, av, redis or websockets (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"asyncio", "aiortc", "av", "redis", "websockets"}
PURE_FILES = sorted(
    {p for p in (ROOT / "protocol").glob("*.py")}
    | {ROOT / "rooms" / "model.py", ROOT / "rooms" / "machine.py", ROOT / "audio" / "mixer.py"}
)


def imported_roots(source: str) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in {
                "__import__",
                "import_module",
            }
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_scanner_sees_every_import_form() -> None:
    source = (
        "import os, asyncio.events\n"
        "from redis.asyncio import Redis\n"
        "from . import sibling\n"
        "def f():\n    import av\n"
        "importlib.import_module('aiortc.mediastreams')\n"
        "__import__('websockets')\n"
    )
    assert imported_roots(source) == {"os", "asyncio", "redis", "av", "aiortc", "websockets"}


@pytest.mark.parametrize(
    "path", [p for p in PURE_FILES if p.exists()], ids=lambda p: str(p.relative_to(ROOT))
)
def test_pure_module_imports(path: Path) -> None:
    bad = imported_roots(path.read_text(encoding="utf-8")) & FORBIDDEN
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_protocol_package_is_scanned() -> None:
    names = {p.name for p in PURE_FILES if p.exists()}
    assert {"codec.py", "validate.py", "tokens.py", "ratelimit.py", "schema.py"} <= names
