"""`mardonar doctor` as an operator runs it: a subprocess against real servers on 127.0.0.1.

The servers are real: the loopback OpenAI-compatible server of tests/llm_server.py for the
LLM rows, a real redis-server (tests/redis_server.py), and a stdlib HTTP server for the
GraphMCP and Foundry relay rows. "Down" is a port that is bound but not listening (the
connection is refused at once, and no other process can take the port meanwhile); "silent"
is a port that accepts connections and never answers.
"""

# ruff: noqa: F811
from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mardonar.ops.doctor.discord import bot_token_problem
from mardonar.urls import shown_url
from tests.conftest import REPO_ROOT
from tests.llm_server import Reply, ScriptedServer, llm_server  # noqa: F401
from tests.mcp_graph_server import GraphServer, graph_server  # noqa: F401
from tests.redis_server import RedisServerError, redis_server, running_redis  # noqa: F401
from tests.vtt_relay import API_KEY as RELAY_KEY
from tests.vtt_relay import RelayServer, World

RunCli = Callable[..., subprocess.CompletedProcess[str]]

PRIMARY = "LLM primary (LiteLLM)"
FALLBACK = "LLM fallback (Ollama)"

BOT_ID = "123456789012345678"
TOKEN_HMAC = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"
"""The secret part of the test bot token; it must never appear in doctor's output."""
BOT_TOKEN = base64.urlsafe_b64encode(BOT_ID.encode()).decode().rstrip("=") + ".GhIjKl." + TOKEN_HMAC


# ---------------------------------------------------------------------- servers


