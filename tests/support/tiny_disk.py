"""Run a program with a tiny, real tmpfs mounted on a folder, seen by that program only:
`python -m tests.support.tiny_disk --size 64k --mount DIR -- PROGRAM.py ARGS...`.

A full disk for the recording tests without root: the process enters a user namespace of its
own (it is root there) and a mount namespace, mounts a tmpfs of the given size on DIR, then
runs PROGRAM as `__main__`. Writes beyond the size fail with ENOSPC, as on a full disk. The
files live as long as the process; read them through the program (the server's downloads).

`available()` says whether this machine allows it (unprivileged user namespaces).
"""

from __future__ import annotations

import ctypes
import os
import runpy
import subprocess
import sys
import tempfile

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_REC = 0x4000
MS_PRIVATE = 0x40000


def _fail(what: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def enter(mount: str, size: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        _fail("unshare")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        _fail("mount --make-rprivate /")
    if libc.mount(b"tmpfs", mount.encode(), b"tmpfs", 0, f"size={size}".encode()) != 0:
        _fail(f"mount tmpfs on {mount}")


def available() -> str | None:
    """None when a tiny disk can be had here, else why not."""
    with tempfile.TemporaryDirectory() as folder:
        probe = subprocess.run(
            [sys.executable, "-m", "tests.support.tiny_disk", "--size", "16k", "--mount", folder,
             "--", "-c", "import os; os.statvfs('.')"],
            capture_output=True, text=True, timeout=30,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return None if probe.returncode == 0 else (probe.stderr.strip().splitlines() or ["?"])[-1]


def main(argv: list[str]) -> None:
    split = argv.index("--")
    options, program = argv[:split], argv[split + 1:]
    size = options[options.index("--size") + 1]
    mount = options[options.index("--mount") + 1]
    enter(mount, size)
    if program[:1] == ["-c"]:
        exec(program[1], {"__name__": "__main__"})  # the probe of available()
        return
    sys.argv = program
    runpy.run_path(program[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
