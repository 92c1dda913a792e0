"""Settings come from flags and VOICEROOM_* variables; flags win; bad values exit 2 cleanly."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from protocol.tokens import verify_token
from server.settings import DEFAULT_WEB_DIR, Settings, parse_settings
from tests.support.server import RUN_SERVER

REPO = RUN_SERVER.parent


def test_defaults() -> None:
    settings = parse_settings([], {})
    assert settings == Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 8765)
    assert settings.redis is None and settings.secret is None and settings.dev_mode
    assert settings.node_id == f"{socket.gethostname()}:8765"
    assert (settings.grace, settings.host_grace) == (15.0, 60.0)
    assert settings.web_dir == DEFAULT_WEB_DIR and settings.media is True


def test_environment_and_flags_flags_win(tmp_path: Path) -> None:
    env = {"VOICEROOM_PORT": "9000", "VOICEROOM_SECRET": "from-env", "VOICEROOM_GRACE": "2.5",
           "VOICEROOM_REDIS": "redis://127.0.0.1:6379/0", "VOICEROOM_NODE_ID": "env-node",
           "VOICEROOM_RATE": "3", "VOICEROOM_BURST": "4", "VOICEROOM_MEDIA": "false",
           "VOICEROOM_WEB_DIR": str(tmp_path), "VOICEROOM_ANNOUNCE_ADDRESS": "10.1.2.3"}
    settings = parse_settings([], env)
    assert settings.port == 9000 and settings.secret == "from-env" and not settings.dev_mode
    assert settings.grace == 2.5 and settings.redis == "redis://127.0.0.1:6379/0"
    assert settings.node_id == "env-node" and settings.rate == 3.0 and settings.burst == 4
    assert settings.media is False and settings.web_dir == tmp_path
    assert settings.announce_address == "10.1.2.3"
    settings = parse_settings(["--port", "9100", "--secret", "from-flag", "--node-id", "n1",
                               "--host-grace", "7", "--max-connections", "5"], env)
    assert (settings.port, settings.secret, settings.node_id) == (9100, "from-flag", "n1")
    assert settings.host_grace == 7.0 and settings.max_connections == 5
    assert settings.grace == 2.5  # not given as a flag: the environment's


def test_node_id_follows_the_port() -> None:
    assert parse_settings(["--port", "9001"], {}).node_id == f"{socket.gethostname()}:9001"
    # With a port picked at bind time, two nodes still get different ids.
    assert parse_settings(["--port", "0"], {}).node_id != parse_settings(["--port", "0"],
                                                                          {}).node_id


@pytest.mark.parametrize("argv, env, words", [
    (["--port", "70000"], {}, "--port"),
    (["--port", "abc"], {}, "port number"),
    (["--grace", "-1"], {}, "--grace"),
    (["--grace", "nan"], {}, "--grace"),
    (["--rate", "0"], {}, "--rate"),
    (["--burst", "1.5"], {}, "--burst"),
    (["--redis", "http://x"], {}, "redis://"),
    (["--log-level", "LOUD"], {}, "--log-level"),
    (["--web-dir", "/definitely/not/here"], {}, "web dir"),
    ([], {"VOICEROOM_PORT": "x"}, "VOICEROOM_PORT"),
    ([], {"VOICEROOM_MEDIA": "perhaps"}, "VOICEROOM_MEDIA"),
    (["--bogus"], {}, "unrecognized"),
])
def test_bad_values_exit_2_with_a_message(argv: list[str], env: dict[str, str], words: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse_settings(argv, env)
    assert info.value.code == 2
    assert words in capsys.readouterr().err


def test_command_line_errors_have_no_traceback() -> None:
    result = subprocess.run([sys.executable, str(RUN_SERVER), "--port", "-5"], cwd=REPO,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "--port" in result.stderr and "Traceback" not in result.stderr


def test_port_in_use_is_a_clean_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, str(RUN_SERVER), "--port", str(port),
                                 "--no-media"], cwd=REPO, capture_output=True, text=True,
                                timeout=30)
    assert result.returncode == 1
    assert "cannot start" in result.stderr and "Traceback" not in result.stderr


def test_token_subcommand() -> None:
    result = subprocess.run(
        [sys.executable, str(RUN_SERVER), "token", "--secret", "s3", "--user", "bob",
         "--name", "Bob B", "--ttl", "120"],
        cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    claims = verify_token("s3", result.stdout.strip(), time.time())
    assert (claims.user, claims.name) == ("bob", "Bob B")
    assert time.time() + 60 < claims.exp <= time.time() + 121
    bad = subprocess.run([sys.executable, str(RUN_SERVER), "token", "--secret", "s",
                          "--user", "no spaces"], cwd=REPO, capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 2 and "--user" in bad.stderr and "Traceback" not in bad.stderr


def test_unreachable_redis_is_a_clean_error() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run([sys.executable, str(RUN_SERVER), "--port", "0", "--no-media",
                             "--redis", f"redis://127.0.0.1:{port}/0"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "cannot start" in result.stderr and "Traceback" not in result.stderr