class _Quiet(BaseHTTPRequestHandler):
    """Answers every GET with 200, like any web server in front of GraphMCP or the relay."""

    def do_GET(self) -> None:
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest's output clean
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    """`http://127.0.0.1:PORT` of a stdlib HTTP server that answers every GET with 200."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


# ---------------------------------------------------------------------- helpers


def doctor_json(
    run_cli: RunCli, env: dict[str, str], *args: str, cwd: Path | None = None
) -> tuple[int, list[dict[str, str]]]:
    result = run_cli("doctor", "--format", "json", *args, env=env, cwd=cwd, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    rows = json.loads(result.stdout)
    return result.returncode, rows


def rows_of(rows: list[dict[str, str]], part: str) -> list[dict[str, str]]:
    found = [row for row in rows if row["part"] == part]
    assert found, f"no {part!r} row in {json.dumps(rows, indent=1)}"
    return found


def failures(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [row for row in rows if row["status"] == "fail"]


# ---------------------------------------------------------------------- nothing configured


def test_nothing_configured_passes_with_the_offline_narrator(
    run_cli: RunCli, tmp_path: Path
) -> None:
    result = run_cli("doctor", env={"DATA_DIR": str(tmp_path / "data")})

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "not configured — the offline narrator plays" in out
    assert "items are recorded, not pushed" in out
    assert "only needed for serve discord" in out
    assert "✗" not in out and "✓" in out
    assert out.rstrip().endswith("doctor: every configured part works")
    assert (tmp_path / "data").is_dir(), "the embedded-store check creates DATA_DIR"
    assert list((tmp_path / "data").iterdir()) == [], "the probe file is deleted again"


def test_json_rows_have_a_stable_shape(run_cli: RunCli, tmp_path: Path) -> None:
    code, rows = doctor_json(run_cli, {"DATA_DIR": str(tmp_path / "data")})

    assert code == 0
    assert isinstance(rows, list) and rows
    for row in rows:
        assert set(row) == {"part", "check", "status", "detail", "fix"}
        assert row["status"] in {"ok", "fail", "warn", "skip"}
        assert all(isinstance(value, str) for value in row.values())
    parts = [row["part"] for row in rows]
    assert parts[0] == "Settings"
    for part in ("LLM", "Storage", "Memory", "Foundry relay", "Discord", "Content"):
        assert part in parts
    (llm,) = rows_of(rows, "LLM")
    assert llm["status"] == "ok" and "offline narrator" in llm["detail"]


# ---------------------------------------------------------------------- everything working


PING_CALL = Reply(tool_calls=[("ping", {})])
"""What a model with working tool calls answers to the probe."""


def test_everything_working_passes_with_every_row_ok(
    run_cli: RunCli,
    tmp_repo: Path,
    llm_server: ScriptedServer,
    redis_server: str,
    graph_server: GraphServer,
) -> None:
    llm_server.api_key = "sk-secret-123"
    llm_server.default = PING_CALL
    # Ollama: its bare server URL (doctor adds /v1) and a model it lists as `name:latest`
    with (
        ScriptedServer(models=["llama3.1:latest"]) as ollama,
        RelayServer(World()) as relay,
    ):
        ollama.default = PING_CALL
        env = {
            **llm_server.env(),
            "OLLAMA_BASE_URL": f"http://127.0.0.1:{ollama.port}",
            "OLLAMA_MODEL": "llama3.1",
            "REDIS_URL": redis_server,
            "GRAPHMCP_URL": graph_server.url,
            "VTT_RELAY_URL": relay.url,
            "DISCORD_TOKEN": BOT_TOKEN,
            "DISCORD_CLIENT_ID": BOT_ID,
            "DISCORD_ALLOWED_CHANNELS": "234567890123456789",
        }
        code, rows = doctor_json(run_cli, env, "--strict", cwd=tmp_repo)
        text = run_cli("doctor", env=env, cwd=tmp_repo)

    assert code == 0, json.dumps(rows, indent=1)
    assert [row for row in rows if row["status"] != "ok"] == []
    checks = [(row["part"], row["check"]) for row in rows]
    for part in (PRIMARY, FALLBACK):
        assert [c for p, c in checks if p == part] == [
            "reachable",
            "model",
            "tool calls",
            "usage",
            "context window",
        ]
    assert "/v1" in rows_of(rows, FALLBACK)[0]["detail"]
    assert len(ollama.chat_requests) == 2  # one probe from each run, on the /v1 path
    assert ollama.chat_requests[0].path.startswith("/v1/")
    assert text.returncode == 0, text.stdout
    assert "✗" not in text.stdout and "⚠" not in text.stdout
    assert text.stdout.rstrip().endswith("doctor: every configured part works")
    assert "sk-secret-123" not in text.stdout + json.dumps(rows)
    (foundry,) = rows_of(rows, "Foundry relay")
    assert "Foundry world 'Mossback Test World' connected" in foundry["detail"]
    assert RELAY_KEY not in text.stdout + json.dumps(rows)


def test_only_ollama_configured_is_enough(run_cli: RunCli, llm_server: ScriptedServer) -> None:
    llm_server.default = PING_CALL
    code, rows = doctor_json(run_cli, llm_server.env("OLLAMA"))

    assert code == 0, failures(rows)
    (primary,) = rows_of(rows, PRIMARY)
    assert primary["status"] == "skip" and "Ollama" in primary["detail"]
    assert [row["status"] for row in rows_of(rows, FALLBACK)] == ["ok"] * 5


# ---------------------------------------------------------------------- LLM failures


def test_llm_down_names_litellm_base_url(run_cli: RunCli, closed_port: int) -> None:
    env = {"LITELLM_BASE_URL": f"http://127.0.0.1:{closed_port}/v1", "LITELLM_MODEL": "gpt-x"}
    started = time.monotonic()
    code, rows = doctor_json(run_cli, env)

    assert code == 1
    reachable, model, tools, usage, window = rows_of(rows, PRIMARY)
    assert reachable["check"] == "reachable" and reachable["status"] == "fail"
    assert "LITELLM_BASE_URL" in reachable["fix"]
    # what could not be checked is –, not four more failures to chase
    assert model["status"] == tools["status"] == usage["status"] == window["status"] == "skip"
    assert failures(rows) == [reachable]
    assert time.monotonic() - started < 10  # refused at once: no waiting for timeouts


def test_missing_model_names_litellm_model(run_cli: RunCli, llm_server: ScriptedServer) -> None:
    llm_server.strict_models = True  # a chat for an unknown model gets 404, as LiteLLM does
    code, rows = doctor_json(run_cli, llm_server.env(model="gpt-nope"))

    assert code == 1
    reachable, model, *_ = rows_of(rows, PRIMARY)
    assert reachable["status"] == "ok"
    assert model["status"] == "fail" and "gpt-nope" in model["detail"]
    assert "LITELLM_MODEL" in model["fix"] and llm_server.model in model["fix"]


def test_a_model_without_tool_calls_points_to_json_tool_mode(
    run_cli: RunCli, llm_server: ScriptedServer
) -> None:
    llm_server.default = Reply("pong")
    code, rows = doctor_json(run_cli, llm_server.env())

    assert code == 1
    (bad,) = failures(rows)
    assert bad["part"] == PRIMARY and bad["check"] == "tool calls"
    assert "MARDONAR_TOOL_MODE=json" in bad["fix"]


def test_secrets_never_appear_in_any_output(
    run_cli: RunCli, llm_server: ScriptedServer, closed_port: int
) -> None:
    """A wrong key that the server echoes back (LiteLLM does), a Discord token, a Redis
    password: none of them in the table, the JSON or stderr."""
    llm_server.api_key = "sk-the-right-one"
    env = {
        **llm_server.env(),
        "LITELLM_API_KEY": "sk-secret-123",
        "DISCORD_TOKEN": BOT_TOKEN,
        "REDIS_URL": f"redis://:redis-pass-456@127.0.0.1:{closed_port}/0",
    }
    text = run_cli("doctor", env=env)
    as_json = run_cli("doctor", "--format", "json", env=env)

    assert text.returncode == as_json.returncode == 1
    assert any("LITELLM_API_KEY" in row["fix"] for row in failures(json.loads(as_json.stdout))), (
        as_json.stdout
    )
    everything = text.stdout + text.stderr + as_json.stdout + as_json.stderr
    for secret in ("sk-secret-123", BOT_TOKEN, TOKEN_HMAC, "redis-pass-456"):
        assert secret not in everything
    assert any(r.headers.get("authorization") for r in llm_server.requests), "key not sent"


# ---------------------------------------------------------------------- half-configured LLM


@pytest.mark.parametrize(
    ("env", "part", "names"),
    [
        ({"LITELLM_BASE_URL": "http://127.0.0.1:9/v1"}, PRIMARY, "LITELLM_MODEL"),
        ({"LITELLM_MODEL": "gpt-4o-mini"}, PRIMARY, "LITELLM_BASE_URL"),
        ({"LITELLM_API_KEY": "sk-half-secret-999"}, PRIMARY, "LITELLM_BASE_URL"),
        ({"OLLAMA_BASE_URL": "http://127.0.0.1:9"}, FALLBACK, "OLLAMA_MODEL"),
        ({"OLLAMA_MODEL": "llama3.1"}, FALLBACK, "OLLAMA_BASE_URL"),
    ],
    ids=["url-no-model", "model-no-url", "key-no-url", "ollama-url-no-model", "ollama-model"],
)
def test_half_configured_llm_fails_with_the_fix(
    run_cli: RunCli, tmp_path: Path, env: dict[str, str], part: str, names: str
) -> None:
    code, rows = doctor_json(run_cli, {**env, "DATA_DIR": str(tmp_path / "data")})

    assert code == 1
    (bad,) = failures(rows)
    assert bad["part"] == part and bad["check"] == "configuration"
    assert names in bad["fix"]
    assert "sk-half-secret-999" not in json.dumps(rows)


# ---------------------------------------------------------------------- Redis and DATA_DIR


def test_redis_working(run_cli: RunCli, tmp_path: Path, redis_server: str) -> None:
    code, rows = doctor_json(
        run_cli, {"REDIS_URL": redis_server, "DATA_DIR": str(tmp_path / "data")}
    )

    assert code == 0, failures(rows)
    ping, data = rows_of(rows, "Storage")
    assert ping["check"] == "Redis PING" and ping["status"] == "ok"
    assert ping["detail"].startswith("Redis ") and redis_server in ping["detail"]
    assert data["check"] == "DATA_DIR" and data["status"] == "ok"


def test_redis_down_names_redis_url(run_cli: RunCli, tmp_path: Path, closed_port: int) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{closed_port}/0"
    result = run_cli("doctor", env={"REDIS_URL": url, "DATA_DIR": str(tmp_path / "data")})

    assert result.returncode == 1
    assert "hunter2-secret" not in result.stdout + result.stderr
    _code, rows = doctor_json(run_cli, {"REDIS_URL": url, "DATA_DIR": str(tmp_path / "data")})
    (bad,) = failures(rows)
    assert bad["part"] == "Storage" and bad["check"] == "Redis PING"
    assert f"127.0.0.1:{closed_port}" in bad["detail"]
    assert "REDIS_URL" in bad["fix"]
    assert "hunter2-secret" not in json.dumps(rows)


def test_redis_password_missing_wrong_and_right(run_cli: RunCli, tmp_path: Path) -> None:
    with running_redis(tmp_path, "--requirepass", "redis-pass-456") as url:
        host = url.removeprefix("redis://")
        results = {
            name: doctor_json(run_cli, {"REDIS_URL": redis_url, "DATA_DIR": str(tmp_path / "d")})
            for name, redis_url in (
                ("none", url),
                ("wrong", f"redis://:wrong-pass-789@{host}"),
                ("right", f"redis://:redis-pass-456@{host}"),
            )
        }

    code, rows = results["none"]
    (bad,) = failures(rows)
    assert code == 1 and "wants a password" in bad["detail"] and "REDIS_URL" in bad["fix"]
    code, rows = results["wrong"]
    (bad,) = failures(rows)
    assert code == 1 and "refused the password" in bad["detail"] and "REDIS_URL" in bad["fix"]
    code, rows = results["right"]
    assert code == 0, failures(rows)
    everything = json.dumps(results)
    assert "redis-pass-456" not in everything and "wrong-pass-789" not in everything


def test_unwritable_data_dir_names_data_dir(run_cli: RunCli, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where DATA_DIR should be\n", encoding="utf-8")

    for data_dir, problem in ((blocker / "data", "not writable"), (blocker, "is a file")):
        code, rows = doctor_json(run_cli, {"DATA_DIR": str(data_dir)})

        assert code == 1
        (bad,) = failures(rows)
        assert bad["part"] == "Storage" and problem in bad["detail"]
        assert "DATA_DIR" in bad["fix"]


# ---------------------------------------------------------------------- GraphMCP and relay


def test_graphmcp_and_relay_reachable(
    run_cli: RunCli, tmp_path: Path, http_server: str, graph_server: GraphServer
) -> None:
    ws_url = http_server.replace("http://", "ws://") + "/relay"
    code, rows = doctor_json(
        run_cli,
        {
            "GRAPHMCP_URL": graph_server.url,
            "VTT_RELAY_URL": ws_url,
            "DATA_DIR": str(tmp_path / "data"),
        },
    )

    assert code == 0, failures(rows)
    (graph,) = rows_of(rows, "Memory")
    (relay,) = rows_of(rows, "Foundry relay")
    assert graph["status"] == "ok" and "MCP server with 5 tools" in graph["detail"]
    # It answers, but not as the Foundry REST API relay does: reachable, yet grants would fail.
    assert relay["status"] == "warn" and ws_url in relay["detail"]
    assert "did not answer like the Foundry REST API relay" in relay["detail"]
    assert relay["fix"] == "point VTT_RELAY_URL at the Foundry REST API relay"


def test_graphmcp_missing_tools_are_named_with_the_fix(run_cli: RunCli, tmp_path: Path) -> None:
    server = GraphServer({"recall": "memory_search"}, without={"lore"})
    server.start()
    try:
        code, rows = doctor_json(
            run_cli, {"GRAPHMCP_URL": server.url, "DATA_DIR": str(tmp_path / "data")}
        )
        _, mapped = doctor_json(
            run_cli,
            {
                "GRAPHMCP_URL": server.url,
                "MARDONAR_GRAPHMCP_TOOLS": "recall=memory_search",
                "DATA_DIR": str(tmp_path / "data"),
            },
        )
    finally:
        server.stop()

    assert code == 1
    (graph,) = rows_of(rows, "Memory")
    assert graph["status"] == "fail"
    assert "no tool recall_memories, search_lore" in graph["detail"]
    assert "MARDONAR_GRAPHMCP_TOOLS" in graph["fix"]
    (still,) = rows_of(mapped, "Memory")
    assert still["status"] == "fail" and "no tool search_lore" in still["detail"]


def test_graphmcp_url_that_is_not_mcp_fails(
    run_cli: RunCli, tmp_path: Path, http_server: str
) -> None:
    code, rows = doctor_json(
        run_cli, {"GRAPHMCP_URL": http_server + "/mcp", "DATA_DIR": str(tmp_path / "data")}
    )

    assert code == 1
    (graph,) = rows_of(rows, "Memory")
    assert graph["status"] == "fail" and "cannot use" in graph["detail"]
    assert "GRAPHMCP_URL" in graph["fix"]


def test_graphmcp_and_relay_down_name_their_settings(
    run_cli: RunCli, tmp_path: Path, closed_port: int
) -> None:
    down = f"http://127.0.0.1:{closed_port}"
    code, rows = doctor_json(
        run_cli,
        {"GRAPHMCP_URL": down + "/mcp", "VTT_RELAY_URL": down, "DATA_DIR": str(tmp_path / "d")},
    )

    assert code == 1
    by_part = {row["part"]: row for row in failures(rows)}
    assert set(by_part) == {"Memory", "Foundry relay"}
    assert "GRAPHMCP_URL" in by_part["Memory"]["fix"]
    assert "VTT_RELAY_URL" in by_part["Foundry relay"]["fix"]


class SilentServer:
    """Accepts connections and never answers; counts how many are open at once."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.most_open = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        import selectors

        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ)
        clients: set[socket.socket] = set()
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=0.05):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.listener:
                    client, _ = sock.accept()
                    clients.add(client)
                    selector.register(client, selectors.EVENT_READ)
                    self.most_open = max(self.most_open, len(clients))
                elif not sock.recv(65536):  # the client gave up and closed
                    selector.unregister(sock)
                    clients.discard(sock)
                    sock.close()
        for sock in (self.listener, *clients):
            sock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_silent_servers_cost_one_timeout_not_one_each(run_cli: RunCli, tmp_path: Path) -> None:
    """Three servers that accept and never answer are checked at once, each reported with
    the --timeout given. Asserted without a clock (which flaked under load): if the checks
    ran one after another, each would have closed its connection before the next opened."""
    server = SilentServer()
    try:
        silent = f"127.0.0.1:{server.port}"
        env = {
            "GRAPHMCP_URL": f"http://{silent}/mcp",
            "VTT_RELAY_URL": f"http://{silent}",
            "REDIS_URL": f"redis://{silent}/0",
            "DATA_DIR": str(tmp_path / "data"),
        }
        code, rows = doctor_json(run_cli, env, "--timeout", "1")
    finally:
        server.close()

    assert code == 1
    assert {row["part"] for row in failures(rows)} == {"Storage", "Memory", "Foundry relay"}
    assert all("within 1 s" in row["detail"] for row in failures(rows)), failures(rows)
    assert server.most_open >= 3


