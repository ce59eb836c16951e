"""The plain REPL on a terminal: narration appears as the model writes it, and a draft
that is withdrawn or corrected is marked as such, never shown twice as if said twice."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from mardonar.channels.terminal.plain import PlainRepl
from mardonar.llm.scripted import ScriptedLLM
from tests.engine_helpers import open_table, run


class _Runtime:
    """What PlainRepl needs of a runtime: the engine."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine


async def _lines(*lines: str) -> Any:
    for line in lines:
        yield line


def play(tmp_path: Path, llm: ScriptedLLM, *lines: str) -> str:
    async def go() -> str:
        table = await open_table(tmp_path, llm)
        out = io.StringIO()
        try:
            repl = PlainRepl(
                _Runtime(table.engine),  # type: ignore[arg-type]
                table.engine.bundle,
                table.session,
                speaker="aria",
                out=out,
                stream=True,
            )
            await repl.run(_lines(*lines))
            return out.getvalue()
        finally:
            await table.close()

    return run(go())


def test_streamed_narration_is_shown_once(tmp_path: Path) -> None:
    shown = play(tmp_path, ScriptedLLM(["Grukk sniffs. He squints. He waits."]), "Hello.")
    assert shown.count("Grukk sniffs. He squints. He waits.") == 1


def test_a_corrected_draft_is_marked_withdrawn_and_the_correction_shown_once(
    tmp_path: Path,
) -> None:
    llm = ScriptedLLM(
        ["As an AI language model, I think Grukk waits.", "Grukk waits, arms folded."]
    )
    shown = play(tmp_path, llm, "Hello.")
    assert "↺ withdrawn" in shown
    assert shown.count("Grukk waits, arms folded.") == 1
    withdrawn_at = shown.index("↺ withdrawn")
    assert shown.index("As an AI") < withdrawn_at < shown.index("Grukk waits, arms folded.")
