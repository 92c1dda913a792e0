"""The folders are the layers: every import of every shipped module points down a floor.

Floors, bottom up (docs/architecture.md draws them): the pure packages, the adapters around
them, the edges. `MAY_IMPORT` lists, for each package, the project packages it may import; an
import of anything else, anywhere in the package (inside functions too), fails. Pure packages
also import no I/O framework. Since every entry only names packages below it, there is no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PURE = {"protocol", "rooms", "audio", "social", "calls", "props"}
ADAPTERS = {"store", "cluster", "media", "services"}
EDGES = {"server", "client", "bench"}
PACKAGES = PURE | ADAPTERS | EDGES

MAY_IMPORT: dict[str, set[str]] = {
    # pure
    "protocol": set(),
    "audio": set(),
    "props": {"protocol"},
    "rooms": {"protocol"},
    "social": {"protocol"},
    "calls": {"protocol", "social"},
    # adapters
    "store": {"protocol", "rooms", "social", "calls"},
    "cluster": {"protocol", "rooms", "calls", "store"},
    "media": {"protocol", "rooms", "calls", "audio", "props"},
    "services": {"protocol", "rooms", "social", "calls", "props", "store"},
    # edges
    "server": PURE | ADAPTERS,
    "client": {"protocol", "audio"},
    "bench": PURE | ADAPTERS | {"server", "client"},
}
# The pure floor knows no sockets, event loop, WebRTC or Redis.
IO_FRAMEWORKS = {"asyncio", "aiortc", "redis", "websockets", "aiohttp"}


def imported_roots(source: str) -> set[str]:
    """Top-level names of every module `source` imports, in any form."""
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


def shipped_modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


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


def test_every_package_has_a_floor() -> None:
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert on_disk - {"tests"} <= PACKAGES, "a new package needs its place in MAY_IMPORT"
    for pkg, allowed in MAY_IMPORT.items():
        assert pkg not in allowed


def test_floors_have_no_cycle() -> None:
    seen: dict[str, int] = {}

    def depth(pkg: str, path: tuple[str, ...] = ()) -> int:
        assert pkg not in path, f"cycle: {' -> '.join((*path, pkg))}"
        if pkg not in seen:
            seen[pkg] = 1 + max((depth(d, (*path, pkg)) for d in MAY_IMPORT[pkg]), default=0)
        return seen[pkg]

    for pkg in MAY_IMPORT:
        depth(pkg)


@pytest.mark.parametrize("path", shipped_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down(path: Path) -> None:
    pkg = path.relative_to(ROOT).parts[0]
    roots = imported_roots(path.read_text(encoding="utf-8"))
    upward = (roots & (PACKAGES | {"tests"})) - MAY_IMPORT[pkg] - {pkg}
    assert not upward, f"{path.relative_to(ROOT)} ({pkg}) imports {sorted(upward)}"
    if pkg in PURE:
        io = roots & IO_FRAMEWORKS
        assert not io, f"pure {path.relative_to(ROOT)} imports {sorted(io)}"


def test_the_pure_floor_is_scanned() -> None:
    scanned = {p.relative_to(ROOT).parts[0] for p in shipped_modules()}
    assert {"protocol", "rooms", "audio", "store", "media", "server", "client"} <= scanned
