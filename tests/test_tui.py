"""The Textual playtest app, driven with the Pilot on a real engine.

Each test builds the app on a real Engine (SQLite store and memory in tmp_path, the shipped
goblin-toll-bridge content) through the same `begin_playtest` the CLI uses, with a scripted
model; it types lines and keys as a player would and asserts on what the widgets hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

from rich.text import Text
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Label, Static, TabbedContent

from mardonar.channels.terminal.playtest import Playtest, begin_playtest
from mardonar.channels.terminal.tui.app import PlayApp
from mardonar.channels.terminal.tui.screens.inspector import ContextScreen
from mardonar.channels.terminal.tui.screens.summary import SummaryScreen
from mardonar.channels.terminal.tui.widgets.checks_panel import ChecksPanel
from mardonar.channels.terminal.tui.widgets.input_bar import HistoryInput, complete
from mardonar.channels.terminal.tui.widgets.npc_panel import NpcPanel
from mardonar.channels.terminal.tui.widgets.story import StoryPane
from mardonar.channels.terminal.tui.widgets.tally_panel import TallyPanel
from mardonar.channels.terminal.tui.widgets.thinking import Thinking
from mardonar.channels.terminal.tui.widgets.tool_log import ToolEntry, ToolLog
from mardonar.content.bundle import Bundle
from mardonar.engine.loop import Engine
from mardonar.engine.session import Status
from mardonar.llm.base import LLM, Chunk, LLMRequest
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply
from mardonar.memory.sqlite import SqliteMemory
from mardonar.runtime import Runtime
from mardonar.store.sqlite import SqliteStore
from mardonar.transcript import read_transcript
from tests.engine_helpers import bundle, run
from tests.test_plain_streaming import ATTACK, SHOWN
from tests.test_safetext import FORBIDDEN

SIZE = (120, 36)
GRUKK_FACT = "Aria asked what was wrong, and kindly."
ENCOUNTER: list[ScriptedReply | str] = [
    # Turn 1 (Aria): read Grukk, remember the kindness; the first answer is withdrawn.
    ScriptedReply(
        tool_calls=[
            ("skill_check", {"player": "aria", "check": "read-grukk"}),
            ("remember", {"npc": "grukk", "fact": GRUKK_FACT}),
        ]
    ),
    "As an AI language model, I think Grukk shrugs.",
    "Grukk's ears droop. He glances at the gorge and mutters about dice.",
    # Turn 2 (Cyra): the climb down and the swaying planks (two rolls, so that with seed 7
    # the bargain that follows succeeds: debt-settled needs it), bargain with Knuckle, an
    # over-limit XP award (refused), resolve.
    ScriptedReply(
        tool_calls=[
            ("skill_check", {"player": "cyra", "skill": "athletics", "difficulty": "easy"}),
            ("roll", {"expression": "d6", "reason": "the planks sway"}),
        ]
    ),
    ScriptedReply(
        tool_calls=[
            ("skill_check", {"player": "cyra", "check": "bargain-with-knuckle"}),
            ("award_xp", {"player": "cyra", "amount": 500, "reason": "heroics"}),
        ]
    ),
    ScriptedReply(
        tool_calls=[
            ("resolve", {"outcome": "debt-settled", "summary": "Cyra talks Knuckle round."})
        ]
    ),
    "Old Knuckle laughs like rolling boulders and waves the party across.",
]


async def open_playtest(
    tmp_path: Path,
    llm: LLM,
    *,
    make_llm: Callable[[Bundle, int], LLM] | None = None,
    resume: bool = False,
) -> Playtest:
    content = bundle()
    data = tmp_path / "data"
    store, memory = SqliteStore(data / "mardonar.db"), SqliteMemory(data / "mardonar.db")
    engine = Engine(content, llm=llm, store=store, memory=memory, data_dir=data)
    runtime = Runtime(engine=engine, store=store, memory=memory, backend="scripted model")
    return await begin_playtest(
        runtime,
        content,
        seed=7,
        speaker="aria",
        resume=resume,
        transcript=tmp_path / "transcript.jsonl",
        make_llm=make_llm,
    )


Scenario = Callable[[PlayApp, Pilot[int]], Awaitable[None]]


def play(
    tmp_path: Path,
    llm: LLM,
    scenario: Scenario,
    *,
    make_llm: Callable[[Bundle, int], LLM] | None = None,
    resume: bool = False,
) -> Playtest:
    async def go() -> Playtest:
        playtest = await open_playtest(tmp_path, llm, make_llm=make_llm, resume=resume)
        try:
            app = PlayApp(playtest)
            async with app.run_test(size=SIZE) as pilot:
                await scenario(app, pilot)
            return playtest
        finally:
            await playtest.close()

    return run(go())


async def send(app: PlayApp, pilot: Pilot[int], line: str) -> None:
    """Type `line` into the input and press enter, then let the turn finish."""
    app.query_one("#line", HistoryInput).value = line
    await pilot.press("enter")
    await settle(app, pilot)


async def settle(app: PlayApp, pilot: Pilot[int]) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


def story(app: PlayApp) -> str:
    return app.query_one(StoryPane).text


def speaker_label(app: PlayApp) -> str:
    return str(app.query_one("#speaker", Label).content)


def test_a_scripted_encounter_fills_the_story_and_every_panel(tmp_path: Path) -> None:
    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        assert "The road ends at the lip of Mossback Gorge" in story(app)
        assert speaker_label(app) == "Aria ›"
        # Typed key by key, as a player would.
        await pilot.press(*"Grukk, what is wrong? You look nervous.", "enter")
        await settle(app, pilot)

        shown = story(app)
        assert "Aria Swiftwind: Grukk, what is wrong? You look nervous." in shown
        assert "🎲 Aria Swiftwind — insight " in shown and "vs DC 12 " in shown
        assert "↺ withdrawn" in shown and "As an AI" not in shown
        assert shown.count("Grukk's ears droop.") == 1
        npcs = app.query_one(NpcPanel).text
        assert f"  ✚ {GRUKK_FACT}" in npcs  # new this turn
        assert "  • Dwarves built the bridge long ago" in npcs  # seeded before

        await send(app, pilot, "/as cyra")
        assert speaker_label(app) == "Cyra ›"
        await send(app, pilot, "I climb down to settle the debt with the troll myself.")

        assert isinstance(app.screen, SummaryScreen)
        summary = "\n".join(app.screen.lines)
        assert "★ debt-settled (success) after 2 turns" in summary
        assert "Aria Swiftwind: +100 XP" in summary and "Cyra Vell: +100 XP" in summary
        assert "Bram Ironfoot: no XP (never took part)" in summary
        await pilot.press("escape")

        shown = story(app)
        assert "Cyra Vell: I climb down" in shown
        assert "⚠ refused award_xp: bonus XP for Cyra Vell is limited to 30" in shown
        assert "Old Knuckle laughs like rolling boulders" in shown

        tools = app.query_one(ToolLog)
        assert [r.name for r in tools.records] == [
            "skill_check",
            "remember",
            "skill_check",
            "roll",
            "skill_check",
            "award_xp",
            "resolve",
        ]
        refused = tools.records[5]
        assert refused.ok is False and "limited to 30" in (refused.error or "")
        assert "✘ bonus XP for Cyra Vell is limited to 30" in tools.text
        assert "check=read-grukk player=aria" in tools.text

        tally = app.query_one(TallyPanel).text
        assert "   1  goblin-toll-bridge" in tally
        assert "Cyra Vell  100 XP (awarded)" in tally
        assert "Knuckle's Bridge Token" in tally

        checks = app.query_one(ChecksPanel).text
        assert "read-grukk  insight DC 12 vs grukk\n  Aria Swiftwind " in checks
        assert "bargain-with-knuckle  persuasion DC 15 vs old-knuckle\n  Cyra Vell " in checks
        assert "intimidate-grukk  intimidation DC 13 vs grukk\n  not rolled" in checks

    playtest = play(tmp_path, ScriptedLLM(ENCOUNTER), scenario)
    assert playtest.session.status is Status.resolved
    # The transcript writer, set up by the shared start-up, recorded the whole encounter.
    records = list(read_transcript(tmp_path / "transcript.jsonl"))
    assert records[0]["type"] == "header"
    assert [r["type"] for r in records].count("player") == 2
    assert records[-1] == {"type": "end", "turn": 2, "reason": "resolved"}


def test_speakers_switch_with_the_key_and_lines_come_back_with_the_arrows(
    tmp_path: Path,
) -> None:
    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        await pilot.press("f2")
        assert app.speaker == "bram" and speaker_label(app) == "Bram ›"
        await pilot.press("ctrl+n", "ctrl+n")
        assert app.speaker == "aria"
        await send(app, pilot, "/as Bram")
        await send(app, pilot, "Good evening, Grukk.")
        assert "Bram Ironfoot: Good evening, Grukk." in story(app)
        await send(app, pilot, "/as nobody")
        assert "no party member 'nobody'" in story(app)

        line = app.query_one("#line", HistoryInput)
        await pilot.press("up")
        assert line.value == "/as nobody"
        await pilot.press("up", "up")
        assert line.value == "/as Bram"
        await pilot.press("down", "down", "down")
        assert line.value == ""

    play(tmp_path, ScriptedLLM(["Grukk bows, helmet wobbling."]), scenario)


def test_completion_of_commands_and_names() -> None:
    commands = ("/as", "/roll", "/status", "/end", "/help", "/quit")
    names = ("Aria", "Bram", "Grukk", "Knuckle", "aria")
    assert complete("/ro", commands, names) == "/roll"
    assert complete("/as b", commands, names) == "/as bram"
    assert complete("I bow to gru", commands, names) == "I bow to grukk"
    assert complete("I bow to Gru", commands, names) == "I bow to Grukk"
    assert complete("I wave", commands, names) is None
    assert complete("Grukk ", commands, names) is None


def test_the_context_inspector_lists_each_section_against_the_budget(tmp_path: Path) -> None:
    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        await pilot.press("f3")
        assert isinstance(app.screen, ContextScreen) and app.screen.rows == []
        await pilot.press("escape")

        await send(app, pilot, "Good evening, Grukk.")
        await pilot.press("f3")
        screen = app.screen
        assert isinstance(screen, ContextScreen)
        names = [row.name for row in screen.rows]
        assert names == [  # in the order they are sent: the stable head first
            "persona",
            "spec",
            "party",
            "lore",
            "summary",
            "history",
            "state",
            "triggered",
            "memories",
            "player",
        ]
        tokens = {row.name: row.tokens for row in screen.rows}
        assert tokens["persona"] > 0 and tokens["spec"] > 0
        built = app.playtest.engine.last_built
        assert built is not None
        assert screen.total_text == f"{built.tokens:,} / 6,000 tokens"
        label = screen.query_one("#inspector-tokens", Label)
        assert str(label.content) == screen.total_text
        assert "Good evening, Grukk." in next(r.text for r in screen.rows if r.name == "player")
        await pilot.press("escape")
        assert not isinstance(app.screen, ContextScreen)

    play(tmp_path, ScriptedLLM(["Grukk bows."]), scenario)


class GatedLLM:
    """A model that streams its first words, then waits for the test to let it go on: a
    slow backend, without a clock."""

    def __init__(self, inner: ScriptedLLM) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    @property
    def name(self) -> str:
        return "gated"

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        first = True
        async for chunk in self.inner.stream(request):
            yield chunk
            if first:
                first = False
                self.waiting.set()
                await self.gate.wait()

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_slow_model_never_blocks_the_keys(tmp_path: Path) -> None:
    llm = GatedLLM(
        ScriptedLLM(
            [
                # Its first third outruns what the echo guard holds back (7 words).
                "Grukk thinks very hard about it, long and slow, scratching under his dented "
                "helmet and muttering. Very, very hard, with his tongue out and his eyes shut "
                "tight. Then he nods.",
                "Grukk squints at Bram.",
            ]
        )
    )

    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        await send_without_waiting(app, pilot, "Good evening, Grukk.")
        await llm.waiting.wait()
        await pilot.pause()
        assert app.busy and app.query_one(Thinking).active
        assert "Grukk thinks" in story(app)  # the draft streams in

        # Each key's effect is on screen one frame later (one pause), while the model is
        # still held mid-stream: the engine never blocks the UI's event loop.
        tabs = app.query_one("#side", TabbedContent)
        assert "Runs&#160;per&#160;spec" not in app.export_screenshot()
        await pilot.press("f4")
        await pilot.pause()
        assert tabs.active == "tally" and app.query_one(TallyPanel).region.height > 0
        shown = app.export_screenshot()
        assert "Runs&#160;per&#160;spec" in shown and not llm.gate.is_set() and app.busy
        await pilot.press("f4", "f4")
        await pilot.pause()
        assert tabs.active == "checks" and app.query_one(ChecksPanel).region.height > 0
        await pilot.press("f2")
        await pilot.pause()
        assert app.speaker == "bram" and speaker_label(app) == "Bram ›"
        assert "Bram&#160;›" in app.export_screenshot()
        assert not llm.gate.is_set() and app.busy and app.playtest.session.turn == 0

        # A second line waits in the input while the turn runs.
        await pilot.press(*"Hello?", "enter")
        assert app.query_one("#line", HistoryInput).value == "Hello?"

        llm.gate.set()
        await settle(app, pilot)
        assert not app.busy and not app.query_one(Thinking).active
        assert story(app).count("Then he nods.") == 1
        await pilot.press("enter")
        await settle(app, pilot)
        assert "Bram Ironfoot: Hello?" in story(app)

    play(tmp_path, llm, scenario)


async def send_without_waiting(app: PlayApp, pilot: Pilot[int], line: str) -> None:
    app.query_one("#line", HistoryInput).value = line
    await pilot.press("enter")


def test_an_engine_failure_is_shown_and_the_app_goes_on(tmp_path: Path) -> None:
    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        await send(app, pilot, "Good evening, Grukk.")
        assert "! the engine failed: RuntimeError: the model's process died" in story(app)
        assert not app.busy and app.is_running
        await send(app, pilot, "/roll 2d6+3")
        assert "🎲 Aria Swiftwind — " in story(app)
        await send(app, pilot, "/roll 2d6+")
        assert story(app).splitlines()[-1].startswith("! ")

    play(tmp_path, ScriptedLLM([RuntimeError("the model's process died")]), scenario)


def test_replay_from_the_end_screen_starts_a_new_session_with_the_same_seed(
    tmp_path: Path,
) -> None:
    script: Sequence[str | ScriptedReply] = [
        ScriptedReply(tool_calls=[("resolve", {"outcome": "turned-back", "summary": "Home."})]),
        "The party turns back.",
    ]
    made: list[int] = []

    def make_llm(content: Bundle, seed: int) -> LLM:
        made.append(seed)
        return ScriptedLLM(script)

    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        first = app.playtest.session.id
        await send(app, pilot, "We turn back.")
        assert isinstance(app.screen, SummaryScreen)
        await pilot.press("t")
        await pilot.press("r")
        await settle(app, pilot)
        assert not isinstance(app.screen, SummaryScreen)
        session = app.playtest.session
        assert session.id != first and session.seed == 7 and session.status is Status.active
        assert made == [7]
        assert "We turn back." not in story(app)
        assert "The road ends at the lip of Mossback Gorge" in story(app)
        assert app.query_one(ToolLog).records == []
        assert "transcript-replay-1.jsonl" in str(session.transcript)

    play(tmp_path, ScriptedLLM(script), scenario, make_llm=make_llm)
    replayed = list(read_transcript(tmp_path / "transcript-replay-1.jsonl"))
    assert [r["type"] for r in replayed] == ["header", "narration"]


def test_end_command_shows_the_unresolved_summary(tmp_path: Path) -> None:
    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        await send(app, pilot, "/end")
        assert isinstance(app.screen, SummaryScreen)
        assert "★ ended unresolved with /end after 0 turns" in app.screen.lines
        await pilot.press("q")

    playtest = play(tmp_path, ScriptedLLM([]), scenario)
    assert playtest.session.status is Status.ended


def test_a_resumed_session_shows_its_story_and_reruns_the_interrupted_turn(
    tmp_path: Path,
) -> None:
    async def crash() -> None:
        """A turn whose process died while the model was asked: the line is saved."""
        playtest = await open_playtest(tmp_path, ScriptedLLM([RuntimeError("killed")]))
        try:
            async for _ in playtest.engine.run_turn(playtest.session, [("aria", "Evening.")]):
                pass
        except RuntimeError:
            pass
        finally:
            await playtest.close()

    run(crash())

    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        await settle(app, pilot)
        shown = story(app)
        assert "The road ends at the lip of Mossback Gorge" in shown
        assert "· resumed at turn 0" in shown
        assert "· re-running the interrupted turn" in shown
        assert shown.count("Aria Swiftwind: Evening.") == 1
        assert "Grukk squeaks and steps aside." in shown
        assert app.playtest.session.turn == 1 and not app.playtest.session.pending

    play(tmp_path, ScriptedLLM(["Grukk squeaks and steps aside."]), scenario, resume=True)


def test_a_restart_fast_forwards_through_the_lines_played(tmp_path: Path) -> None:
    """The hook live reload restarts through: same seed, new session, the lines again."""

    def make_llm(content: Bundle, seed: int) -> LLM:
        return ScriptedLLM(["Grukk nods."], repeat_last=True)

    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        await send(app, pilot, "Evening, Grukk.")
        await send(app, pilot, "/as bram")
        await send(app, pilot, "Nice helmet.")
        assert [(line.player, line.text) for line in app.played] == [
            ("aria", "Evening, Grukk."),
            ("bram", "Nice helmet."),
        ]
        first = app.playtest.session.id

        app.restart_encounter(app.played)
        await settle(app, pilot)

        session = app.playtest.session
        assert session.id != first and session.seed == 7 and session.turn == 2
        shown = story(app)
        assert shown.count("Aria Swiftwind: Evening, Grukk.") == 1
        assert shown.count("Bram Ironfoot: Nice helmet.") == 1
        assert "now speaking as" not in shown  # the old run's story is gone
        assert [(line.player, line.text) for line in app.played] == [
            ("aria", "Evening, Grukk."),
            ("bram", "Nice helmet."),
        ]

    play(tmp_path, ScriptedLLM(["Grukk nods."], repeat_last=True), scenario, make_llm=make_llm)


def rendered(app: PlayApp) -> str:
    """Every line the widgets of the current screen render, after the app's line filters:
    what is written to the terminal, but for Textual's own style codes."""
    lines = []
    for widget in app.screen.walk_children(with_self=True):
        width, height = widget.outer_size
        if widget.display and width and height:
            for strip in widget.render_lines(Region(0, 0, width, height)):
                lines.append("".join(segment.text for segment in strip))
    return "\n".join(lines)


