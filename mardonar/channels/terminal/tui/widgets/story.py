"""The story pane: the opening, player lines, narration as it streams, rolls inline, and
the discreet notes (withdrawn drafts, corrections, refusals, notices, errors).

Each block is a `StoryEntry` whose `plain` text is kept beside its styled text, so tests
(and a future copy command) read the story without parsing terminal output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from rich.text import Text
from textual.widgets import Static

from mardonar.channels.terminal.tui.shown import text as shown
from mardonar.channels.terminal.tui.widgets.panel import SPEAKER_STYLES, Styled
from mardonar.engine.events import (
    Correction,
    EngineError,
    Event,
    Narration,
    NarrationDelta,
    NarrationReplaced,
    Notice,
    PlayerSaid,
    Rolled,
    ToolResult,
)
from mardonar.safetext import SafeStream, safe

Describe = Callable[[Event], "str | None"]


def reflow(text: str) -> str:
    """Paragraphs joined back into lines the pane can wrap: a spec's opening is hard-wrapped
    YAML (about 90 columns), which would leave ragged half lines in a narrower pane. A blank
    line still separates paragraphs."""
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


class StoryEntry(Static):
    """One block of the story."""

    def __init__(self, text: Text, *, classes: str) -> None:
        super().__init__(text, classes=classes)
        self.plain = text.plain

    def set_text(self, text: Text) -> None:
        self.plain = text.plain
        self.update(text)


class StoryPane(Styled, can_focus=True):
    """The encounter as it is told; it renders events and keeps nothing of the engine."""

    PREFIX = "story"
    STYLES = (*SPEAKER_STYLES, "success", "failure", "reason")

    def __init__(
        self,
        *,
        colours: Mapping[str, int],
        describe: Describe,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.colours = dict(colours)
        """Character name → colour index (see views.speaker_colours)."""
        self.describe = describe
        """Plain text for events without a look of their own (the outcome, the end)."""
        self._draft: StoryEntry | None = None
        self._drafting = SafeStream()
        """The draft's deltas made safe: a sequence cut across two is held until whole."""
        self._last_withdrawn: str | None = None

    def on_mount(self) -> None:
        # Follow new text as it arrives, until the reader scrolls up to read back.
        self.anchor()

    # ------------------------------------------------------------------ reading

    @property
    def entries(self) -> list[StoryEntry]:
        return list(self.query_children(StoryEntry))

    @property
    def text(self) -> str:
        return "\n".join(entry.plain for entry in self.entries)

    # ------------------------------------------------------------------ writing

    def add(self, text: Text | str, kind: str) -> StoryEntry:
        entry = StoryEntry(shown(text) if isinstance(text, str) else text, classes=kind)
        self.mount(entry)
        if kind != "withdrawn":
            self._last_withdrawn = None
        return entry

    def note(self, text: str) -> None:
        self.add(text, "notice")

    def error(self, text: str) -> None:
        self.add(f"! {text}", "error")

    def clear(self) -> None:
        self._draft = None
        self._drafting.end()
        self._last_withdrawn = None
        self.remove_children(StoryEntry)

    def show(self, event: Event) -> None:
        """Add what `event` means for the reader; events of no interest are ignored."""
        if isinstance(event, NarrationDelta):
            self._stream(event.text)
        elif isinstance(event, NarrationReplaced):
            self._withdraw(event.reason)
        elif isinstance(event, Narration):
            self._narrate(event)
        elif isinstance(event, PlayerSaid):
            self.add(self._player_line(event), "player")
        elif isinstance(event, Rolled):
            self.add(self._roll_line(event), "roll")
        elif isinstance(event, ToolResult) and not event.ok:
            reason = (event.error or "", self._s("reason"))
            self.add(shown(f"⚠ refused {event.name}: ", reason), "refusal")
        elif isinstance(event, Correction):
            # A streamed draft was already marked withdrawn for this very reason.
            if self._last_withdrawn != event.reason:
                self.add(f"↺ reply corrected: {event.reason}", "withdrawn")
        elif isinstance(event, EngineError):
            self.error(event.message)
        elif isinstance(event, Notice):
            self.note(f"· {event.text}")
        else:
            described = self.describe(event)
            if described:
                self.add(described, "outcome")

    # ------------------------------------------------------------------ narration

    def _stream(self, text: str) -> None:
        if self._draft is None:
            self._draft = self.add("", "narration draft")
        self._draft.set_text(Text(self._draft.plain + self._drafting.feed(text)))

    def _withdraw(self, reason: str) -> None:
        if self._draft is None:
            return
        self._drafting.end()
        self._draft.remove()
        self._draft = None
        self.add(f"↺ withdrawn: {reason}", "withdrawn")
        self._last_withdrawn = reason

    def _narrate(self, event: Narration) -> None:
        kind = "opening" if event.turn == 0 else "narration"
        if event.fallback:
            kind += " fallback"
        draft, self._draft = self._draft, None
        said = safe(event.text)  # compared with the draft as it was shown
        if draft is not None and (draft.plain + self._drafting.end()).strip() == said.strip():
            # The streamed draft is the narration: keep it rather than show it twice.
            draft.set_classes(kind)
            draft.set_text(Text(reflow(said)))
            return
        if draft is not None:
            draft.remove()
        self.add(reflow(said), kind)

    # ------------------------------------------------------------------ lines

    def _player_line(self, event: PlayerSaid) -> Text:
        colour = self.colours.get(event.character, 0)
        return shown((event.character, self._s(f"speaker-{colour}")), ": ", event.text)

    def _roll_line(self, event: Rolled) -> Text:
        line = event.line()
        if event.success is None or event.dc is None:
            return shown(line)
        # `…vs DC 13: success` reads as `…vs DC 13 ✔` here, the verdict in colour.
        head = line.rsplit(": ", 1)[0]
        mark = ("✔", self._s("success")) if event.success else ("✘", self._s("failure"))
        return shown(head, " ", mark)