SLOW_IMPORT = """
import importlib.abc, sys, time

class SlowMcp(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "mcp":
            time.sleep(2)  # a busy machine: mcp took ~1.4 s to import where it was measured
        return None

sys.meta_path.insert(0, SlowMcp())
"""


def test_a_slow_import_never_counts_against_a_check(
    run_cli: RunCli, tmp_path: Path, closed_port: int
) -> None:
    """Imports used to run inside the checks' clocks, so a refused connection was reported
    as "no answer within 1.5 s" whenever importing mcp took longer than that."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_IMPORT, encoding="utf-8")
    env = {
        "GRAPHMCP_URL": f"http://127.0.0.1:{closed_port}/mcp",
        "DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": os.pathsep.join([str(site), str(REPO_ROOT)]),
    }
    code, rows = doctor_json(run_cli, env, "--timeout", "0.5")
    assert code == 1
    (memory,) = failures(rows)
    assert "no answer" not in memory["detail"] and "refused" in memory["detail"], memory


def test_a_timeout_is_reported_as_the_one_given(run_cli: RunCli, tmp_path: Path) -> None:
    """Not the check's inner limit ("no answer within 6 s" for `--timeout 0.5`)."""
    server = SilentServer()
    try:
        env = {
            "GRAPHMCP_URL": f"http://127.0.0.1:{server.port}/mcp",
            "DATA_DIR": str(tmp_path / "data"),
        }
        code, rows = doctor_json(run_cli, env, "--timeout", "0.5")
    finally:
        server.close()
    assert code == 1
    (memory,) = failures(rows)
    assert memory["part"] == "Memory" and "no answer within 0.5 s" in memory["detail"], memory