def test_escapes_from_the_model_or_a_player_never_reach_the_terminal(tmp_path: Path) -> None:
    fact = "Aria\x1b[2J waved \x1b]0;pwned\x07kindly."
    llm = ScriptedLLM(
        [
            ScriptedReply(
                tool_calls=[
                    ("remember", {"npc": "grukk", "fact": fact}),
                    ("skill_check", {"player": "aria", "check": "no-such\x1b]52;c;eA==\x07"}),
                ]
            ),
            ATTACK,
        ]
    )

    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        # A widget showing raw text that never went through `shown.text`: the line filter.
        await app.screen.mount(Static(Text("raw \x1b]0;pwned\x07 \x9b2J text")))
        await send(app, pilot, "Hello \x1b]0;pwned\x07Grukk\x9b2J.")
        shown = {
            "story": story(app),
            "npcs": app.query_one(NpcPanel).text,
            "tools": app.query_one(ToolLog).text,
            "screen": rendered(app),
        }
        for where, text in shown.items():
            assert not FORBIDDEN & set(text), (where, sorted(FORBIDDEN & set(text)))
        for where in ("story", "npcs", "tools"):  # built with `shown.text`: no residue
            assert "pwned" not in shown[where] and "[2J" not in shown[where], where
        assert " ".join(SHOWN.split()) in shown["story"]  # reflowed in the pane
        assert "Aria Swiftwind: Hello Grukk." in shown["story"]
        assert "Aria waved kindly." in shown["npcs"]
        assert "fact=Aria waved kindly." in shown["tools"]
        assert "raw ]0;pwned 2J text" in shown["screen"]

        await pilot.press("f3")  # the inspector shows the prompt, player line included
        assert isinstance(app.screen, ContextScreen)
        await pilot.press("e")
        await pilot.pause()
        inspected = rendered(app)
        assert "Hello Grukk." in inspected
        assert not FORBIDDEN & set(inspected)

    play(tmp_path, llm, scenario)


