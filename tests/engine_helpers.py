"""Building real engines over the shipped example repository for tests.

Nothing here is a mock: the engine runs with the real SQLite store and memory in a temp
folder, real content from the repository, and a model from mardonar.llm (scripted or the
offline narrator).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from mardonar.content.bundle import Bundle, load_bundle
from mardonar.engine.events import Event
from mardonar.engine.limits import TurnLimits
from mardonar.engine.loop import Engine
from mardonar.engine.session import Session
from mardonar.llm.base import LLM
from mardonar.memory.sqlite import SqliteMemory
from mardonar.store.sqlite import SqliteStore
from mardonar.transcript import TranscriptWriter

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def copy_content(root: Path) -> Path:
    """The shipped content (persona, party, specs, lore) in `root`, as `git clone` gives it,
    so a test's transcripts, data and edits never touch the checkout."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("persona.yaml", "party.yaml"):
        shutil.copy2(REPO / name, root / name)
    for folder in ("specs", "lore"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def bundle(spec: str = "goblin-toll-bridge") -> Bundle:
    return load_bundle(spec, cwd=REPO)


@dataclass
class Table:
    """An engine, its session and every event it produced."""

    engine: Engine
    session: Session
    events: list[Event] = field(default_factory=list)
    writer: TranscriptWriter | None = None

    async def say(self, player: str, text: str) -> list[Event]:
        # Subscribers already record every event in self.events.
        return [e async for e in self.engine.run_turn(self.session, [(player, text)])]

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        await self.engine.memory.close()
        await self.engine.store.close()


async def open_table(
    tmp_path: Path,
    llm: LLM,
    *,
    spec: str = "goblin-toll-bridge",
    seed: int = 1,
    content: Bundle | None = None,
    max_tool_rounds: int = 4,
    context_budget: int = TurnLimits.context_budget,
    transcript: bool = False,
) -> Table:
    loaded = content or bundle(spec)
    data = tmp_path / "data"
    engine = Engine(
        loaded,
        llm=llm,
        store=SqliteStore(data / "mardonar.db"),
        memory=SqliteMemory(data / "mardonar.db"),
        data_dir=data,
        limits=TurnLimits(max_tool_rounds=max_tool_rounds, context_budget=context_budget),
    )
    session = await engine.start(seed=seed, transcript=tmp_path / "transcript.jsonl")
    table = Table(engine, session)
    if transcript:
        assert session.transcript is not None
        table.writer = TranscriptWriter(Path(session.transcript))
        table.writer.header(**engine.header(session))
        engine.subscribers.append(table.writer)
    engine.subscribers.append(table.events.append)
    engine.opening(session)
    return table