# ---------------------------------------------------------------------- Discord


def test_discord_without_channels_warns_and_strict_fails(run_cli: RunCli, tmp_path: Path) -> None:
    env = {
        "DISCORD_TOKEN": BOT_TOKEN,
        "DISCORD_CLIENT_ID": BOT_ID,
        "DATA_DIR": str(tmp_path / "data"),
    }
    result = run_cli("doctor", env=env)

    assert result.returncode == 0, result.stdout
    assert "⚠" in result.stdout and "the bot will respond nowhere" in result.stdout
    assert "1 warning(s)" in result.stdout
    assert run_cli("doctor", "--strict", env=env).returncode == 1

    code, rows = doctor_json(run_cli, {**env, "DISCORD_ALLOWED_CHANNELS": "111,222"}, "--strict")
    assert code == 0
    assert [row["status"] for row in rows_of(rows, "Discord")] == ["ok", "ok", "ok"]


def test_discord_client_id_must_be_the_tokens_application(run_cli: RunCli, tmp_path: Path) -> None:
    env = {
        "DISCORD_TOKEN": BOT_TOKEN,
        "DISCORD_ALLOWED_CHANNELS": "111",
        "DATA_DIR": str(tmp_path / "data"),
    }
    code, rows = doctor_json(run_cli, env)
    assert code == 0
    (_, _, unset) = rows_of(rows, "Discord")
    assert unset["status"] == "ok"
    assert f"the token's application {BOT_ID} is used" in unset["detail"]

    code, rows = doctor_json(run_cli, {**env, "DISCORD_CLIENT_ID": "999999999999999999"})
    assert code == 1
    (_, _, wrong) = rows_of(rows, "Discord")
    assert wrong["status"] == "fail" and "would refuse it" in wrong["detail"]
    assert wrong["fix"] == f"set DISCORD_CLIENT_ID to {BOT_ID}, or leave it empty"
    assert TOKEN_HMAC not in json.dumps(rows)


