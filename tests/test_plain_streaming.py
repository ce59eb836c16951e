"""The plain REPL on a terminal: narration appears as the model writes it, and a draft
that is withdrawn or corrected is marked as such, never shown twice as if said twice.
Whatever the model or a player writes reaches the terminal without a control sequence,
and a piped session shows each line read before its answer."""

# ruff: noqa: F811
from __future__ import annotations

import dataclasses
import io
from pathlib import Path
from typing import Any

from mardonar.channels.terminal.plain import PlainRepl
from mardonar.content.bundle import Bundle
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply, split_text
from tests.engine_helpers import bundle, copy_content, open_table, run
from tests.llm_server import ScriptedServer, llm_server  # noqa: F401
from tests.test_safetext import FORBIDDEN

ATTACK = (
    "Grukk grins. \x1b]0;you have been pwned by a model that writes escapes\x07"
    "\x1b[2J\x1b[?1049h "
    "\x1b]52;c;cm0gLXJmIH4=\x07He \x9b2Jwaits \x9d0;again\x9c by the rope."
)
"""Narration that retitles the window, clears the screen, switches to the alternate one,
writes the clipboard and does it again in 8-bit C1 form; cut at its spaces into deltas, the
title sequence starts in one delta and ends in the next."""
SHOWN = "Grukk grins.  He waits  by the rope."


class _Runtime:
    """What PlainRepl needs of a runtime: the engine."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine


async def _lines(*lines: str) -> Any:
    for line in lines:
        yield line


def play(
    tmp_path: Path,
    llm: ScriptedLLM,
    *lines: str,
    content: Bundle | None = None,
    stream: bool = True,
) -> str:
    async def go() -> str:
        table = await open_table(tmp_path, llm, content=content)
        out = io.StringIO()
        try:
            repl = PlainRepl(
                _Runtime(table.engine),  # type: ignore[arg-type]
                table.engine.bundle,
                table.session,
                speaker="aria",
                out=out,
                stream=stream,
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


def unsafe(shown: str) -> set[str]:
    return FORBIDDEN & set(shown)


def test_model_and_player_escapes_never_reach_the_terminal(tmp_path: Path) -> None:
    deltas = split_text(ATTACK)
    assert any("\x1b]0;" in d and "\x07" not in d for d in deltas)  # cut mid-sequence
    # A character whose name carries a sequence (the party file is the player's to edit).
    content = bundle()
    aria = content.party.characters[0].model_copy(update={"name": "Aria\x1b]0;x\x07 Swift"})
    party = content.party.model_copy(update={"characters": [aria, *content.party.characters[1:]]})
    content = dataclasses.replace(content, party=party)
    replies: list[ScriptedReply | str] = [
        ScriptedReply(
            tool_calls=[
                ("skill_check", {"player": "aria", "check": "read-grukk"}),
                ("skill_check", {"player": "aria", "check": "no-such\x1b[2J"}),
            ]
        ),
        ATTACK,
    ]
    line = "I wave \x1b]0;pwned too\x07at Grukk\x9b2J."
    for stream in (True, False):
        llm = ScriptedLLM(replies)
        shown = play(tmp_path / f"stream-{stream}", llm, line, content=content, stream=stream)
        assert not unsafe(shown), sorted(unsafe(shown))
        assert "pwned" not in shown and "]0;" not in shown and "[2J" not in shown
        assert SHOWN in shown
        assert "🎲 Aria Swift — insight" in shown
        assert "⚠ refused skill_check" in shown


def test_a_piped_session_shows_each_line_before_its_answer(
    tmp_path: Path, llm_server: ScriptedServer, run_cli: Any
) -> None:
    repo = copy_content(tmp_path / "repo")
    llm_server.reply(ATTACK)
    llm_server.reply("Grukk shrugs.")
    result = run_cli(
        "play",
        "goblin-toll-bridge",
        "--plain",
        "--seed",
        "3",
        cwd=repo,
        env={"DATA_DIR": str(tmp_path / "data"), **llm_server.env()},
        input="Hello there \x1b]0;pwned\x07Grukk.\n/as cyra\nAnd me.\n",
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert not unsafe(out), sorted(unsafe(out))
    assert "pwned" not in out
    # As the README shows it: the speaker's prompt and the line, then the answer.
    first = out.index("aria> Hello there Grukk.")
    assert first < out.index(SHOWN) < out.index("aria> /as cyra") < out.index("cyra> And me.")
    assert out.index("cyra> And me.") < out.index("Grukk shrugs.")