def test_one_turn_reads_as_one_turn_and_the_tally_says_what_its_xp_is(tmp_path: Path) -> None:
    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        tally = app.query_one(TallyPanel).text
        # During play only bonus XP exists, against its cap; outcome XP comes on resolving.
        assert "Outcome XP comes with the resolution." in tally
        assert "Aria Swiftwind  0/30 bonus XP so far" in tally
        assert "bonus of" not in tally
        await send(app, pilot, "Hello, Grukk.")
        await send(app, pilot, "/end")
        assert isinstance(app.screen, SummaryScreen)
        assert "★ ended unresolved with /end after 1 turn" in app.screen.lines
        await pilot.press("escape")
        tally = app.query_one(TallyPanel).text
        assert "Aria Swiftwind  0 XP (none awarded)" in tally
        assert "Outcome XP comes" not in tally

    play(tmp_path, ScriptedLLM(["Grukk squints."]), scenario)


def test_the_tools_tab_reads_from_the_first_call_and_follows_the_latest(tmp_path: Path) -> None:
    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        await send(app, pilot, "Grukk, what is wrong?")  # filled while its tab is hidden
        app.query_one("#side", TabbedContent).active = "tools"
        await pilot.pause()
        log = app.query_one(ToolLog)
        entries = list(log.query(ToolEntry))
        assert entries and log.max_scroll_y == 0  # a short log: nothing to scroll
        assert log.scroll_y == 0
        assert entries[0].region.y == log.content_region.y  # the first call on top

        await send(app, pilot, "/as cyra")
        await send(app, pilot, "I climb down to settle the debt with the troll myself.")
        await pilot.press("escape")
        await pilot.pause()
        assert log.max_scroll_y > 0  # longer than the pane now: the latest stays in view
        assert log.scroll_y == log.max_scroll_y
        last = list(log.query(ToolEntry))[-1]
        assert log.content_region.contains_region(last.region)

    play(tmp_path, ScriptedLLM(ENCOUNTER), scenario)


class EstimatingLLM:
    """A model whose server reports no usage: the backend's counts are estimates."""

    def __init__(self, inner: LLM) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return "litellm:gemma-3-270m"

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        from mardonar.llm.base import Finish

        async for chunk in self.inner.stream(request):
            yield (
                Finish(chunk.reason, 1200, 40, estimated=True)
                if isinstance(chunk, Finish)
                else chunk
            )

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_the_tools_tab_says_when_tokens_are_estimated(tmp_path: Path) -> None:
    async def scenario(app: PlayApp, pilot: Pilot[int]) -> None:
        await send(app, pilot, "Good evening, Grukk.")
        assert "~1200→~40 tokens (estimated)" in app.query_one(ToolLog).text

    play(tmp_path, EstimatingLLM(ScriptedLLM(["Grukk squints."])), scenario)
