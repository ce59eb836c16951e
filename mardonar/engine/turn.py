"""One turn's model work: ask, run the calls, check the reply, finish the turn.

`Engine._turn` records the player lines, then hands over to a `Turn`: the state that lives
for one turn (the messages so far, the rounds of tool calls, whether a correction was sent,
the resolution) is its fields, and each step of ARCHITECTURE.md's turn loop is one method.
The steps are async generators of the events the turn publishes, in order; `Engine` owns
the model call (`_ask`), the store and resolution, so a `Turn` only decides.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mardonar.engine.bounds import bound_text, fit_turn, result_message
from mardonar.engine.context import build_context, compact_old_turns
from mardonar.engine.dice import Dice
from mardonar.engine.echo import EchoGuard, EchoHold
from mardonar.engine.events import (
    Correction,
    Ended,
    EngineError,
    Event,
    Narration,
    NarrationReplaced,
    Resolved,
    ToolCalled,
    ToolResult,
)
from mardonar.engine.replycheck import echo_problem, enforce_limits, problems_with
from mardonar.engine.session import HistoryEntry, Session, Status
from mardonar.engine.tools import Toolbox, ToolOutcome
from mardonar.llm import turnformat
from mardonar.llm.base import Finish, LLMError, Message, ToolCall
from mardonar.llm.textcalls import recover_tool_calls
from mardonar.llm.turnformat import PlayerLine

if TYPE_CHECKING:
    from mardonar.engine.loop import Engine
    from mardonar.engine.resolution import Resolution

log = logging.getLogger("mardonar.engine.loop")  # the name operators' log filters know


@dataclass
class Reply:
    """One answer of the model, as it streamed in."""

    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    finish: Finish | None = None
    streamed: bool = False
    dropped: int = 0
    """Calls past the first refused one (the per-reply cap): neither run nor recorded."""
    hold: EchoHold | None = None
    """What keeps streamed text back until it is known not to echo GM-only text."""


@dataclass
class Turn:
    """The state of one turn between the player lines and the saved narration."""

    engine: Engine
    session: Session
    lines: list[PlayerLine]
    turn: int
    messages: list[Message] = field(default_factory=list)
    turn_starts: int = 0
    """Where this turn's own work (rounds of tool calls, a correction) begins in messages."""
    rounds: int = 0
    malformed_rounds: int = 0
    """Rounds whose calls had unusable arguments."""
    corrected: bool = False
    checks_called: bool = False
    resolution: Resolution | None = None
    narration: str = ""
    fallback: bool = False
    dice: Dice = field(init=False)
    toolbox: Toolbox = field(init=False)
    _recovered: tuple[list[ToolCall], str] = field(init=False)
    """What `_recover` left: the calls to run and the reply's text."""
    _checked: bool = field(default=False, init=False)
    """What `check_reply` decided: True when the narration is final."""

    def __post_init__(self) -> None:
        self.dice = Dice.of(self.session)  # every roll is counted in the session as it is made
        self.toolbox = Toolbox(self.engine.bundle, self.session, self.dice, self.engine.memory)

    async def play(self) -> AsyncIterator[Event]:
        engine = self.engine
        context = await build_context(
            engine.bundle, self.session, engine.memory, self.lines, budget=engine.context_budget
        )
        engine.last_built = context
        self.messages = list(context.messages)
        self.turn_starts = len(self.messages)
        guard = EchoGuard.of(engine.bundle)
        try:
            done = False
            while not done:
                reply = Reply(hold=EchoHold(guard, self.session))
                tools_allowed = self._tools_allowed()
                fit_turn(self.messages, self.turn_starts, engine.context_budget)
                async for event in engine._ask(self.messages, tools_allowed, self.turn, reply):
                    yield event
                for event in self._recover(reply, tools_allowed):
                    yield event
                calls, text = self._recovered
                if calls:
                    async for event in self.run_calls(reply, calls, text):
                        yield event
                    continue
                for event in self.check_reply(reply, text):
                    yield event
                done = self._checked
        except LLMError as error:
            yield EngineError(turn=self.turn, message=f"the model failed: {error}")
            self.narration = engine._fallback_line(self.session, self.turn)
            self.fallback = True
        async for event in self.finish():
            yield event

    def _tools_allowed(self) -> bool:
        # A model that keeps sending unusable arguments gets one retry, then narrates.
        return (
            self.rounds < self.engine.max_tool_rounds
            and self.malformed_rounds < 2
            and self.session.status is Status.active
        )

    def _recover(self, reply: Reply, tools_allowed: bool) -> list[Event]:
        """Tool calls written into the text become calls (or, in the final round, are cut
        from it); sets `_recovered` to (the calls to run, the text). Plain functions, this
        and `check_reply`, since they never wait: an async generator each, every round, made
        `mardonar explore` 2% slower."""
        events: list[Event] = []
        calls = list(reply.calls)
        text = reply.text
        if tools_allowed and not calls:
            recovered = recover_tool_calls(text)
            if recovered.leaked:
                text = recovered.text
                for call in recovered.calls:
                    self.engine._take_call(reply, call)
                calls = list(reply.calls)
                if reply.streamed:
                    events.append(
                        NarrationReplaced(turn=self.turn, reason="tool syntax in the reply")
                    )
                    reply.streamed = False
        elif not tools_allowed:
            recovered = recover_tool_calls(text)
            if recovered.leaked:
                text = recovered.text
                if reply.streamed:
                    events.append(
                        NarrationReplaced(turn=self.turn, reason="tool syntax in the reply")
                    )
            calls = []  # no tools in the final round: whatever it asked for is ignored
        self._recovered = (calls, text)
        return events

    async def run_calls(
        self, reply: Reply, calls: list[ToolCall], text: str
    ) -> AsyncIterator[Event]:
        """Run one round of tool calls and append them and their results to the messages."""
        engine, turn = self.engine, self.turn
        self.rounds += 1
        if reply.streamed:
            # Text said alongside tool calls is a preamble, not the narration.
            yield NarrationReplaced(turn=turn, reason="the model called tools")
        if reply.dropped:
            log.warning(
                "a reply made %d tool calls; %d run, the rest refused or dropped",
                len(calls) + reply.dropped,
                engine.max_tool_calls,
            )
        self.messages.append(Message("assistant", bound_text(text) or "", tool_calls=tuple(calls)))
        malformed_in_round = False
        for number, call in enumerate(calls):
            parsed = call.parsed_arguments
            shown_args = parsed if isinstance(parsed, dict) else {"_raw": call.arguments}
            yield ToolCalled(turn=turn, call_id=call.id, name=call.name, args=shown_args)
            started = time.perf_counter()
            if number < engine.max_tool_calls:
                outcome = await self.toolbox.call(call.name, call.arguments)
            else:
                outcome = ToolOutcome(
                    False,
                    error=(
                        f"not run: at most {engine.max_tool_calls} tool calls are run "
                        "per reply, and this one and any after it in the same reply "
                        "were not; make the calls that still matter in your next reply"
                    ),
                )
            outcome.error = bound_text(outcome.error)
            malformed_in_round = malformed_in_round or outcome.malformed
            if call.name == "skill_check":
                self.checks_called = True
            resolved_event: Resolved | None = None
            if outcome.ok and outcome.resolved_outcome and outcome.result is not None:
                resolution = await engine._finish(
                    self.session,
                    outcome_id=outcome.resolved_outcome,
                    narrative=outcome.resolve_summary or "",
                    reason="resolved",
                    turn=turn,
                )
                self.resolution = resolution
                outcome.result.update(
                    {"xp": resolution.xp, "skipped": resolution.skipped, "items": resolution.items}
                )
                resolved_event = Resolved(
                    turn=turn,
                    outcome=resolution.outcome or "",
                    result=resolution.result or "",
                    summary=outcome.resolve_summary or "",
                    xp=resolution.xp,
                    skipped=resolution.skipped,
                    items=resolution.items,
                    summary_path=str(resolution.summary_path),
                    vtt=tuple(g.model_dump() for g in resolution.vtt),
                )
            yield ToolResult(
                turn=turn,
                call_id=call.id,
                name=call.name,
                args=shown_args,
                ok=outcome.ok,
                result=outcome.result,
                error=outcome.error,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
            )
            for event in outcome.events:
                yield event
            if resolved_event is not None:
                yield resolved_event
            payload = (
                {"ok": True, "result": outcome.result}
                if outcome.ok
                else {"ok": False, "error": outcome.error}
            )
            self.messages.append(
                Message("tool", result_message(payload), tool_call_id=call.id, name=call.name)
            )
        self.malformed_rounds += malformed_in_round

    def check_reply(self, reply: Reply, text: str) -> list[Event]:
        """A final reply that breaks a rule gets one correction round (`_checked` False: ask
        again); the second is cut to the limits, or, when it repeats GM-only text
        (engine/echo.py), replaced by the persona's fallback line. Sets the narration when it
        is final."""
        engine, turn = self.engine, self.turn
        events: list[Event] = []
        problems = problems_with(
            engine.bundle, self.session, text, self.lines, checks_called=self.checks_called
        )
        echo = EchoGuard.of(engine.bundle).find_in(text, self.session)
        if echo is not None:
            problems.insert(0, echo_problem(echo))
        if problems and not self.corrected:
            self.corrected = True
            reason = "; ".join(problems)
            if reply.streamed:  # withdraw the draft first, then say why
                events.append(NarrationReplaced(turn=turn, reason=reason))
            events.append(Correction(turn=turn, reason=reason, original=text))
            self.messages.append(Message("assistant", bound_text(text) or ""))
            self.messages.append(Message("user", turnformat.correction(reason)))
            self._checked = False
            return events
        if echo is not None:
            # Corrected once and still echoing: nothing of it is shown, not even cut short.
            log.warning("a reply repeated %s again; the fallback line was narrated", echo.what)
            if reply.streamed:
                events = [NarrationReplaced(turn=turn, reason="the reply repeated GM-only text")]
            text = ""
        elif problems:
            text = enforce_limits(engine.bundle, text)
        self.narration = text.strip()
        if not self.narration:
            self.narration = engine._fallback_line(self.session, turn)
            self.fallback = True
        self._checked = True
        return events

    async def finish(self) -> AsyncIterator[Event]:
        """Narrate, write the turn into the history and save it (ending the encounter at
        limits.max_turns)."""
        engine, session, turn = self.engine, self.session, self.turn
        bundle = engine.bundle
        yield Narration(turn=turn, text=self.narration, fallback=self.fallback)
        for line in self.lines:
            session.history.append(
                HistoryEntry(turn=turn, role="player", speaker=line.player, text=line.text)
            )
        session.history.append(
            HistoryEntry(turn=turn, role="gm", speaker="gm", text=self.narration)
        )
        compact_old_turns(bundle, session)
        expected = session.turn
        session.turn = turn
        session.pending = []
        if self.resolution is None and turn >= bundle.spec.limits.max_turns:
            done = await engine._finish(
                session, outcome_id=None, narrative="", reason="max_turns", turn=turn
            )
            await engine._save(session, expected_turn=expected)
            yield Ended(turn=turn, reason="max_turns", summary_path=str(done.summary_path))
            return
        await engine._save(session, expected_turn=expected)
        if self.resolution is not None:
            yield Ended(
                turn=turn, reason="resolved", summary_path=str(self.resolution.summary_path)
            )