def test_malformed_discord_token_fails_without_showing_it(run_cli: RunCli, tmp_path: Path) -> None:
    token = "not-a-token-secret-777"
    result = run_cli("doctor", env={"DISCORD_TOKEN": token, "DATA_DIR": str(tmp_path / "d")})

    assert result.returncode == 1
    assert "DISCORD_TOKEN" in result.stdout
    assert token not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (BOT_TOKEN, None),
        ("Bot " + BOT_TOKEN, "starts with 'Bot '"),
        (BOT_TOKEN + " ", "spaces"),
        ("abc.def", "2 dot-separated"),
        ("a..b", "3"),
        ("bm90LWFuLWlk.GhIjKl." + TOKEN_HMAC, "first part"),  # "not-an-id"
        (BOT_TOKEN.replace("GhIjKl", "Gh+jKl"), "characters"),
    ],
)
def test_bot_token_shape(token: str, problem: str | None) -> None:
    found = bot_token_problem(token)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
        assert TOKEN_HMAC not in found


def test_urls_are_shown_without_credentials_or_query() -> None:
    assert shown_url("redis://:pw@host:6379/0") == "redis://host:6379/0"
    assert shown_url("https://user:pw@relay.example/ws?token=abc") == "https://relay.example/ws"


# ---------------------------------------------------------------------- content and settings


