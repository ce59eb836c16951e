"""The README's TUI screenshot: two scripted turns of goblin-toll-bridge at 120×36, saved
as docs/images/tui.svg.

    python docs/images/make_screenshot.py

It plays the shipped content on the real engine (SQLite store and memory in a temp folder)
with a scripted model and a fixed seed; the session id's UTC stamp is pinned and the temp
folder is the working folder, so the SVG only changes when the TUI's look does.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import mardonar.engine.loop  # noqa: E402
from mardonar.channels.terminal.playtest import begin_playtest  # noqa: E402
from mardonar.channels.terminal.tui.app import PlayApp  # noqa: E402
from mardonar.channels.terminal.tui.widgets.input_bar import HistoryInput  # noqa: E402
from mardonar.content.bundle import load_bundle  # noqa: E402
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply, ScriptItem  # noqa: E402
from mardonar.memory.sqlite import SqliteMemory  # noqa: E402
from mardonar.runtime import Runtime  # noqa: E402
from mardonar.store.sqlite import SqliteStore  # noqa: E402

OUT = Path(__file__).resolve().parent / "tui.svg"
SIZE = (120, 36)
LINES = [
    ("aria", "Grukk, what is wrong? You look nervous."),
    ("bram", "I drop five silver in his hand. Now, who is snoring down there?"),
]
SCRIPT: list[ScriptItem] = [
    ScriptedReply(
        tool_calls=[
            ("skill_check", {"player": "aria", "check": "read-grukk"}),
            ("remember", {"npc": "grukk", "fact": "Aria asked what was wrong, and kindly."}),
        ]
    ),
    'Grukk puffs out his chest. "Grukk is never nervous. Grukk is fierce." But his eyes '
    "keep flicking to the far end of the bridge, where the snoring comes from.",
    ScriptedReply(
        tool_calls=[("remember", {"npc": "grukk", "fact": "Bram paid the toll without haggling."})]
    ),
    'Grukk bites each coin twice. "That is Old Knuckle," he whispers. "Do not wake him. '
    'Do not bet with him. Do not, Grukk begs you, mention dice."',
]


async def main() -> None:
    # A fixed stamp, so the session id in the status bar is the same on every run.
    mardonar.engine.loop.utc_stamp = lambda now=None: "20260101T120000Z"  # type: ignore[assignment]
    content = load_bundle("goblin-toll-bridge", cwd=REPO)
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # the story shows paths relative to here: "transcript.jsonl"
        data = Path(tmp) / "data"
        store, memory = SqliteStore(data / "mardonar.db"), SqliteMemory(data / "mardonar.db")
        engine = mardonar.engine.loop.Engine(
            content, llm=ScriptedLLM(SCRIPT), store=store, memory=memory, data_dir=data
        )
        runtime = Runtime(engine=engine, store=store, memory=memory, backend="scripted model")
        playtest = await begin_playtest(
            runtime, content, seed=7, speaker="aria", transcript=Path(tmp) / "transcript.jsonl"
        )
        try:
            app = PlayApp(playtest)
            async with app.run_test(size=SIZE) as pilot:
                for speaker, line in LINES:
                    app.speaker = speaker
                    app.query_one("#line", HistoryInput).value = line
                    await pilot.press("enter")
                    await app.workers.wait_for_complete()
                    while app.busy:
                        await pilot.pause()
                await pilot.pause()
                app.save_screenshot(filename=OUT.name, path=str(OUT.parent))
        finally:
            await playtest.close()
            os.chdir(REPO)
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    asyncio.run(main())
