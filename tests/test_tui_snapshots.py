"""Snapshot tests of the playtest app at 120×36: the main screen after one scripted turn and
the end-of-encounter screen (pytest-textual-snapshot).

Everything shown is made stable: a fixed seed and a scripted model, the session id's UTC
stamp fixed, and the working folder set to tmp_path so paths show as `transcript.jsonl`.
After a deliberate change to the look, review the new SVGs and update them with
`pytest tests/test_tui_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from mardonar.channels.terminal.playtest import Playtest
from mardonar.channels.terminal.tui.app import PlayApp
from mardonar.channels.terminal.tui.screens.summary import SummaryScreen
from mardonar.channels.terminal.tui.widgets.input_bar import HistoryInput
from mardonar.llm.scripted import ScriptedLLM
from tests.engine_helpers import run
from tests.test_tui import ENCOUNTER, SIZE, open_playtest

SnapCompare = Callable[..., bool]
LINES = (
    ("aria", "Grukk, what is wrong? You look nervous."),
    ("cyra", "I climb down to settle the debt with the troll myself."),
)


@pytest.fixture
def playtest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Playtest]:
    monkeypatch.setattr("mardonar.engine.loop.utc_stamp", lambda now=None: "20260101T120000Z")
    monkeypatch.chdir(tmp_path)
    # SQLite is used synchronously: the playtest may be opened on one event loop and
    # played on the app's.
    opened = run(open_playtest(tmp_path, ScriptedLLM(ENCOUNTER)))
    yield opened
    run(opened.close())


async def say(pilot: Pilot[Any], speaker: str, line: str) -> None:
    app = pilot.app
    assert isinstance(app, PlayApp)
    app.speaker = speaker
    line_input = app.query_one("#line", HistoryInput)
    # The cursor blinks every 0.5 s: a turn that takes longer on a loaded machine would
    # catch it in its hidden half. Without the blink, the key press leaves it shown.
    line_input.cursor_blink = False
    line_input.value = line
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    # The worker's end reaches the app as a message: until then the spinner still shows.
    for _ in range(50):
        await pilot.pause()
        if not app.busy:
            break
    assert not app.busy


def test_the_main_screen_after_one_turn(playtest: Playtest, snap_compare: SnapCompare) -> None:
    async def one_turn(pilot: Pilot[Any]) -> None:
        await say(pilot, *LINES[0])

    assert snap_compare(PlayApp(playtest), terminal_size=SIZE, run_before=one_turn)


def test_the_resolve_screen(playtest: Playtest, snap_compare: SnapCompare) -> None:
    async def to_the_end(pilot: Pilot[Any]) -> None:
        for speaker, line in LINES:
            await say(pilot, speaker, line)
        assert isinstance(pilot.app.screen, SummaryScreen)
        # The summary opened while the turn's worker was finishing: the story behind it
        # may show the spinner of that moment. Opened again, it sits on the settled story.
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f5")
        assert isinstance(pilot.app.screen, SummaryScreen)

    assert snap_compare(PlayApp(playtest), terminal_size=SIZE, run_before=to_the_end)
