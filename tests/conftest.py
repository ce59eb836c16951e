"""Fixtures shared by the test suite.

`run_cli` runs `python -m mardonar ...` in a subprocess, as a user would: the real entry
point, the real exit code, stdout and stderr apart. Its environment is hermetic: the
variables of CONTRACT.md §9 (and Mardonar's own) are removed, so a developer's `.env` or
shell never changes a result, and the source tree under test comes first on PYTHONPATH, so
the tests exercise this checkout even when another copy of mardonar is installed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Tests import `mardonar` from this checkout even when it is not installed (the editable
# install needs README.md and a build backend; the tests should not).
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from mardonar.config import Settings  # noqa: E402  (after the path is set)

SETTINGS_NAMES = (
    *(name.upper() for name in Settings.model_fields),
    "MARDONAR_CACHE_DIR",
    "MARDONAR_DEBUG",
)
"""Every variable that changes Mardonar's behaviour; tests start with none of them set."""

RunCli = Callable[..., "subprocess.CompletedProcess[str]"]


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment `run_cli` uses: ours cleared, this checkout first on PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key.upper() not in SETTINGS_NAMES}
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if part
    )
    env["NO_COLOR"] = "1"  # rich help without escape codes
    env["COLUMNS"] = "200"  # wide enough that help never wraps a command name
    env["PYTHONIOENCODING"] = "utf-8"
    env.pop("FORCE_COLOR", None)
    env.update(extra or {})
    return env


@pytest.fixture(autouse=True)
def _no_settings_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests see none of the developer's Mardonar variables either."""
    for name in SETTINGS_NAMES:
        monkeypatch.delenv(name, raising=False)


CHECKOUT_DOTENV = REPO_ROOT / ".env"
"""Where docs/operations.md tells an operator to put the previous bot's `.env`: in the clone."""


@pytest.fixture(autouse=True)
def _no_dotenv_of_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests never read the checkout's own `.env`: with the old bot's file there
    (REDIS_URL=redis://localhost:6379/0, GRAPHMCP_URL, ...), a test that builds Settings
    would talk to servers it never started. A `.env` a test writes in a folder of its own
    (tests/test_config.py's `workdir`) is read as usual. Subprocesses never run in the
    checkout with settings (run_cli's default folder is a fresh one)."""
    from mardonar.config import Settings

    checkout = CHECKOUT_DOTENV.resolve()
    real_init = Settings.__init__

    def init(self: Settings, **values: Any) -> None:
        env_file = values.get("_env_file", Settings.model_config.get("env_file"))
        if isinstance(env_file, str | os.PathLike) and Path(env_file).resolve() == checkout:
            values["_env_file"] = None
        real_init(self, **values)

    monkeypatch.setattr(Settings, "__init__", init)


@pytest.fixture
def run_cli(tmp_path: Path) -> RunCli:
    """`run_cli("lint", "specs/x.yaml", cwd=repo)` → CompletedProcess (text, 60 s timeout).

    `cwd` defaults to a fresh empty folder; `env` adds variables; `input` is fed to stdin.
    """

    def run(
        *args: str | os.PathLike[str],
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        workdir = cwd if cwd is not None else tmp_path / "cwd"
        workdir.mkdir(parents=True, exist_ok=True)
        return subprocess.run(
            [sys.executable, "-m", "mardonar", *map(str, args)],
            cwd=workdir,
            env=cli_env(env),
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def tmp_repo(tmp_path: Path) -> Path:
    """An empty Mardonar repository: persona.yaml (the shipped one, or a minimal one)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shipped = REPO_ROOT / "persona.yaml"
    if shipped.is_file():
        (repo / "persona.yaml").write_text(shipped.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        (repo / "persona.yaml").write_text("voice: A terse test GM.\n", encoding="utf-8")
    (repo / "specs").mkdir()
    return repo


@pytest.fixture(autouse=True, scope="session")
def _the_checkout_is_left_as_it_was() -> Iterator[None]:
    """No test writes into the checkout's transcripts/ or data/ (a test that resumed a
    session started without a transcript path once left a transcript there on every run)."""

    def written() -> set[Path]:
        return {
            path
            for folder in (REPO_ROOT / "transcripts", REPO_ROOT / "data")
            if folder.is_dir()
            for path in folder.iterdir()
            if path.is_file()
        }

    before = written()
    yield
    left = sorted(str(path.relative_to(REPO_ROOT)) for path in written() - before)
    assert not left, f"tests wrote into the checkout: {', '.join(left)}"


@pytest.fixture(autouse=True)
def _context_windows_forgotten() -> Iterator[None]:
    """The OpenAI-compatible backends remember a server's context window for the process,
    by URL; a later test's server may get the same port and report another."""
    yield
    window = sys.modules.get("mardonar.llm.openai_compat.window")
    if window is not None:
        window.forget()
