"""The playtest app: the story and the input on the left, NPCs / tally / tool calls / checks
on the right, a status bar on top.

The engine only ever runs in workers of the "turn" group, one at a time; they iterate the
engine and post each event as a message, and the handlers here pass it to the widgets,
which render it. One `Worker.StateChanged` handler keeps the busy state and reports a
failed worker in the story, so an engine exception never takes the app down.

Over 500 lines as one class on purpose: Textual collects an app's `@on` handlers and
`@work` workers from the class itself, and the turn, reload and input handlers share the
busy state and the played lines; what is not about driving the app lives beside it
(views.py, widgets/, screens/, and the shared commands.py and render.py one level up).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.filter import LineFilter
from textual.reactive import reactive
from textual.widgets import Footer, Input, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from mardonar.channels.terminal.commands import AS_USAGE, HELP, speaker_switch, unknown_command
from mardonar.channels.terminal.render import render, status_text
from mardonar.channels.terminal.tui.messages import (
    CommandFailed,
    ContentReloaded,
    EncounterRestarted,
    EngineEvent,
    NpcsChanged,
)
from mardonar.channels.terminal.tui.screens.inspector import ContextScreen
from mardonar.channels.terminal.tui.screens.reload import ReloadScreen
from mardonar.channels.terminal.tui.screens.summary import Choice, SummaryScreen
from mardonar.channels.terminal.tui.shown import ControlFilter
from mardonar.channels.terminal.tui.views import (
    checks_view,
    completion_names,
    finding_lines,
    shown_path,
    speaker_colours,
    status_view,
    story_so_far,
    summary_view,
    tally_view,
)
from mardonar.channels.terminal.tui.widgets.checks_panel import ChecksPanel
from mardonar.channels.terminal.tui.widgets.input_bar import InputBar
from mardonar.channels.terminal.tui.widgets.npc_panel import NpcPanel
from mardonar.channels.terminal.tui.widgets.status_bar import StatusBar
from mardonar.channels.terminal.tui.widgets.story import StoryPane
from mardonar.channels.terminal.tui.widgets.tally_panel import TallyPanel
from mardonar.channels.terminal.tui.widgets.thinking import Thinking
from mardonar.channels.terminal.tui.widgets.tool_log import ToolLog
from mardonar.content.commands import COMMANDS, DEFAULT_ROLL, parse_command
from mardonar.dicenotation import DiceError
from mardonar.engine.events import (
    Ended,
    Narration,
    NarrationDelta,
    NarrationReplaced,
    Resolved,
    Rolled,
    ToolCalled,
    ToolResult,
)
from mardonar.engine.session import Status
from mardonar.errors import UserError
from mardonar.files import read_tally
from mardonar.llm.turnformat import PlayerLine
from mardonar.store.base import StoreUnavailable, TurnBusy, TurnConflict

if TYPE_CHECKING:
    from mardonar.channels.terminal.playtest import Playtest
    from mardonar.content.bundle import Bundle
    from mardonar.content.watch import ContentWatcher
    from mardonar.engine.events import Event

PANELS = ("npcs", "tally", "tools", "checks")
NPC_TOOLS = frozenset({"remember", "recall", "skill_check"})
"""Tools after which an NPC's memory or revealed secrets may have changed."""
WATCH_INTERVAL = 0.5
"""Seconds between two looks at the content files' stamps (a few stat calls each)."""
KEYS_HELP = (
    "Keys: F2 or ctrl+n next speaker · F3 what the model was sent · F4 next side panel · "
    "↑/↓ lines sent before · → accept a completion · ctrl+q quit (the session stays resumable)"
)


class PlayApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "Mardonar"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help"),
        Binding("f2,ctrl+n", "next_speaker", "Next speaker"),
        Binding("f3", "inspect", "Context"),
        Binding("f4", "next_panel", "Next panel"),
        Binding("f5", "summary", "Summary"),
    ]

    busy: reactive[bool] = reactive(False, init=False)
    """An engine worker is running: lines wait, the indicator spins."""
    speaker: reactive[str] = reactive("", init=False)
    """The player id the next line is said as."""

    def __init__(self, playtest: Playtest, *, watch: bool = False) -> None:
        super().__init__()
        self.live_reload = watch
        """Live reload: poll the spec, persona, party and lore files for edits."""
        self.watcher: ContentWatcher | None = None
        self._reloaded: Bundle | None = None
        """Content reloaded after an edit but not yet played (the restart was declined);
        the next replay from the end screen plays it."""
        self.playtest = playtest
        self.colours = speaker_colours(playtest.bundle)
        self._resolved: Resolved | None = None
        self._ended: Ended | None = None
        self._runs: dict[str, int] = {}
        self._tally_error: str | None = None
        self.played: list[PlayerLine] = list(playtest.pending)
        """The player lines sent in this run, in order: what a restart fast-forwards."""
        self.set_reactive(PlayApp.speaker, playtest.speaker)
        self._control_filter = ControlFilter()

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, then the one that keeps every control character the model,
        a player or a content file wrote off the terminal (see shown.py)."""
        return [*super().get_line_filters(), self._control_filter]

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        names = completion_names(self.bundle)
        yield StatusBar(id="status")
        with Horizontal(id="main"):
            with Vertical(id="play"):
                yield StoryPane(
                    colours=self.colours,
                    describe=self._describe,
                    id="story",
                )
                yield Thinking(id="thinking")
                yield InputBar(commands=COMMANDS, names=names, id="input-bar")
            with TabbedContent(id="side", initial="npcs"):
                with TabPane("NPCs", id="npcs"):
                    yield NpcPanel(id="npc-panel")
                with TabPane("Tally", id="tally"):
                    yield TallyPanel(id="tally-panel")
                with TabPane("Tools", id="tools"):
                    yield ToolLog(id="tool-log")
                with TabPane("Checks", id="checks"):
                    yield ChecksPanel(id="checks-panel")
        yield Footer()

    def _describe(self, event: Event) -> str | None:
        """The plain REPL's words for an event the story has no style of its own for."""
        if isinstance(event, Ended) and event.summary_path:
            event = dataclasses.replace(event, summary_path=shown_path(event.summary_path))
        return render(event, self.bundle)

    @property
    def bundle(self) -> Bundle:
        """The content in play; a restart after a reload may bring new content."""
        return self.playtest.bundle

    @property
    def story(self) -> StoryPane:
        return self.query_one(StoryPane)

    @property
    def input_bar(self) -> InputBar:
        return self.query_one(InputBar)

    def _transcript_note(self, suffix: str = "") -> None:
        self.story.note(f"Transcript: {shown_path(self.playtest.session.transcript or '')}{suffix}")

    def on_mount(self) -> None:
        self._transcript_note()
        if self.playtest.resumed:
            for event in story_so_far(self.bundle, self.playtest.session):
                self.story.show(event)
        for event in self.playtest.intro:
            self.story.show(event)
        self._read_tally()
        self._refresh_panels()
        self.watch_speaker(self.speaker)
        self.input_bar.line.focus()
        self.refresh_npcs()
        if self.playtest.pending:
            self.story.note("· re-running the interrupted turn")
            self._start_turns([self.playtest.pending])
        if self.live_reload:
            from mardonar.content.watch import ContentWatcher

            self.watcher = ContentWatcher(self.bundle)
            self.story.note("· watching the spec, persona, party and lore for edits")
            self.set_interval(WATCH_INTERVAL, self.check_content)

    # ------------------------------------------------------------------ live reload

    def check_content(self) -> None:
        """One look at the watched files; an edit starts a reload (in a worker: linting
        takes ~100 ms, a frame is 16)."""
        if self.watcher is None:
            return
        changed = self.watcher.changed()
        if changed:
            self.reload_content(changed, self.watcher.bundle)

    @work(exclusive=True, group="reload", exit_on_error=False)
    async def reload_content(self, changed: list[Path], current: Bundle) -> None:
        from mardonar.content.watch import reload_bundle

        reload = await asyncio.to_thread(reload_bundle, current)
        self.post_message(ContentReloaded(changed, reload))

    @on(ContentReloaded)
    def content_reloaded(self, message: ContentReloaded) -> None:
        reload, root = message.reload, self.bundle.root
        names = [self._relative(path, root) for path in message.changed]
        if reload.bundle is None:
            lines = finding_lines(reload.findings, root) or [reload.error or "unknown error"]
            self.notify(
                f"{', '.join(names)} has errors: still playing the previous version.",
                title="Reload failed",
                severity="error",
                timeout=6,
            )
            self.story.error(
                "the edit does not lint; the previous version stays in play:\n" + "\n".join(lines)
            )
            return
        if self.watcher is not None:
            self.watcher.follow(reload.bundle)
        self._reloaded = bundle = reload.bundle
        self.input_bar.set_names(completion_names(bundle))
        self.story.note(f"· reloaded {', '.join(names)}")
        if isinstance(self.screen, ReloadScreen):
            self.screen.dismiss(False)  # a newer edit: ask again about that one
        question = ReloadScreen(
            names, len(self.played), spec=self.bundle.spec_path in message.changed
        )
        self.push_screen(question, callback=functools.partial(self._reload_answered, bundle))

    @staticmethod
    def _relative(path: Path, root: Path) -> str:
        with contextlib.suppress(ValueError):
            return str(path.resolve().relative_to(root.resolve()))
        return str(path)

    def _reload_answered(self, bundle: Bundle, restart: bool | None) -> None:
        if self._reloaded is not bundle:
            return  # a newer edit superseded this one; its own question follows
        if restart:
            self._reloaded = None
            if isinstance(self.screen, SummaryScreen):
                self.screen.dismiss("close")  # the restart replaces the finished session
            self.restart_encounter(self.played, bundle=bundle)
        else:
            self.story.note("· still playing the previous version; a replay plays the edit")

    # ------------------------------------------------------------------ engine workers

    @work(exclusive=True, group="turn", exit_on_error=False)
    async def play_turns(self, turns: Sequence[Sequence[PlayerLine]]) -> None:
        """Run these turns one after the other (one line typed, or a fast-forward)."""
        await self._play(turns)

    @work(exclusive=True, group="turn", exit_on_error=False)
    async def replay(self, lines: Sequence[PlayerLine] = (), bundle: Bundle | None = None) -> None:
        """Start the encounter over (new session, same seed; new content if `bundle`),
        then play `lines` again, one turn each: replay from the end screen, and the
        restart a live reload offers after an edit."""
        opening = await self.playtest.restart(bundle)
        self.post_message(EncounterRestarted(opening))
        await self._post_npcs()
        await self._play([[line] for line in lines])

    @work(exclusive=True, group="turn", exit_on_error=False)
    async def player_roll(self, player: str, expression: str) -> None:
        try:
            event = await self.playtest.engine.player_roll(
                self.playtest.session, player, expression
            )
        except (DiceError, StoreUnavailable, TurnBusy, TurnConflict) as error:
            self.post_message(CommandFailed(str(error)))
            return
        self.post_message(EngineEvent(event))

    @work(exclusive=True, group="turn", exit_on_error=False)
    async def end_encounter(self) -> None:
        for event in await self.playtest.engine.end(self.playtest.session):
            self.post_message(EngineEvent(event))

    @work(group="views", exit_on_error=False)
    async def refresh_npcs(self) -> None:
        await self._post_npcs()

    async def _play(self, turns: Sequence[Sequence[PlayerLine]]) -> None:
        engine = self.playtest.engine
        for lines in turns:
            session = self.playtest.session
            if session.status is not Status.active:
                break
            async for event in engine.run_turn(session, list(lines)):
                self.post_message(EngineEvent(event))
                if isinstance(event, ToolResult) and event.name in NPC_TOOLS:
                    await self._post_npcs()
                # A backend that never suspends (the offline narrator, a scripted model)
                # would otherwise hold the event loop for the whole turn: let the UI in.
                await asyncio.sleep(0)
            await self._post_npcs()

    async def _post_npcs(self) -> None:
        views = await self.playtest.engine.npc_views(self.playtest.session)
        self.post_message(NpcsChanged(views))

    @on(Worker.StateChanged)
    def worker_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state is WorkerState.ERROR and worker.group == "reload":
            error = worker.error
            self.story.error(f"the reload failed: {type(error).__name__}: {error}")
        elif event.state is WorkerState.ERROR:
            error = worker.error
            self.story.error(
                f"the engine failed: {type(error).__name__}: {error}. What was said is saved; "
                "quit and play with --resume to run the turn again"
            )
        if worker.group == "turn" and worker.is_finished:
            self.busy = any(w.group == "turn" and not w.is_finished for w in self.workers)
            self._refresh_panels()

    def watch_busy(self, busy: bool) -> None:
        thinking = self.query_one(Thinking)
        if busy:
            thinking.start()
        else:
            thinking.stop()

    # ------------------------------------------------------------------ what workers post

    @on(EngineEvent)
    def engine_event(self, message: EngineEvent) -> None:
        event = message.event
        self.story.show(event)
        self.query_one(ToolLog).show(event)
        thinking = self.query_one(Thinking)
        if isinstance(event, NarrationDelta):
            thinking.label = "the GM is writing…"
        elif isinstance(event, ToolCalled):
            thinking.label = f"the GM calls {event.name}…"
        elif isinstance(event, ToolResult | NarrationReplaced):
            thinking.label = "the GM is thinking…"
        elif isinstance(event, Resolved):
            self._resolved = event
        if isinstance(event, Rolled | ToolResult | Narration):
            self._refresh_panels()
        if isinstance(event, Ended):
            self._ended = event
            self._read_tally()
            self._refresh_panels()
            self.action_summary()

    @on(NpcsChanged)
    def npcs_changed(self, message: NpcsChanged) -> None:
        self.query_one(NpcPanel).show(message.views)

    @on(EncounterRestarted)
    def restarted(self, message: EncounterRestarted) -> None:
        self._resolved = self._ended = None
        self.colours = self.story.colours = speaker_colours(self.bundle)
        if self.bundle.party.by_player(self.speaker) is None:
            self.speaker = self.bundle.party.characters[0].player
        self.watch_speaker(self.speaker)  # the prompt again, not "the encounter is over"
        self.story.clear()
        self.query_one(ToolLog).clear()
        self.query_one(NpcPanel).reset()
        self._transcript_note(" (a replay: new session, same seed)")
        self.story.show(message.opening)
        self._refresh_panels()

    @on(CommandFailed)
    def command_failed(self, message: CommandFailed) -> None:
        self.story.error(message.text)

    # ------------------------------------------------------------------ input

    @on(Input.Submitted, "#line")
    def line_submitted(self, submitted: Input.Submitted) -> None:
        line = submitted.value.strip()
        if not line:
            return
        if line.startswith("/"):
            self._command(line)
        elif self._may_play():
            self.input_bar.accept(line)
            said = PlayerLine(player=self.speaker, text=line)
            self.played.append(said)
            self._start_turns([[said]])

    def restart_encounter(
        self, lines: Sequence[PlayerLine] = (), bundle: Bundle | None = None
    ) -> None:
        """Start over with the same seed (and `bundle`, the content after a reload), then
        fast-forward through `lines`, one turn each. It takes over from a running turn:
        the old session keeps that turn's line as pending, the new one starts clean."""
        self.busy = True
        self.played = list(lines)
        self.replay(lines, bundle)

    def _start_turns(self, turns: Sequence[Sequence[PlayerLine]]) -> None:
        # Busy from now, not from when the worker's RUNNING state arrives: a second enter
        # pressed in between must not start a second turn.
        self.busy = True
        self.query_one(NpcPanel).begin_turn()
        self.play_turns(turns)

    def _may_play(self) -> bool:
        """Whether the engine may be asked now; says why not otherwise."""
        if self.busy:
            self.notify("The GM is still answering; send it when the turn is done.")
            return False
        if self.playtest.session.status is not Status.active:
            self.notify("The encounter is over: F5 shows the summary, r there replays it.")
            return False
        return True

    def _command(self, line: str) -> None:
        command = parse_command(line)
        name, rest = command.name, command.arg
        if name in ("/roll", "/end") and not self._may_play():
            return  # the line stays in the input, to be sent when the turn is done
        self.input_bar.accept(line)
        if name == "/quit":
            self.exit(0)
        elif name == "/help":
            self.action_help()
        elif name == "/as":
            if rest:
                self._switch(rest)
            else:
                self.story.error(AS_USAGE)
        elif name == "/status":
            self.story.note(status_text(self.bundle, self.playtest.session))
        elif name == "/roll":
            self.busy = True
            self.player_roll(self.speaker, rest or DEFAULT_ROLL)
        elif name == "/end":
            self.busy = True
            self.end_encounter()
        else:
            self.story.error(unknown_command(name))

    def _switch(self, who: str) -> None:
        character, said = speaker_switch(self.bundle.party, who)
        if character is None:
            self.story.error(said)
            return
        self.speaker = character.player
        self.story.note(said)

    def watch_speaker(self, speaker: str) -> None:
        character = self.bundle.party.by_player(speaker)
        name = character.name if character else speaker
        self.input_bar.show_speaker(name, self.colours.get(speaker, 0))

    # ------------------------------------------------------------------ actions

    def action_next_speaker(self) -> None:
        players = [c.player for c in self.bundle.party.characters]
        at = players.index(self.speaker) if self.speaker in players else -1
        self.speaker = players[(at + 1) % len(players)]

    def action_next_panel(self) -> None:
        tabs = self.query_one("#side", TabbedContent)
        at = PANELS.index(tabs.active) if tabs.active in PANELS else -1
        tabs.active = PANELS[(at + 1) % len(PANELS)]

    def action_help(self) -> None:
        self.story.note(f"{HELP}\n{KEYS_HELP}")

    def action_inspect(self) -> None:
        engine, session = self.playtest.engine, self.playtest.session
        self.push_screen(
            ContextScreen(
                engine.last_built,
                budget=engine.context_budget,
                # While a turn runs, its context is the one being used.
                turn=session.turn + (1 if self.busy else 0),
            )
        )

    def action_summary(self) -> None:
        if self._ended is None or isinstance(self.screen, SummaryScreen):
            return
        view = summary_view(self.bundle, self.playtest.session, self._ended, self._resolved)
        self.push_screen(SummaryScreen(view), callback=self._summary_closed)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The summary key only shows (and works) once the encounter is over.
        if action == "summary":
            return self._ended is not None
        return True

    def _summary_closed(self, choice: Choice | None) -> None:
        if choice == "quit":
            self.exit(0)
        elif choice == "replay":
            # The finished turn's worker may still be posting its last NPC view: the
            # replay takes over the "turn" group, which cancels it.
            bundle, self._reloaded = self._reloaded, None
            self.restart_encounter(bundle=bundle)

    # ------------------------------------------------------------------ panels

    def _read_tally(self) -> None:
        try:
            self._runs, self._tally_error = read_tally(self.playtest.engine.data_dir), None
        except UserError as error:
            self._tally_error = str(error)

    def _refresh_panels(self) -> None:
        session = self.playtest.session
        self.query_one(StatusBar).show(status_view(self.playtest))
        self.query_one(ChecksPanel).show(checks_view(self.bundle, session))
        self.query_one(TallyPanel).show(
            tally_view(self.bundle, session, self._runs, self._tally_error)
        )
        if session.status is not Status.active:
            self.input_bar.line.placeholder = "The encounter is over: F5 summary, ctrl+q quit"
        self.refresh_bindings()
