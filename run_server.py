"""Start a voice room server: `python run_server.py --host 127.0.0.1 --port 8765`.

Composition root only: read the Settings, build the parts (server/app.py), serve until SIGTERM
or SIGINT, then stop gracefully (clients closed with 1001, exit status 0).

`python run_server.py token --secret S --user U --name N [--ttl 3600] [--app A] [--verified]
[--city C]` prints a client token.

`python run_server.py export ID --format mp3|wav [--recordings DIR] [--stem USER]` exports a
recording (media/export.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from redis.exceptions import RedisError

from protocol.tokens import is_app_id, issue_token
from protocol.validate import clean_name, is_user_id
from protocol.vocabulary import CITY_MAX
from server.app import build, describe
from server.logs import configure_logging
from server.settings import ENV_PREFIX, Settings, parse_settings

log = logging.getLogger("voiceroom")

DEV_MODE_BANNER = """
##########################################################################
#  WARNING: DEVELOPMENT MODE - no secret is set.                         #
#  Anyone who can reach this port can claim to be any user.              #
#  Set --secret S (or VOICEROOM_SECRET) and hand out tokens made with    #
#  `python run_server.py token --secret S --user U --name N` to turn     #
#  token authentication on.                                              #
##########################################################################"""


def token_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="run_server.py token",
        description="Print an HS256 client token for `hello {token}`.",
    )
    parser.add_argument("--secret", default=os.environ.get(ENV_PREFIX + "SECRET"),
                        help=f"the server's secret [env {ENV_PREFIX}SECRET]")
    parser.add_argument("--user", required=True, help="user id: 1 to 64 of A-Z a-z 0-9 _ . -")
    parser.add_argument("--name", help="display name (default: the user id)")
    parser.add_argument("--ttl", type=float, default=3600.0,
                        help="seconds until the token expires (default 3600)")
    parser.add_argument("--app", help="the app the token is for: 1 to 32 of a-z 0-9 _ - "
                        "(default: none, which the server reads as `main`)")
    parser.add_argument("--verified", action="store_true",
                        help="the user is real-name verified (claim `verified: true`)")
    parser.add_argument("--city", help="the user's city (at most 64 characters); it wins "
                        "over the city of set_profile")
    args = parser.parse_args(argv)
    if not args.secret:
        parser.error(f"--secret (or {ENV_PREFIX}SECRET) is required")
    if not is_user_id(args.user):
        parser.error(f"--user {args.user!r}: must be 1 to 64 characters of A-Z a-z 0-9 _ . -")
    name = args.name if args.name is not None else args.user
    if clean_name(name) is None:
        parser.error(f"--name {name!r}: must be 1 to 64 characters")
    if not args.ttl > 0:
        parser.error("--ttl must be a number of seconds > 0")
    if args.app is not None and not is_app_id(args.app):
        parser.error(f"--app {args.app!r}: must be 1 to 32 characters of a-z 0-9 _ -")
    if args.city is not None and not 1 <= len(args.city) <= CITY_MAX:
        parser.error(f"--city: 1 to {CITY_MAX} characters")
    print(issue_token(args.secret, args.user, name, args.ttl, time.time(), app=args.app,
                      verified=True if args.verified else None, city=args.city))
    return 0


def export_main(argv: Sequence[str]) -> int:
    from media.export import FORMATS, ExportError, export

    parser = argparse.ArgumentParser(
        prog="run_server.py export",
        description="Export a recording's mix (or a speaker's stem) as MP3 or WAV (pydub; "
        "needs ffmpeg).",
    )
    parser.add_argument("id", help="the recording's id (start_recording's reply)")
    parser.add_argument("--format", required=True, choices=sorted(FORMATS))
    parser.add_argument("--recordings", default=os.environ.get(ENV_PREFIX + "RECORDINGS"),
                        help=f"the recordings folder [env {ENV_PREFIX}RECORDINGS]")
    parser.add_argument("--stem", metavar="USER", help="that speaker's own voice instead of "
                        "the mix")
    parser.add_argument("--out", help="the file to write (default: beside the recording)")
    args = parser.parse_args(argv)
    if not args.recordings:
        parser.error(f"--recordings (or {ENV_PREFIX}RECORDINGS) is required")
    folder = Path(args.recordings)
    if not folder.is_dir():
        parser.error(f"--recordings {args.recordings!r}: not a folder")
    try:
        done = export(folder, args.id, args.format, stem=args.stem,
                      out=Path(args.out) if args.out else None)
    except ExportError as exc:
        print(f"run_server.py export: {exc}", file=sys.stderr)
        return 1
    print(f"{done.path} ({done.seconds:.1f} s)")
    return 0


async def serve(settings: Settings) -> None:
    app = await build(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await app.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await app.stop()  # release what did start (the port, Redis connections)
        raise
    # What start-up made (modules, classes, the parts' long-lived state: ~70,000 objects)
    # is never garbage: out of the collector's sight, every full collection is that much
    # shorter (they run as connections and calls pile up, and pause everything).
    gc.collect()
    gc.freeze()
    log.info("serving on %s (%s)", app.url,
             ", ".join(f"{key} {value}" for key, value in describe(settings).items()))
    if settings.dev_mode:
        log.warning(DEV_MODE_BANNER)
    try:
        await stop.wait()
        log.info("stopping: closing connections")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await app.stop()
    log.info("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["token"]:
        return token_main(args[1:])
    if args[:1] == ["export"]:
        return export_main(args[1:])
    settings = parse_settings(args, prog="run_server.py")
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(serve(settings))
    except (OSError, RedisError) as exc:
        # The port is taken, the address is not ours, Redis is unreachable: say so, no traceback.
        log.error("cannot start: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
