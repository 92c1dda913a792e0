"""`run_server.py token` mints version 1.1's claims (`--app`, `--verified`, `--city`), and a
server reads them from `hello` (docs/running.md "Tokens")."""

from __future__ import annotations

import subprocess
import sys

from server.process import RUN_SERVER
from tests.support.server import WireClient, running_server

SECRET = "t" * 32


def mint(*flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUN_SERVER), "token", "--secret", SECRET,
                           "--user", "ann", *flags], capture_output=True, text=True,
                          timeout=60)


async def test_minted_claims_reach_the_session_and_the_profile() -> None:
    token = mint("--app", "duoshan", "--verified", "--city", "Chengdu").stdout.strip()
    plain = mint().stdout.strip()
    async with running_server(secret=SECRET) as server:
        client = await WireClient.connect(server.url)
        reply = await client.call("hello", token=token)
        assert (reply["app"], reply["verified"]) == ("duoshan", True)
        assert (await client.call("get_profile", user="ann"))["profile"]["city"] == "Chengdu"
        reply = await client.call("hello", token=plain)
        assert (reply["app"], reply["verified"]) == ("main", False)
        await client.close()


def test_bad_claim_flags_are_one_line_errors() -> None:
    for flags in (("--app", "Not-Lower"), ("--city", "c" * 65)):
        result = mint(*flags)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1].startswith("run_server.py token: error:")
