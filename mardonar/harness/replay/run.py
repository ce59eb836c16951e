"""Strict replay of recorded sessions (issue #6, item 1).

`replay(path)` reads a transcript, loads its spec from the repository around the transcript
(or the working folder), and plays the recorded player lines, `/roll`s and `/end` on a fresh
engine (real SQLite store and memory, private databases in RAM, thrown away after) with the
recorded seed and a `CassetteLLM` that answers with the recorded `llm` events. The events
the engine produces are compared, turn by turn, with the recorded ones (tool calls and
results, narration, corrections, resolve, end); latency, usage, timestamps and session ids
are not compared. The result names the first divergent turn with a per-field diff and the
end-state diff (outcome, XP, items). Hash differences in the header are information.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mardonar.errors import UsageError
from mardonar.harness.replay.diff import by_turn, end_diff, end_state, turn_diff
from mardonar.harness.replay.play import play_actions
from mardonar.harness.replay.reading import (
    ReplayRun,
    actions_of,
    hash_notes,
    load_header,
    replay_run,
)
from mardonar.harness.replay.results import ReplayResult, display_path, unreadable
from mardonar.transcript import event_record

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.engine.events import Event

__all__ = ["replay", "replay_all", "replay_loaded", "replay_one", "replay_sync"]


async def replay_one(run: ReplayRun, path: Path) -> ReplayResult:
    """Replay one transcript strictly within `run`; one that cannot be read, or whose spec
    cannot be loaded, is an `unreadable` result."""
    started = time.perf_counter()
    try:
        records, bundle = load_header(path, run)
    except UsageError as error:
        return unreadable(path, error)
    return await replay_loaded(run, path, records, bundle, started=started)


async def replay_loaded(
    run: ReplayRun,
    path: Path,
    records: list[dict[str, Any]],
    bundle: Bundle,
    *,
    started: float | None = None,
) -> ReplayResult:
    """Replay a transcript already read (`load_header`) within `run`."""
    from mardonar.llm.cassette import CassetteLLM

    started = time.perf_counter() if started is None else started
    header = records[0]
    result = ReplayResult(
        path=display_path(path), spec=bundle.spec.id, seed=int(header["seed"]), turns=0
    )
    result.notes += hash_notes(header, bundle)

    produced: list[dict[str, Any]] = []

    def listen(event: Event) -> None:
        record = event_record(event)
        if record is not None:
            produced.append(record)

    cassette = CassetteLLM(records[1:], name=str(header.get("model") or "cassette"))
    actions = actions_of(records[1:])
    result.turns = sum(1 for action in actions if action[0] == "turn")
    await play_actions(
        run,
        bundle,
        seed=result.seed,
        actions=actions,
        llm=cassette,
        listen=listen,
        notes=result.notes,
        before_turn=cassette.begin_turn,
    )

    for miss in cassette.misses:
        result.misses.append(miss.describe())
    for turn, count in cassette.unused().items():
        result.misses.append(f"turn {turn}: {count} recorded model answer(s) were never asked for")
    old, new = by_turn(records[1:]), by_turn(produced)
    for turn in sorted(set(old) | set(new)):
        if old.get(turn, []) != new.get(turn, []):
            result.turn = turn
            result.diff = turn_diff(old.get(turn, []), new.get(turn, []))
            break
    if result.turn is None and result.misses:
        result.turn = int(result.misses[0].split(":")[0].split()[1])
    result.end_diff = end_diff(end_state(records), end_state(produced))
    result.seconds = time.perf_counter() - started
    return result


async def replay_all(
    paths: Sequence[Path], *, cwd: Path | None = None, jobs: int | None = None
) -> list[ReplayResult]:
    """Replay transcripts strictly in one run (bundles loaded once per spec); the results in
    `paths`' order. `jobs`: worker processes (None: `auto_jobs`; 1: this process only)."""
    from mardonar.harness.replay.parallel import replay_forked, worker_count

    async with replay_run(cwd) as run:
        workers = worker_count(jobs, len(paths))
        if workers > 1:
            return await replay_forked(run, paths, workers, replay_one)
        return [await replay_one(run, path) for path in paths]


async def replay(path: Path, *, cwd: Path | None = None) -> ReplayResult:
    """Replay one transcript strictly; UsageError (exit 2) when it cannot be read."""
    result = (await replay_all([path], cwd=cwd))[0]
    if result.unreadable:
        raise UsageError(result.unreadable, exit_code=2)
    return result


def replay_sync(path: Path, *, cwd: Path | None = None) -> ReplayResult:
    import asyncio

    return asyncio.run(replay(path, cwd=cwd))
