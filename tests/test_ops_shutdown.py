"""Graceful shutdown in a real process receiving real signals mid-turn.

The child runs one "turn" that waits for a line on stdin, so the test decides when the
turn ends without any timing: it sends the signal while the turn is running, checks that
new turns are refused, then lets the turn finish (or not) and reads what happened.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mardonar.ops.shutdown import InFlight, ShuttingDown
from tests.conftest import cli_env
from tests.engine_helpers import run

CHILD = """
import asyncio, sys
from mardonar.ops.logging import configure_logging
from mardonar.ops.shutdown import GracefulShutdown, InFlight, ShuttingDown

def say(text):
    print(text, flush=True)

async def main(grace):
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    inflight = InFlight()
    closed = asyncio.Event()

    async def close():  # what bot.close() is to the Discord bot
        say("closed")
        closed.set()

    async def turn():
        async with inflight.turn():
            say("turn started")
            await stdin.readline()  # the model is thinking until the test says "go"
            try:
                async with inflight.turn():
                    say("second turn started")
            except ShuttingDown:
                say("second turn refused")
            say("turn finished")

    async with GracefulShutdown(inflight, grace=grace, on_stop=close) as shutdown:
        task = asyncio.create_task(turn())
        await closed.wait()  # bot.start() returns once the bot is closed
    task.cancel()
    say(f"exit: abandoned={shutdown.abandoned} reason={shutdown.reason}")

configure_logging("info", stream=sys.stdout)
asyncio.run(main(float(sys.argv[1])))
"""


class Child:
    """The child process, its output read line by line (logs decoded to their `msg`)."""

    def __init__(self, grace: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(grace)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=cli_env(),
            cwd=Path(__file__).resolve().parents[1],
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.seen: list[str] = []

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def next_line(self) -> str | None:
        line = self._lines.get(timeout=30)  # a hung child fails the test instead of hanging
        if line is not None and line.startswith("{"):
            line = "log: " + json.loads(line)["msg"]
        if line is not None:
            self.seen.append(line)
        return line

    def until(self, wanted: str) -> None:
        while (line := self.next_line()) is not None:
            if wanted in line:
                return
        raise AssertionError(f"never saw {wanted!r}; output: {self.seen}")

    def rest(self) -> list[str]:
        rest = []
        while (line := self.next_line()) is not None:
            rest.append(line)
        self.process.wait(timeout=30)
        return rest

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text)
        self.process.stdin.flush()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


StartChild = Callable[[float], Child]


@pytest.fixture
def child() -> Iterator[StartChild]:
    started: list[Child] = []

    def start(grace: float) -> Child:
        started.append(Child(grace))
        return started[-1]

    yield start
    for process in started:
        process.kill()


def test_sigterm_mid_turn_refuses_new_turns_and_waits_for_the_running_one(
    child: StartChild,
) -> None:
    bot = child(600)
    bot.until("turn started")
    bot.process.send_signal(signal.SIGTERM)
    bot.until("log: SIGTERM: no new turns; waiting up to 600 s for 1 running turn(s)")
    bot.send("go\n")
    assert bot.rest() == [
        "second turn refused",
        "turn finished",
        "log: every running turn finished; closing",
        "closed",
        "exit: abandoned=0 reason=SIGTERM",
    ]
    assert bot.process.returncode == 0


def test_a_turn_that_outlives_the_grace_period_is_abandoned_and_the_bot_still_closes(
    child: StartChild,
) -> None:
    bot = child(0.2)
    bot.until("turn started")
    bot.process.send_signal(signal.SIGTERM)
    rest = bot.rest()
    assert rest[-3:] == [
        "log: closing with 1 turn(s) unfinished; their sessions resume those turns",
        "closed",
        "exit: abandoned=1 reason=SIGTERM",
    ]
    assert "turn finished" not in rest
    assert bot.process.returncode == 0


def test_a_second_signal_stops_waiting_at_once(child: StartChild) -> None:
    bot = child(600)
    bot.until("turn started")
    bot.process.send_signal(signal.SIGINT)
    bot.until("log: SIGINT: no new turns")
    bot.process.send_signal(signal.SIGINT)
    assert bot.rest() == [
        "log: SIGINT again: not waiting for running turns any longer",
        "log: closing with 1 turn(s) unfinished; their sessions resume those turns",
        "closed",
        "exit: abandoned=1 reason=SIGINT",
    ]
    assert bot.process.returncode == 0


def test_in_flight_counts_turns_and_refuses_new_ones_once_stopping() -> None:
    async def go() -> list[object]:
        inflight = InFlight()
        seen: list[object] = [await inflight.ready()]
        async with inflight.turn():
            seen.append(inflight.count)
            left = await inflight.drain(timeout=0.01)
            seen += [left, await inflight.ready()]
        seen += [inflight.count, await inflight.drain(timeout=0.01)]
        try:
            async with inflight.turn():
                seen.append("started")  # pragma: no cover - refused
        except ShuttingDown as refused:
            seen.append(str(refused))
        return seen

    assert run(go()) == [True, 1, 1, False, 0, 0, "the bot is shutting down; no new turns"]
