"""Killing the process (SIGKILL) mid-session and running --resume continues from the last
completed turn with nothing lost.

A real `mardonar play` subprocess is fed one line at a time through a pipe; its stdout is
read line by line on a thread, and the test waits for what the REPL prints (never a sleep).
After turn 2 is done the test sends turn 3's line and kills the process: right away, or as
soon as turn 3's roll is printed (the turn half done). Where exactly the kill lands is up to
the scheduler, so the test reads the stored session to learn what was committed, resumes
with the lines that were not, and compares everything with an uninterrupted run of the same
seed and lines: the committed transcript, the dice, the outcome, XP and items.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mardonar.engine.session import Session, Status
from mardonar.files import read_tally
from mardonar.llm.offline import OfflineNarrator
from mardonar.store.sqlite import SqliteStore
from mardonar.transcript import read_transcript
from tests.conftest import cli_env
from tests.engine_helpers import bundle as load_content
from tests.engine_helpers import copy_content, open_table

RunCli = Callable[..., subprocess.CompletedProcess[str]]
SPEC = "goblin-toll-bridge"
GUARD = 60.0
"""Seconds to wait for an expected line before failing (a hang guard, not a timing check)."""

TURNS = [
    "Good evening, Grukk. Who built this bridge?",
    "Grukk, what is wrong? You look nervous.",
    "I threaten Grukk with my axe",
    "Fine. We pay the toll.",
]
ROLL_AFTER_TURN_1 = "/roll d20"
STAMP = re.compile(r"\d{8}T\d{6}Z")


def script() -> list[str]:
    """All stdin lines of the uninterrupted run."""
    return [TURNS[0], ROLL_AFTER_TURN_1, *TURNS[1:]]


async def _ends_as_wanted(seed: int, folder: Path) -> bool:
    """Turn 3's threat fails (so nothing resolves while the process may be killed) and
    turn 4 pays the toll."""
    content = load_content(SPEC)
    table = await open_table(folder, OfflineNarrator(content, seed), seed=seed, content=content)
    try:
        for number, line in enumerate(TURNS, 1):
            await table.say("aria", line)
            if number == 1:
                await table.engine.player_roll(table.session, "aria", "d20")
            if number < 4 and table.session.status is not Status.active:
                return False
        return table.session.outcome == "paid-toll" and table.session.turn == 4
    finally:
        await table.close()


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> int:
    """The first seed for which the script resolves at turn 4, found with the engine."""
    folder = tmp_path_factory.mktemp("seeds")
    for candidate in range(1, 201):
        if asyncio.run(_ends_as_wanted(candidate, folder / str(candidate))):
            return candidate
    raise AssertionError("no seed in 1..200 makes the threat fail and the toll resolve")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_content(tmp_path_factory.mktemp("repo"))


def mardonar(*args: str | int | Path) -> list[str]:
    return [sys.executable, "-m", "mardonar", *map(str, args)]


@dataclass
class Reference:
    transcript: list[dict[str, Any]]
    session: Session


def stored_session(data: Path, status: str | None = None) -> Session | None:
    async def load() -> Session | None:
        store = SqliteStore(data / "mardonar.db")
        try:
            stored = await store.latest_session(SPEC, status=status)
            return Session.model_validate_json(stored.data) if stored else None
        finally:
            await store.close()

    return asyncio.run(load())


@pytest.fixture(scope="module")
def reference(seed: int, repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The same seed and lines, never interrupted."""
    folder = tmp_path_factory.mktemp("reference")
    transcript = folder / "t.jsonl"
    result = subprocess.run(
        mardonar("play", SPEC, "--seed", seed, "--transcript", transcript),
        cwd=repo,
        env=cli_env({"DATA_DIR": str(folder / "data")}),
        input="".join(f"{line}\n" for line in script()),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=GUARD,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "★ Outcome: paid-toll" in result.stdout
    session = stored_session(folder / "data")
    assert session is not None and session.turn == 4
    return Reference(list(read_transcript(transcript)), session)


class Live:
    """A running `mardonar play` with stdin and stdout as pipes, read on a thread."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def expect(self, pattern: str) -> str:
        """Read stdout until a line matches `pattern`; fail on EOF or after GUARD seconds."""
        regex = re.compile(pattern)
        while True:
            try:
                line = self._queue.get(timeout=GUARD)
            except queue.Empty:
                self.kill()
                raise AssertionError(
                    f"no line matching {pattern!r} within {GUARD}s; got:\n" + "\n".join(self.lines)
                ) from None
            if line is None:
                raise AssertionError(
                    f"output ended before {pattern!r}; got:\n"
                    + "\n".join(self.lines)
                    + f"\nstderr: {self.proc.stderr.read() if self.proc.stderr else ''}"
                )
            self.lines.append(line)
            if regex.search(line):
                return line

    def expect_text(self, text: str) -> None:
        """Read stdout until `text` has been printed (the REPL wraps it across lines)."""
        wanted = " ".join(text.split())
        while wanted not in " ".join(" ".join(self.lines).split()):
            self.expect("")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=GUARD)
        self._reader.join(timeout=GUARD)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(BrokenPipeError):
                    stream.close()


def committed(
    transcript: list[dict[str, Any]], resumed_at: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the records of committed turns, the records of the abandoned attempt).

    Before the `resumed at turn N` notice, records of turns up to N were committed; any of
    turn N+1 belong to the attempt the kill interrupted, which resume re-runs from scratch."""
    notices = [
        i
        for i, r in enumerate(transcript)
        if r["type"] == "notice" and r["text"] == f"resumed at turn {resumed_at}"
    ]
    assert len(notices) == 1, transcript
    cut = notices[0]
    before, after = transcript[1:cut], transcript[cut + 1 :]
    kept = [r for r in before if r["turn"] <= resumed_at]
    abandoned = [r for r in before if r["turn"] > resumed_at]
    return kept + after, abandoned


def comparable(records: list[dict[str, Any]]) -> list[str]:
    """Records as text, without what differs run to run: UTC stamps and measured latency."""
    return [
        STAMP.sub(
            "<stamp>",
            json.dumps({k: v for k, v in r.items() if k != "latency_ms"}, ensure_ascii=False),
        )
        for r in records
    ]


def rolls_of(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Every die the session rolled, in order: skill checks and players' /roll."""
    out: list[tuple[Any, ...]] = []
    for record in records:
        if record["type"] == "tool" and record["name"] == "skill_check" and record["ok"]:
            result = record["result"]
            out.append((result["check"], result["natural"], result["total"], result["success"]))
        elif record["type"] == "roll":
            out.append(("/roll", record["detail"]))
    return out


@pytest.mark.parametrize("kill_at", ["after-sending", "after-the-roll", "torn-last-line"])
def test_sigkill_then_resume_loses_nothing(
    kill_at: str, seed: int, repo: Path, reference: Reference, tmp_path: Path
) -> None:
    data, transcript = tmp_path / "data", tmp_path / "t.jsonl"
    env = cli_env({"DATA_DIR": str(data)})
    live = Live(mardonar("play", SPEC, "--seed", seed, "--transcript", transcript), repo, env)
    narrations = {r["turn"]: r["text"] for r in reference.transcript if r["type"] == "narration"}
    try:
        live.expect(r"^Transcript: ")
        live.expect_text(narrations[0])  # the opening
        # Turn 1, the player's own roll, turn 2: each waited for in the output; /status
        # (which never touches the session) shows the turn was saved.
        for number, lines in ((1, [TURNS[0]]), (2, [ROLL_AFTER_TURN_1, TURNS[1]])):
            for line in [*lines, "/status"]:
                live.send(line)
            if number == 2:
                live.expect(r"^🎲 Aria Swiftwind — d20 ")
                live.expect(r"^🎲 Aria Swiftwind — insight \d+\+3 = \d+ vs DC 12: ")
            live.expect_text(narrations[number])
            live.expect(rf"— turn {number} of 24, active$")
        live.send(TURNS[2])
        if kill_at != "after-sending":
            live.expect(r"^🎲 Aria Swiftwind — intimidation ")
    finally:
        live.kill()
    assert live.proc.returncode == -signal.SIGKILL

    if kill_at == "torn-last-line":
        # What a kill during a write leaves: half a record, no newline.
        with transcript.open("a", encoding="utf-8") as out:
            out.write('{"type": "llm", "turn": 3, "model": "offl')

    # What was committed decides what the player still has to type.
    stored = stored_session(data, status="active")
    assert stored is not None
    assert stored.turn in (2, 3)
    if stored.pending:
        assert stored.turn == 2
        assert [(p.player, p.text) for p in stored.pending] == [("aria", TURNS[2])]
    redo = stored.turn == 2 and bool(stored.pending)
    remaining = TURNS[stored.turn + (1 if redo else 0) :]

    result = subprocess.run(
        mardonar("play", SPEC, "--resume"),
        cwd=repo,
        env=env,
        input="".join(f"{line}\n" for line in remaining),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=GUARD,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"resumed at turn {stored.turn}" in result.stdout
    assert ("re-running the interrupted turn" in result.stdout) is redo
    assert "★ Outcome: paid-toll" in result.stdout

    # The transcript is valid JSONL (torn tail included) and, turn for turn, the committed
    # records are exactly the uninterrupted run's: same turns, words, dice, narration, end.
    full = list(read_transcript(transcript))
    assert full[0]["type"] == "header" and full[0]["seed"] == seed
    kept, abandoned = committed(full, stored.turn)
    assert all(r["turn"] == stored.turn + 1 for r in abandoned), abandoned
    if abandoned:
        assert abandoned[0] == {"type": "player", "turn": 3, "player": "aria", "text": TURNS[2]}
    expected = comparable(reference.transcript[1:])
    assert comparable(kept) == expected
    players = [(r["turn"], r["text"]) for r in kept if r["type"] == "player"]
    assert players == list(enumerate(TURNS, 1))  # each line once, as a completed turn
    assert rolls_of(kept) == rolls_of(reference.transcript)
    if kill_at == "torn-last-line":
        lines = transcript.read_text(encoding="utf-8").splitlines()
        assert all(json.loads(line) for line in lines)  # the torn half was dropped

    # The final state equals the uninterrupted run's.
    final = stored_session(data)
    ref = reference.session
    assert final is not None and final.status is Status.resolved
    assert final.outcome == ref.outcome == "paid-toll"
    assert final.turn == ref.turn == 4
    assert final.rolls == ref.rolls
    assert final.checks_rolled == ref.checks_rolled
    assert final.xp_awarded == ref.xp_awarded == {"aria": 40}
    assert final.items_granted == ref.items_granted
    assert final.history == ref.history
    assert read_tally(data) == {SPEC: 1}
    assert (data / "summaries" / f"{final.id}.txt").is_file()


def test_a_kill_after_the_resolution_is_written_counts_the_run_once(tmp_path: Path) -> None:
    """In-process: the turn's event stream is abandoned right after `Resolved`, which is what
    a SIGKILL at that instant leaves behind (nothing after that point runs), then a fresh
    engine on the same DATA_DIR resumes it."""
    from mardonar.engine.events import Resolved
    from mardonar.engine.loop import Engine
    from mardonar.memory.sqlite import SqliteMemory

    content = load_content(SPEC)
    data = tmp_path / "data"

    def engine() -> Engine:
        return Engine(
            content,
            llm=OfflineNarrator(content, 1),
            store=SqliteStore(data / "mardonar.db"),
            memory=SqliteMemory(data / "mardonar.db"),
            data_dir=data,
        )

    async def scenario() -> None:
        first = engine()
        session = await first.start(seed=1, transcript=tmp_path / "t.jsonl")
        turn = first.run_turn(session, [("aria", "Fine. We pay the toll.")])
        async for event in turn:
            if isinstance(event, Resolved):
                break  # the process dies here: nothing after this point of the turn runs
        assert isinstance(turn, AsyncGenerator)
        await turn.aclose()
        await first.memory.close()
        await first.store.close()
        assert read_tally(data) == {SPEC: 1}

        second = engine()
        try:
            resumed = await second.resume()
            assert resumed is not None and resumed.pending
            lines = [(p.player, p.text) for p in resumed.pending]
            async for _ in second.run_turn(resumed, lines):
                pass
            assert resumed.outcome == "paid-toll"
            assert read_tally(data) == {SPEC: 1}
        finally:
            await second.memory.close()
            await second.store.close()

    asyncio.run(scenario())


def test_appending_to_a_killed_transcript_mends_its_last_line(tmp_path: Path) -> None:
    """What the resumed writer does with the tail a killed one left: a torn half record is
    cut off, a whole record that only lost its newline is kept."""
    from mardonar.engine.events import Narration
    from mardonar.transcript import TranscriptWriter

    header = '{"type": "header", "format": 1, "spec": "x"}\n'
    whole = '{"type": "narration", "turn": 0, "text": "Hello."}'
    for tail, kept in (('{"type": "llm", "tu', []), (whole, [json.loads(whole)])):
        path = tmp_path / f"{len(kept)}.jsonl"
        path.write_text(header + tail, encoding="utf-8")
        writer = TranscriptWriter(path)
        writer(Narration(turn=1, text="Again."))
        writer.close()
        lines = path.read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == [
            json.loads(header),
            *kept,
            {"type": "narration", "turn": 1, "text": "Again."},
        ]
        assert list(read_transcript(path)) == [json.loads(line) for line in lines]


def test_pending_lines_are_stored_as_player_and_text() -> None:
    """A turn's lines are saved before the model is asked, as `{"player", "text"}` objects:
    the shape every stored session has, so sessions saved before still resume, and the
    character name the engine adds to a line while it plays is not written down."""
    from mardonar.llm.turnformat import PlayerLine

    session = Session(id="s", spec_id="x", spec_sha256="", persona_sha256="", seed=1, started_at="")
    session.pending = [PlayerLine(player="aria", text="Evening.", name="Aria Swiftwind")]
    stored = json.loads(session.model_dump_json())
    assert stored["pending"] == [{"player": "aria", "text": "Evening."}]
    resumed = Session.model_validate_json(json.dumps(stored))
    assert [(line.player, line.text) for line in resumed.pending] == [("aria", "Evening.")]
