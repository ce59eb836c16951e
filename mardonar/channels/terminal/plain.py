"""The plain line REPL of `mardonar play --plain` (and of play without a TTY).

Each input line is one player message, or a `/command`. Output is plain text, one block
per event, so it reads well in a terminal, a pipe or a CI log. All game logic is the
engine's: this module only reads lines, calls the engine and prints its events.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, TextIO

from mardonar.channels.terminal.commands import AS_USAGE, HELP, speaker_switch, unknown_command
from mardonar.channels.terminal.render import render, status_text
from mardonar.content.commands import COMMANDS, DEFAULT_ROLL, parse_command
from mardonar.dicenotation import DiceError
from mardonar.engine.events import Event, Narration, NarrationDelta, NarrationReplaced
from mardonar.engine.session import Session, Status
from mardonar.llm.turnformat import PlayerLine
from mardonar.safetext import SafeStream, safe
from mardonar.store.base import StoreUnavailable, TurnBusy, TurnConflict

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.runtime import Runtime


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
        character, said = speaker_switch(self.bundle.party, name)
        if character is None:
            self.say(f"  ! {said}")
            return
        self.speaker = character.player
        self.say(f"  {said}")

    async def command(self, line: str) -> bool:
        """Run a /command; False means leave the REPL."""
        command = parse_command(line)
        name = command.name
        if name == "/quit":
            return False
        if name == "/help":
            self.say(HELP)
        elif name == "/as":
            if command.arg:
                self._switch(command.text)
            else:
                self.say(f"  ! {AS_USAGE}")
        elif name == "/roll":
            # As typed, not stripped: a dice error's column then points into what was typed.
            expression = command.text or DEFAULT_ROLL
            try:
                self.show(await self.engine.player_roll(self.session, self.speaker, expression))
            except (DiceError, StoreUnavailable, TurnBusy, TurnConflict) as error:
                self.say(f"  ! {error}")
        elif name == "/status":
            self.say(status_text(self.bundle, self.session))
        elif name == "/end":
            for event in await self.engine.end(self.session):
                self.show(event)
            return self.session.status is Status.active  # the store refused: play on
        else:
            self.say(f"  ! {unknown_command(name)}")
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
            async for event in self.engine.run_turn(
                self.session, [PlayerLine(player=self.speaker, text=line)]
            ):
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
