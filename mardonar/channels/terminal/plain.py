"""The plain line REPL of `mardonar play --plain` (and of play without a TTY).

Each input line is one player message, or a `/command`. Output is plain text, one block
per event, so it reads well in a terminal, a pipe or a CI log. All game logic is the
engine's: this module only reads lines, calls the engine and prints its events.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, TextIO

from mardonar.engine.dice import DiceError
from mardonar.engine.events import (
    Correction,
    Ended,
    EngineError,
    Event,
    Narration,
    NarrationDelta,
    NarrationReplaced,
    Notice,
    Resolved,
    Rolled,
    ToolResult,
)
from mardonar.engine.session import Session, Status, grant_lines
from mardonar.safetext import SafeStream, safe
from mardonar.store.base import StoreUnavailable, TurnBusy, TurnConflict

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.runtime import Runtime

COMMANDS = ("/as", "/roll", "/status", "/end", "/help", "/quit")
HELP = """\
Type what your character says or does; one line is one message.
  /as NAME      speak as another party member (player id or character name)
  /roll EXPR    roll dice yourself, e.g. /roll 2d6+3 or /roll d20 adv
  /status       turn, who took part, checks rolled, XP and items so far
  /end          end the encounter now, unresolved (a summary is still written)
  /help         this help
  /quit         leave; the session stays resumable with --resume"""


def wrap(text: str, width: int = 88) -> str:
    # Measured as it will be shown: an escape sequence takes no column on screen.
    paragraphs = safe(text).split("\n")
    return "\n".join(textwrap.fill(p, width) if p.strip() else "" for p in paragraphs)


def render(event: Event, bundle: Bundle) -> str | None:
    """How an event reads in the plain terminal (None: not shown)."""
    names = {c.player: c.name for c in bundle.party.characters}
    if isinstance(event, Narration):
        return wrap(event.text) + "\n"
    if isinstance(event, Rolled):
        return event.line()
    if isinstance(event, ToolResult) and not event.ok:
        return f"  ⚠ refused {event.name}: {event.error}"
    if isinstance(event, Correction):
        return f"  (reply corrected: {event.reason})"
    if isinstance(event, EngineError):
        return f"  ! {event.message}"
    if isinstance(event, Notice):
        return f"  · {event.text}"
    if isinstance(event, Resolved):
        lines = [f"★ Outcome: {event.outcome} ({event.result})"]
        if event.summary:
            lines.append(wrap(event.summary))
        for player, amount in event.xp.items():
            lines.append(f"  {names.get(player, player)}: +{amount} XP")
        for player, why in event.skipped.items():
            lines.append(f"  {names.get(player, player)}: no XP ({why})")
        for player, items in event.items.items():
            for item_id in items:
                item = bundle.spec.item(item_id)
                lines.append(
                    f"  {names.get(player, player)} receives {item.name if item else item_id}"
                )
        lines += [f"  {line}" for line in grant_lines(event.vtt)]
        return "\n".join(lines)
    if isinstance(event, Ended):
        why = {
            "resolved": "The encounter is resolved.",
            "max_turns": "The encounter ends unresolved: the turn limit was reached.",
            "ended_by_player": "The encounter was ended unresolved.",
        }.get(event.reason, f"The encounter ended ({event.reason}).")
        where = f" Summary: {event.summary_path}" if event.summary_path else ""
        return f"{why}{where}"
    return None


def status_text(bundle: Bundle, session: Session) -> str:
    names = {c.player: c.name for c in bundle.party.characters}
    spec = bundle.spec
    lines = [
        f"{spec.title} — turn {session.turn} of {spec.limits.max_turns}, {session.status.value}",
        "Taking part: "
        + (", ".join(names.get(p, p) for p in session.participants) or "nobody yet"),
    ]
    for roll in session.checks_rolled:
        verdict = "success" if roll.success else "failure"
        lines.append(
            f"  {names.get(roll.player, roll.player)}: {roll.check or 'improvised ' + roll.skill} "
            f"{roll.total} vs DC {roll.dc}, {verdict}"
        )
    for player, amount in session.xp_bonus.items():
        lines.append(f"  bonus XP {names.get(player, player)}: {amount}/{spec.limits.bonus_xp}")
    for item, player in session.items_granted.items():
        lines.append(f"  item {item} → {names.get(player, player)}")
    return "\n".join(lines)


class PlainRepl:
    def __init__(
        self,
        runtime: Runtime,
        bundle: Bundle,
        session: Session,
        *,
        speaker: str,
        out: TextIO | None = None,
        stream: bool = False,
        echo: bool = False,
    ) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.bundle = bundle
        self.session = session
        self.speaker = speaker
        self.out = out or sys.stdout
        self.stream = stream
        """Show narration as the model writes it (on a terminal; a pipe gets whole blocks)."""
        self.echo = echo
        """Print each line read before its answer (`aria> …`): with stdin piped, nothing
        else shows which answer belongs to which line."""
        self._draft = ""
        self._drafting = SafeStream()

    def _write(self, text: str) -> None:
        """The one way out to the terminal: model and player text made safe (safetext)."""
        self.out.write(safe(text))
        self.out.flush()

    def say(self, text: str) -> None:
        self._end_draft()
        self._write(text + "\n")

    def _end_draft(self) -> None:
        if self._draft:
            self._write(self._drafting.end() + "\n")
            self._draft = ""

    def show(self, event: Event) -> None:
        if self.stream and isinstance(event, NarrationDelta):
            # A sequence cut across two deltas is held back until it is whole, then dropped.
            self._write(self._drafting.feed(event.text))
            self._draft += event.text
            return
        if self.stream and isinstance(event, NarrationReplaced):
            if self._draft:
                self.say(f"  (↺ withdrawn: {event.reason})")
            return
        if self.stream and isinstance(event, Narration) and self._draft:
            # The streamed draft is the narration: finish its line rather than repeat it.
            draft, self._draft = self._draft, ""
            rest = self._drafting.end()
            if draft.strip() == event.text.strip():
                self._write(rest + "\n\n")
                return
            self._write(rest + "\n")
            self.say("  (↺ corrected:)")
        shown = render(event, self.bundle)
        if shown is not None:
            self.say(shown)

    def _switch(self, name: str) -> None:
        character = self.bundle.party.find(name)
        if character is None:
            roster = self.bundle.party.roster()
            self.say(f"  ! no party member '{name.strip()}'; the party is: {roster}")
            return
        self.speaker = character.player
        self.say(f"  · now speaking as {character.name} ({character.player})")

    async def command(self, line: str) -> bool:
        """Run a /command; False means leave the REPL."""
        name, _, rest = line.partition(" ")
        name = name.lower()
        if name == "/quit":
            return False
        if name == "/help":
            self.say(HELP)
        elif name == "/as":
            if rest.strip():
                self._switch(rest)
            else:
                self.say("  ! usage: /as NAME")
        elif name == "/roll":
            try:
                self.show(await self.engine.player_roll(self.session, self.speaker, rest or "d20"))
            except (DiceError, StoreUnavailable, TurnBusy, TurnConflict) as error:
                self.say(f"  ! {error}")
        elif name == "/status":
            self.say(status_text(self.bundle, self.session))
        elif name == "/end":
            for event in await self.engine.end(self.session):
                self.show(event)
            return self.session.status is Status.active  # the store refused: play on
        else:
            self.say(f"  ! unknown command {name}; commands: {' '.join(COMMANDS)}")
        return True

    async def run(self, lines: AsyncIterator[str]) -> None:
        async for raw in lines:
            line = raw.strip()
            if not line:
                continue
            if self.echo:
                self.say(f"{self.speaker}> {line}")
            if line.startswith("/"):
                if not await self.command(line):
                    break
                continue
            async for event in self.engine.run_turn(self.session, [(self.speaker, line)]):
                self.show(event)
            if self.session.status is not Status.active:
                break
        if self.session.status is Status.active:
            self.say(
                f"Session {self.session.id} saved at turn {self.session.turn}; continue with "
                f"`mardonar play {self.bundle.spec.id} --resume`."
            )


async def stdin_lines(stream: TextIO) -> AsyncIterator[str]:
    for line in stream:
        yield line


async def prompt_lines(repl: PlainRepl, history_file: str | None) -> AsyncIterator[str]:
    """Lines typed at a TTY: prompt-toolkit with history and completion."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import WordCompleter
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    words: Iterable[str] = [
        *COMMANDS,
        *(c.player for c in repl.bundle.party.characters),
        *(c.name.split()[0] for c in repl.bundle.party.characters),
        *(n.name.split()[0] for n in repl.bundle.spec.npcs),
    ]
    history = FileHistory(history_file) if history_file else InMemoryHistory()
    prompt: PromptSession[str] = PromptSession(
        history=history, completer=WordCompleter(list(words), ignore_case=True)
    )
    while True:
        try:
            yield await prompt.prompt_async(f"{repl.speaker}> ")
        except EOFError:
            return
        except KeyboardInterrupt:
            return