def test_content_lint_in_a_repository(run_cli: RunCli, tmp_repo: Path) -> None:
    code, rows = doctor_json(run_cli, {}, cwd=tmp_repo)
    (lint,) = rows_of(rows, "Content")
    assert code == 0 and lint["status"] == "ok", lint
    assert "0 error(s)" in lint["detail"]

    (tmp_repo / "specs" / "broken.yaml").write_text("id: Not A Slug\n", encoding="utf-8")
    code, rows = doctor_json(run_cli, {}, cwd=tmp_repo)
    (lint,) = rows_of(rows, "Content")
    assert code == 1 and lint["status"] == "fail"
    assert "mardonar lint" in lint["fix"]


def test_a_bad_setting_is_one_line(run_cli: RunCli) -> None:
    result = run_cli("doctor", env={"REDIS_URL": "http://localhost:6379"})

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mardonar: REDIS_URL="), result.stderr


@pytest.mark.parametrize("name", ["DISCORD_ALLOWED_CHANNELS", "DISCORD_ALLOWED_USERS"])
def test_a_channel_or_user_name_instead_of_an_id_is_caught(run_cli: RunCli, name: str) -> None:
    """`general` used to pass doctor, then kill `serve discord` with a ValueError."""
    result = run_cli("doctor", env={name: "general"})

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"mardonar: {name}='general'"), result.stderr
    assert "not a Discord id" in lines[0]


