"""Recording a session on a headless engine: how the golden transcripts are made
(tools/record_goldens.py holds their scripts)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mardonar.errors import UsageError

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.llm.base import LLM

__all__ = ["play_lines", "record_session"]


async def play_lines(
    engine: Any, session: Any, speaker: str, lines: Sequence[str], who: Callable[[str], str]
) -> None:
    """Play lines as `mardonar play` would: `/as NAME`, `/roll [DICE]`, `/end`, or speech."""
    from mardonar.engine.session import Status
    from mardonar.llm.turnformat import PlayerLine

    for line in lines:
        if session.status is not Status.active and not line.lower().startswith("/as"):
            break
        if line.startswith("/"):
            name, _, rest = line.partition(" ")
            name = name.lower()
            if name == "/as":
                speaker = who(rest)
            elif name == "/roll":
                await engine.player_roll(session, speaker, rest.strip() or "d20")
            elif name == "/end":
                await engine.end(session)
            else:
                raise UsageError(f"{name}: not supported in a recorded script", exit_code=2)
            continue
        async for _ in engine.run_turn(session, [PlayerLine(player=speaker, text=line)]):
            pass


async def record_session(
    bundle: Bundle,
    *,
    seed: int,
    lines: Sequence[str],
    path: Path,
    speaker: str | None = None,
    llm: LLM | None = None,
) -> Path:
    """Play `lines` on a headless engine and record the transcript at `path` (overwritten):
    how the golden transcripts are made."""
    from mardonar.harness.headless import scratch
    from mardonar.llm.offline import OfflineNarrator
    from mardonar.transcript import TranscriptWriter

    def who(name: str) -> str:
        found = bundle.party.find(name)
        if found is None:
            raise UsageError(f"no party member '{name.strip()}'", exit_code=2)
        return found.player

    first = who(speaker) if speaker else bundle.party.characters[0].player
    if path.exists():
        path.unlink()
    writer = TranscriptWriter(path)
    model = llm or OfflineNarrator(bundle, seed)
    try:
        with scratch("mardonar-record-") as folder:
            async with folder.engine(bundle, llm=model, subscribers=[writer]) as (engine, _):
                session = await engine.start(seed=seed, transcript=path)
                writer.header(**engine.header(session))
                engine.opening(session)
                await play_lines(engine, session, first, lines, who)
    finally:
        writer.close()
    return path
