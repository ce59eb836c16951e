"""A real `redis-server` for tests: `redis_server` (a fixture) and `running_redis` (the same,
as a context manager for session-scoped fixtures and scripts), and `restartable_redis`
(a persistent server a test can stop and start again on the same port and data).

Each server is a fresh process on a free 127.0.0.1 port, working in its own temporary folder,
with persistence off (`--save "" --appendonly no`), so a test starts from an empty database
and leaves nothing behind (except `restartable_redis`, whose append-only file is the
point). Starting one takes about 20 ms. The fixture yields the URL
(`redis://127.0.0.1:PORT/0`) once the server answers PING, and stops the server afterwards.

There is no skip: a machine without redis-server FAILS the tests that need it, with the
command that installs it, because a silently skipped Redis test is how a Redis bug ships.

Use it like the fixtures of tests/backends.py (no conftest.py needed):

    from tests.redis_server import redis_server  # noqa: F401   (plus `# ruff: noqa: F811`)

    def test_something(redis_server: str) -> None:
        ...  # redis_server is the URL

or, from another fixture, `request.getfixturevalue("redis_server")`.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

INSTALL_HINT = (
    "redis-server is not installed: apt-get install redis-server "
    "(the Redis tests need a real server)"
)
STARTUP_TIMEOUT = 10.0  # seconds; a cold start on a loaded CI machine takes well under 1 s


class RedisServerError(RuntimeError):
    """redis-server is missing or did not start; the message says why."""


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it; a race is retried below)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    """One raw RESP `PING` (no client library, so the fixture works without redis-py)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def _start(
    executable: str, workdir: Path, port: int, extra: Sequence[str]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            executable,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--logfile", str(workdir / "redis.log"),
            *extra,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: redis-server exits at once with persistence off
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _log_tail(workdir: Path) -> str:
    with contextlib.suppress(OSError):
        lines = (workdir / "redis.log").read_text(encoding="utf-8", errors="replace").splitlines()
        return " | ".join(line.strip() for line in lines[-3:])
    return "(no log)"


@contextlib.contextmanager
def running_redis(workdir: Path, *extra: str) -> Iterator[str]:
    """Start redis-server in `workdir` (which must exist); yield its URL; stop it.

    `extra` are more redis-server options (`"--requirepass", "pw"`); with a password the
    URL carries none, and PING-ing it at start-up is answered `-NOAUTH`, which counts as
    up. Raises `RedisServerError` when redis-server is not installed or does not start.
    """
    executable = shutil.which("redis-server")
    if executable is None:
        raise RedisServerError(INSTALL_HINT)
    for _attempt in range(3):  # another process may take the free port before redis binds it
        port = free_port()
        process = _start(executable, workdir, port, extra)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while process.poll() is None and time.monotonic() < deadline:
                if _answers_ping(port):
                    break
                time.sleep(0.01)
            else:
                if process.poll() is None:
                    raise RedisServerError(
                        f"redis-server did not answer PING within {STARTUP_TIMEOUT:g} s: "
                        f"{_log_tail(workdir)}"
                    )
                continue  # it exited (port taken?): try another port
            yield f"redis://127.0.0.1:{port}/0"
            return
        finally:
            _stop(process)
    raise RedisServerError(f"redis-server exited at start-up three times: {_log_tail(workdir)}")


class RestartableRedis:
    """A redis-server that can be stopped and started again on the same port and folder,
    with its data kept (append-only file, fsync on every write): Redis going away and
    coming back mid-session, as a restart or a crash-and-restart does in production."""

    PERSISTENT = ("--appendonly", "yes", "--appendfsync", "always")

    def __init__(self, workdir: Path, *extra: str) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RedisServerError(INSTALL_HINT)
        self.executable = executable
        self.workdir = workdir
        self.extra = (*self.PERSISTENT, *extra)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (again); returns once it answers PING with its data loaded."""
        if self.process is not None and self.process.poll() is None:
            return
        for _attempt in range(3):
            self.process = _start(self.executable, self.workdir, self.port, self.extra)
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while self.process.poll() is None and time.monotonic() < deadline:
                if _answers_ping(self.port):
                    return
                time.sleep(0.01)
            _stop(self.process)
            if self.port_is_free():
                continue  # it lost a race for the port: start it again
            break
        raise RedisServerError(f"redis-server did not start again: {_log_tail(self.workdir)}")

    def stop(self) -> None:
        """Stop it (SIGTERM); with the append-only file nothing written is lost."""
        if self.process is not None:
            _stop(self.process)

    def port_is_free(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                return False
            return True


@pytest.fixture
def restartable_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableRedis]:
    """A running, persistent redis-server that the test may `stop()` and `start()` again."""
    try:
        server = RestartableRedis(tmp_path_factory.mktemp("redis"))
        server.start()
    except RedisServerError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a fresh, empty redis-server on 127.0.0.1, stopped after the test."""
    try:
        with running_redis(tmp_path_factory.mktemp("redis")) as url:
            yield url
    except RedisServerError as error:
        pytest.fail(str(error), pytrace=False)