# ---------------------------------------------------------------------- the Redis fixture


def test_the_redis_fixture_is_real_and_keeps_nothing(redis_server: str) -> None:
    import asyncio

    import redis.asyncio as aioredis

    async def config() -> tuple[object, object, int]:
        client = aioredis.from_url(redis_server, decode_responses=True)
        try:
            save = (await client.config_get("save"))["save"]
            appendonly = (await client.config_get("appendonly"))["appendonly"]
            return save, appendonly, await client.dbsize()
        finally:
            await client.aclose()

    assert asyncio.run(config()) == ("", "no", 0)


def test_the_redis_fixture_fails_loudly_without_redis_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no redis-server on it

    with (
        pytest.raises(RedisServerError, match="apt-get install redis-server"),
        running_redis(tmp_path),
    ):
        pass


# ---------------------------------------------------------------------- the report


LONG_URL = "http://127.0.0.1:{port}/a-long-path/behind-a-proxy/for-the-litellm-team/v1"


def test_piped_doctor_shows_every_url_and_fix_whole(
    run_cli: RunCli, tmp_path: Path, closed_port: int
) -> None:
    """`mardonar doctor | cat` (80 columns) cut the URL and the fix: the parts to act on."""
    url = LONG_URL.format(port=closed_port)
    env = {
        "LITELLM_BASE_URL": url,
        "LITELLM_MODEL": "gpt-4o-mini",
        "DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "80",
    }
    result = run_cli("doctor", "--timeout", "2", env=env)

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    (reachable,) = [line for line in lines if "reachable:" in line and "LLM primary" in line]
    assert reachable.startswith("✗ LLM primary (LiteLLM) · reachable: ") and url in reachable
    assert "…" not in result.stdout
    fix = lines[lines.index(reachable) + 1]
    assert fix == "    fix: start the server, or set LITELLM_BASE_URL to its address"
    assert lines[-1] == "doctor: 1 failed, 0 warning(s): fix the ✗ rows above"


def test_the_terminal_table_folds_a_long_url_instead_of_cutting_it() -> None:
    import io

    from rich.console import Console

    from mardonar.cli.doctor import _print_table
    from mardonar.ops.doctor.rows import Row

    url = LONG_URL.format(port=4000)
    rows = [Row("LLM primary (LiteLLM)", "reachable", "fail", f"litellm at {url}", "fix it")]
    out = io.StringIO()
    _print_table(rows, strict=False, console=Console(file=out, width=80, force_terminal=True))

    shown = out.getvalue()
    assert "…" not in shown  # rich's default overflow ended the URL in an ellipsis
    assert len(shown.splitlines()) > 3 and "/v1" in shown  # folded over lines, to its end
