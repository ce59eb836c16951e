"""`mardonar serve discord` and `mardonar discord sync` as an operator runs them (the real CLI
in a subprocess); the Discord side is tests/discord_fakes.py over real HTTP."""

# ruff: noqa: F811
from __future__ import annotations

import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.conftest import RunCli, cli_env
from tests.discord_fakes import (  # noqa: F401
    APP_ID,
    PLAY_CHANNEL,
    TOKEN,
    FakeDiscord,
    fake_api,
    interaction_payload,
)
from tests.engine_helpers import copy_content


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_serve_without_a_token_is_one_line_exit_2(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("serve", "discord", cwd=copy_content(tmp_path / "content"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "mardonar: DISCORD_TOKEN is not set: put the bot's token (Discord developer portal → "
        "your application → Bot → Reset Token) in DISCORD_TOKEN, in the environment or .env"
    ]


def test_serve_with_a_malformed_token_never_shows_it(run_cli: RunCli, tmp_path: Path) -> None:
    content = copy_content(tmp_path / "content")
    for token, problem in (
        ("hunter2-not-a-token", "has 1 dot-separated part(s) where a bot token has 3"),
        (f"Bot {TOKEN}", "starts with 'Bot ': leave the prefix out"),
    ):
        result = run_cli(
            "serve",
            "discord",
            cwd=content,
            env={"DISCORD_TOKEN": token, "DISCORD_ALLOWED_CHANNELS": "1"},
        )
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"mardonar: DISCORD_TOKEN is set but {problem}")
        assert "hunter2" not in line and TOKEN not in line


def test_serve_with_no_allowed_channels_says_so_loudly(
    run_cli: RunCli, tmp_path: Path, fake_api: FakeDiscord
) -> None:
    fake_api.refuse_token = True  # so the run ends right after the start-up log
    result = run_cli(
        "serve",
        "discord",
        "--discord-api",
        fake_api.url,
        cwd=copy_content(tmp_path / "content"),
        env={"DISCORD_TOKEN": TOKEN},
    )
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    warnings = [r for r in logged if r["level"] == "warning"]
    assert any(
        r["msg"].startswith("DISCORD_ALLOWED_CHANNELS is empty: the bot will answer in NO channel")
        for r in warnings
    ), result.stderr
    assert result.returncode == 1
    assert last_line(result.stderr).startswith("mardonar: DISCORD_TOKEN was refused by Discord")
    assert TOKEN not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_serve_outside_a_content_repository(run_cli: RunCli) -> None:
    result = run_cli("serve", "discord", env={"DISCORD_TOKEN": TOKEN})
    assert result.returncode == 2
    assert "no persona.yaml in" in last_line(result.stderr)


def test_sync_to_one_server(run_cli: RunCli, fake_api: FakeDiscord) -> None:
    result = run_cli(
        "discord",
        "sync",
        "--guild",
        "42",
        "--discord-api",
        fake_api.url,
        env={"DISCORD_TOKEN": TOKEN},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "registered 2 command(s) (/encounter, /character) in server 42"
    (put,) = [c for c in fake_api.calls if c.method == "PUT"]
    assert put.path == f"/applications/{APP_ID}/guilds/42/commands"
    commands = {command["name"]: command for command in put.body}
    start = {o["name"]: o for o in commands["encounter"]["options"]}["start"]
    assert start["options"][0]["name"] == "spec" and start["options"][0]["autocomplete"] is True
    assert {o["name"] for o in commands["encounter"]["options"]} == {
        "start",
        "status",
        "end",
        "list",
    }
    (character_set,) = commands["character"]["options"]
    assert [o["name"] for o in character_set["options"]] == ["name", "class", "level"]


def test_sync_globally_or_to_the_configured_server(run_cli: RunCli, fake_api: FakeDiscord) -> None:
    result = run_cli("discord", "sync", "--discord-api", fake_api.url, env={"DISCORD_TOKEN": TOKEN})
    assert result.returncode == 0, result.stderr
    assert "globally" in result.stdout
    result = run_cli(
        "discord",
        "sync",
        "--discord-api",
        fake_api.url,
        env={"DISCORD_TOKEN": TOKEN, "DISCORD_GUILD_ID": "77"},
    )
    assert result.returncode == 0, result.stderr
    paths = [c.path for c in fake_api.calls if c.method == "PUT"]
    assert paths == [
        f"/applications/{APP_ID}/commands",
        f"/applications/{APP_ID}/guilds/77/commands",
    ]


def test_sync_refuses_a_client_id_of_another_application(
    run_cli: RunCli, fake_api: FakeDiscord
) -> None:
    result = run_cli(
        "discord",
        "sync",
        "--discord-api",
        fake_api.url,
        env={"DISCORD_TOKEN": TOKEN, "DISCORD_CLIENT_ID": "12345"},
    )
    assert result.returncode == 1
    assert last_line(result.stderr) == (
        f"mardonar: DISCORD_CLIENT_ID=12345 is not the application of DISCORD_TOKEN (that is "
        f"{APP_ID}): set DISCORD_CLIENT_ID to {APP_ID}, or leave it empty"
    )
    assert not [c for c in fake_api.calls if c.method == "PUT"]
    ok = run_cli(
        "discord",
        "sync",
        "--discord-api",
        fake_api.url,
        env={"DISCORD_TOKEN": TOKEN, "DISCORD_CLIENT_ID": str(APP_ID)},
    )
    assert ok.returncode == 0, ok.stderr


def test_an_unreachable_discord_is_one_line_saying_the_bot_exits(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """It said "the bot retries on its own" and exited, naming ClientConnectorError, after
    a JSON log line: two lines, one of them untrue."""
    with socket.socket() as closed:  # bound, never listening: refused at once
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        result = run_cli(
            "serve",
            "discord",
            "--discord-api",
            f"http://127.0.0.1:{port}/api/v10",
            "--discord-gateway",
            f"ws://127.0.0.1:{port}/",
            cwd=copy_content(tmp_path / "content"),
            env={
                "DISCORD_TOKEN": TOKEN,
                "DISCORD_ALLOWED_CHANNELS": str(PLAY_CHANNEL),
                "DATA_DIR": str(tmp_path / "data"),
            },
        )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "mardonar: cannot reach Discord: connection refused; check this host's network, DNS "
        "and firewall (the bot exits; compose and systemd start it again)"
    ]


def test_sync_without_a_token(run_cli: RunCli) -> None:
    result = run_cli("discord", "sync")
    assert result.returncode == 2
    assert "DISCORD_TOKEN is not set" in last_line(result.stderr)


class Stderr:
    """Lines of a running process's stderr, collected on a thread as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stderr is not None
        stream = process.stderr
        threading.Thread(target=lambda: [self.lines.put(ln) for ln in stream], daemon=True).start()

    def wait_for(self, text: str, timeout: float = 60) -> str:
        while True:
            line = self.lines.get(timeout=timeout)
            self.seen.append(line)
            if text in line:
                return line


def test_serve_becomes_ready_and_stops_cleanly_on_sigterm(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    content = copy_content(tmp_path / "content")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mardonar",
            "serve",
            "discord",
            "--health-port",
            "0",
            "--discord-api",
            fake_api.url,
            "--discord-gateway",
            fake_api.gateway_url,
        ],
        cwd=content,
        env=cli_env(
            {
                "DISCORD_TOKEN": TOKEN,
                "DISCORD_ALLOWED_CHANNELS": str(PLAY_CHANNEL),
                "DATA_DIR": str(tmp_path / "data"),
            }
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stderr = Stderr(process)
        started = json.loads(stderr.wait_for("health server on port"))
        port = int(started["msg"].split("port ")[1].split()[0])
        # Loopback unless MARDONAR_HEALTH_HOST says otherwise: /metrics is not for the world.
        assert f"port {port} of 127.0.0.1 " in started["msg"]
        body: dict[str, object] = {}
        for _ in range(300):  # until the gateway session is ready (a few seconds)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz") as response:
                    body = json.loads(response.read())
                    break
            except urllib.error.HTTPError as error:
                body = json.loads(error.read())
            time.sleep(0.1)
        assert body.get("ready") is True, body
        assert body["checks"] == {"accepting": "ready", "gateway": "ready", "store": "ready"}
        assert fake_api.identified == 1
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
            assert b"mardonar_active_sessions 0.0" in response.read()

        # A slash command over the websocket, answered over REST: the whole real path.
        command = interaction_payload(fake_api, PLAY_CHANNEL, 501, "encounter", "list")
        fake_api.push("INTERACTION_CREATE", command)
        replies: list[dict[str, object]] = []
        for _ in range(300):
            replies = fake_api.interaction_replies(int(command["id"]))
            if replies:
                break
            time.sleep(0.1)
        assert replies and "**goblin-toll-bridge**" in str(replies[0]["data"])

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        stderr.wait_for("every running turn finished; closing")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    everything = "".join(stderr.seen)
    assert TOKEN not in everything
    assert "Traceback" not in everything
