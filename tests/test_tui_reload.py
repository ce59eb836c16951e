"""Live reload in the TUI (`mardonar play SPEC --watch`), driven with the Pilot.

The app plays a copy of the repository's content in tmp_path; the test edits the spec on
disk as an author would, drives the app's poll directly (the 0.5 s interval may beat it to
the change; either way one reload runs) and answers the restart question.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.worker import WorkerFailed

from mardonar.channels.terminal.playtest import Playtest, begin_playtest
from mardonar.channels.terminal.tui.app import PlayApp
from mardonar.channels.terminal.tui.screens.reload import ReloadScreen
from mardonar.channels.terminal.tui.screens.summary import SummaryScreen
from mardonar.channels.terminal.tui.widgets.checks_panel import ChecksPanel
from mardonar.channels.terminal.tui.widgets.story import StoryPane
from mardonar.content.bundle import Bundle, load_bundle
from mardonar.content.watch import Reload
from mardonar.engine.loop import Engine
from mardonar.engine.session import Status
from mardonar.llm.base import LLM
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply, ScriptItem
from mardonar.memory.sqlite import SqliteMemory
from mardonar.runtime import Runtime
from mardonar.store.sqlite import SqliteStore
from tests.engine_helpers import copy_content, run
from tests.test_watch import touch

SIZE = (120, 36)
THREATEN: list[ScriptItem] = [
    ScriptedReply(tool_calls=[("skill_check", {"player": "aria", "check": "intimidate-grukk"})]),
    "Grukk eyes Aria's blade and gulps.",
]


def make_llm(content: Bundle, seed: int) -> LLM:
    return ScriptedLLM(THREATEN, repeat_last=True)


async def open_playtest(tmp_path: Path, repo: Path) -> Playtest:
    content = load_bundle("goblin-toll-bridge", cwd=repo)
    data = tmp_path / "data"
    store, memory = SqliteStore(data / "mardonar.db"), SqliteMemory(data / "mardonar.db")
    engine = Engine(content, llm=make_llm(content, 7), store=store, memory=memory, data_dir=data)
    runtime = Runtime(engine=engine, store=store, memory=memory, backend="scripted model")
    return await begin_playtest(
        runtime,
        content,
        seed=7,
        speaker="aria",
        transcript=tmp_path / "transcript.jsonl",
        make_llm=make_llm,
    )


async def settle(app: PlayApp, pilot: Pilot[int]) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()
    # A reload's message may start a restart worker of its own: wait for that one too.
    await app.workers.wait_for_complete()
    await pilot.pause()


def story(app: PlayApp) -> str:
    return app.query_one(StoryPane).text


def watch(tmp_path: Path, scenario: Callable[[PlayApp, Pilot[int], Path], object]) -> None:
    repo = copy_content(tmp_path / "repo")

    async def go() -> None:
        playtest = await open_playtest(tmp_path, repo)
        try:
            app = PlayApp(playtest, watch=True)
            async with app.run_test(size=SIZE) as pilot:
                await scenario(app, pilot, repo)  # type: ignore[misc]
        finally:
            await playtest.close()

    run(go())


def test_an_edit_reloads_and_restarts_through_the_lines_played(tmp_path: Path) -> None:
    async def scenario(app: PlayApp, pilot: Pilot[int], repo: Path) -> None:
        assert "watching the spec, persona, party and lore" in story(app)
        app.query_one("#line").value = "I threaten Grukk with my blade."  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(app, pilot)
        assert "intimidation " in story(app) and "vs DC 13 " in story(app)
        first = app.playtest.session.id

        spec = repo / "specs" / "goblin-toll-bridge.yaml"
        text = spec.read_text(encoding="utf-8")
        text = text.replace("dc: 13", "dc: 15", 1).replace("name: Grukk\n", "name: Grukkle\n")
        touch(spec, text)
        app.check_content()
        await settle(app, pilot)

        screen = app.screen
        assert isinstance(screen, ReloadScreen)
        assert screen.question == "Spec changed: restart with 1 line replayed? [y/n]"
        assert "Grukkle" in app.input_bar.names  # completion follows the new content
        await pilot.press("y")
        await settle(app, pilot)

        assert not isinstance(app.screen, ReloadScreen)
        session = app.playtest.session
        assert session.id != first and session.seed == 7 and session.turn == 1
        shown = story(app)
        assert shown.count("Aria Swiftwind: I threaten Grukk with my blade.") == 1
        assert "vs DC 15 " in shown and "vs DC 13 " not in shown
        checks = app.query_one(ChecksPanel).text
        assert "intimidate-grukk  intimidation DC 15 vs grukk\n  Aria Swiftwind " in checks
        assert app.bundle.spec.check("intimidate-grukk").dc == 15  # type: ignore[union-attr]

        # A broken edit: the finding is shown, the previous version stays in play.
        touch(spec, text.replace("dc: 15", "dc: 45", 1))
        app.check_content()
        await settle(app, pilot)
        assert not isinstance(app.screen, ReloadScreen)
        shown = story(app)
        assert "the edit does not lint; the previous version stays in play" in shown
        finding = next(line for line in shown.splitlines() if "M203" in line)
        assert finding.startswith("specs/goblin-toll-bridge.yaml:57:9: M203 ")
        assert app.bundle.spec.check("intimidate-grukk").dc == 15  # type: ignore[union-attr]
        assert app.playtest.session.id == session.id and app.is_running

        # Fixed again, and declined: the old session goes on.
        touch(spec, text)
        app.check_content()
        await settle(app, pilot)
        assert isinstance(app.screen, ReloadScreen)
        await pilot.press("n")
        await settle(app, pilot)
        assert app.playtest.session.id == session.id
        assert "still playing the previous version" in story(app)

    watch(tmp_path, scenario)


def test_watch_with_the_plain_repl_says_it_needs_the_tui(
    tmp_path: Path, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    repo = copy_content(tmp_path / "repo")
    result = run_cli(
        "play",
        "goblin-toll-bridge",
        "--watch",
        cwd=repo,
        env={"DATA_DIR": str(tmp_path / "data")},
        input="/end\n",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        "--watch needs the TUI (a terminal, without --plain); playing without it."
    )
    assert "ended unresolved" in result.stdout


def test_a_lore_edit_after_the_end_restarts_from_the_summary(tmp_path: Path) -> None:
    async def scenario(app: PlayApp, pilot: Pilot[int], repo: Path) -> None:
        app.query_one("#line").value = "/end"  # type: ignore[attr-defined]
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, SummaryScreen)
        ended = app.playtest.session.id

        lore = repo / "lore" / "mossback-moss.md"
        touch(lore, "---\nkeywords: [moss]\n---\n# Moss\nIt grows on the bridge.\n")
        app.check_content()
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ReloadScreen)
        assert screen.question == "Content changed: restart with 0 lines replayed? [y/n]"
        assert screen.changed == ["lore/mossback-moss.md"]
        await pilot.press("y")
        await settle(app, pilot)

        assert not isinstance(app.screen, SummaryScreen | ReloadScreen)
        session = app.playtest.session
        assert session.id != ended and session.status is Status.active
        assert "mossback-moss" in [doc.id for doc in app.bundle.lore]

    watch(tmp_path, scenario)


def test_a_reload_that_raises_is_reported_and_play_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(bundle: Bundle) -> Reload:
        raise RuntimeError("the disk went away")

    monkeypatch.setattr("mardonar.content.watch.reload_bundle", boom)

    async def scenario(app: PlayApp, pilot: Pilot[int], repo: Path) -> None:
        spec = repo / "specs" / "goblin-toll-bridge.yaml"
        touch(spec, spec.read_text(encoding="utf-8").replace("dc: 13", "dc: 14", 1))
        app.check_content()
        # The worker fails (here, or already when the app's own poll saw the edit first).
        with contextlib.suppress(WorkerFailed):
            await app.workers.wait_for_complete()
        await pilot.pause()
        assert "! the reload failed: RuntimeError: the disk went away" in story(app)
        assert app.is_running and not isinstance(app.screen, ReloadScreen)

    watch(tmp_path, scenario)
