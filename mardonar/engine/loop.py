"""The engine: sessions and the turn loop (ARCHITECTURE.md, "The turn loop").

`Engine.run_turn` takes a session and the player lines of one turn and yields events;
every event also goes to the subscribers (the transcript writer, a TUI log…). The engine
knows nothing of terminals or Discord.

It is a little over 500 lines because `Engine` is the one object every front end drives
(lifecycle, player actions, the turn's entry with its lock and bounds); what one turn does
between the lines and the saved narration is engine/turn.py's, and resolution, grants,
tools and context have their own modules.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mardonar.engine.bounds import (
    MAX_PLAYER_LINE_CHARS,
    bound_call,
    bound_player_line,
)
from mardonar.engine.context import BuiltContext
from mardonar.engine.dice import Dice
from mardonar.engine.events import (
    Ended,
    EngineError,
    Event,
    ModelReplied,
    Narration,
    NarrationDelta,
    NarrationReplaced,
    Notice,
    PlayerSaid,
    Rolled,
)
from mardonar.engine.limits import TurnLimits
from mardonar.engine.resolution import Resolution, finish
from mardonar.engine.session import HistoryEntry, Session, Status
from mardonar.engine.tools import TOOL_SPECS
from mardonar.engine.turn import Reply, Turn
from mardonar.engine.window import check_fits, fit, fixed_tokens, window_of
from mardonar.llm.base import (
    LLM,
    BackendNote,
    Finish,
    LLMRequest,
    Message,
    Restart,
    TextDelta,
    ToolCall,
    asked_digest,
)
from mardonar.llm.turnformat import PlayerLine
from mardonar.memory.base import NewMemory, remember_all
from mardonar.store.base import NotingTurnLock, StoreUnavailable, TurnBusy, TurnConflict

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.memory.base import Memory
    from mardonar.store.base import SessionStore
    from mardonar.vtt.base import ItemRelay

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]

_publishing_for: ContextVar[Session | None] = ContextVar("mardonar_publishing_for", default=None)

_REFUSALS = (StoreUnavailable, TurnBusy, TurnConflict)
"""Store failures that cost one turn (nothing applied; the line may be sent again), not the
process: the engine reports them as one EngineError line."""


def publishing_for() -> Session | None:
    """The session whose turn published the event a subscriber is handling (None outside a
    turn): events carry no session id, and one engine may play several sessions at once."""
    return _publishing_for.get()


def _digest(data: str) -> bytes:
    return hashlib.blake2b(data.encode(), digest_size=16).digest()


def _adopt(session: Session, source: Session) -> None:
    """Make `session` (the object the front end holds) a copy of `source`, in place."""
    transcript = session.transcript  # this process's file, whoever saved last
    for name in Session.model_fields:
        setattr(session, name, getattr(source, name))
    session.transcript = transcript


@dataclass(frozen=True)
class NpcView:
    id: str
    name: str
    role: str
    disposition: str
    memories: tuple[str, ...]
    revealed: tuple[str, ...]
    secrets: int
    """How many secrets the NPC has in all (revealed or not)."""


def utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


class Engine:
    """Runs encounters of one bundle (spec + persona + party + lore)."""

    def __init__(
        self,
        bundle: Bundle,
        *,
        llm: LLM,
        store: SessionStore,
        memory: Memory,
        data_dir: Path,
        limits: TurnLimits = TurnLimits(),
        subscribers: Iterable[Subscriber] = (),
        relay: ItemRelay | None = None,
    ) -> None:
        self.bundle = bundle
        self.llm = llm
        self.store = store
        self.memory = memory
        self.data_dir = data_dir
        self.limits = limits
        """The context budget and tool-call bounds of every turn (the replay may set it)."""
        self.subscribers: list[Subscriber] = list(subscribers)
        self.relay = relay
        """Foundry VTT relay (VTT_RELAY_URL) that resolution pushes items and XP to; None
        records them only."""
        self.fitted_budget: int | None = None
        """The context budget cut to the model's context window (engine/window.py), once
        known; None: the budget is `limits.context_budget` as it is."""
        self._window_asked = False
        self.last_built: BuiltContext | None = None
        """Exactly what the model was sent on the last turn (the TUI's context inspector)."""
        self._saved: dict[str, tuple[bytes, tuple[int, Status, int]]] = {}
        """Per session, the digest of the JSON this engine last saved and the turn, status
        and rolls in it: what `_catch_up` finds when nobody else has written since."""

    # The turn steps (engine/turn.py) and the TUI's context inspector read the limits here.

    @property
    def context_budget(self) -> int:
        if self.fitted_budget is not None:
            return self.fitted_budget
        return self.limits.context_budget

    async def fit_window(self, session: Session, *, strict: bool = True) -> None:
        """Fit the context budget to the model's window (engine/window.py), when the model
        has one. `strict`: a spec whose fixed parts cannot fit is a `ConfigError` line
        (at start and resume; a turn only fits, it never fails on this)."""
        self._window_asked = True
        window = await window_of(self.llm)
        if window is None:
            self.fitted_budget = None
            return
        fitted = fit(self.limits.context_budget, window, reply=self.bundle.persona.model.max_tokens)
        self.fitted_budget = fitted.budget
        if fitted.cut:
            log.info(
                "context budget %d cut to %d to fit %s's %d-token window (%s)",
                fitted.configured,
                fitted.budget,
                self.llm.name,
                window.tokens,
                window.source,
            )
        if strict:
            fixed = await fixed_tokens(self.bundle, session, self.memory, fitted.budget)
            check_fits(fitted, fixed, spec=self.bundle.spec.id, model=self.llm.name)

    @property
    def max_tool_rounds(self) -> int:
        return self.limits.max_tool_rounds

    @property
    def max_tool_calls(self) -> int:
        return self.limits.max_tool_calls

    # ------------------------------------------------------------------ plumbing

    def publish(self, event: Event) -> Event:
        for subscriber in self.subscribers:
            subscriber(event)
        return event

    def _publish_for(self, session: Session, event: Event) -> Event:
        # Set and reset around the synchronous calls only, never across a `yield`: the
        # consumer of run_turn may resume the generator from another task's context.
        token = _publishing_for.set(session)
        try:
            return self.publish(event)
        finally:
            _publishing_for.reset(token)

    async def _catch_up(self, session: Session) -> None:
        """Called holding the turn lock: raise TurnConflict (after taking the stored state)
        when another process changed the session since this one last saw it."""
        stored = await self.store.load_session(session.id)
        if stored is None:
            # Expired (Redis' sliding TTL) while this process kept it: it is saved again.
            await self._save(session, expected_turn=None)
            return
        mine = (session.turn, session.status, session.rolls)
        if self._saved.get(session.id) == (_digest(stored.data), mine):
            return  # the store holds what this engine last saved, and so does `session`
        current = Session.model_validate_json(stored.data)
        if (current.turn, current.status, current.rolls) == mine:
            return
        _adopt(session, current)
        raise TurnConflict(
            f"another process already played turn {current.turn} of session {session.id} "
            f"({current.status.value}); your line was not applied, the story is now at "
            f"turn {current.turn}"
        )

    async def _refused(self, session: Session, before: str, error: Exception) -> EngineError:
        """Undo what a turn the store refused did to `session` (`before`: its JSON at the
        start); the line saying why."""
        if isinstance(error, TurnConflict):
            stored = None
            with contextlib.suppress(StoreUnavailable):
                stored = await self.store.load_session(session.id)
            _adopt(session, Session.model_validate_json(stored.data if stored else before))
            if not str(error).startswith("another process"):  # the save's own conflict
                error = TurnConflict(
                    f"session {session.id} was changed elsewhere; your line was not applied, "
                    f"the story is now at turn {session.turn}"
                )
            return EngineError(turn=session.turn, message=str(error), source="store")
        _adopt(session, Session.model_validate_json(before))
        if isinstance(error, TurnBusy):  # its message already says to send the line again
            return EngineError(turn=session.turn, message=str(error), source="store")
        return EngineError(
            turn=session.turn, message=f"{error} (send your line again)", source="store"
        )

    async def _save(self, session: Session, *, expected_turn: int | None) -> None:
        data = session.model_dump_json()
        state = (session.turn, session.status, session.rolls)
        self._saved.pop(session.id, None)  # unknown until the store has taken it
        await self.store.save_session(
            session.id,
            spec_id=session.spec_id,
            status=session.status.value,
            turn=session.turn,
            data=data,
            expected_turn=expected_turn,
        )
        self._saved[session.id] = (_digest(data), state)

    async def _finish(
        self, session: Session, *, outcome_id: str | None, narrative: str, reason: str, turn: int
    ) -> Resolution:
        return await finish(
            self.bundle,
            session,
            data_dir=self.data_dir,
            memory=self.memory,
            store=self.store,
            outcome_id=outcome_id,
            narrative=narrative,
            reason=reason,
            turn=turn,
            relay=self.relay,
        )

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, seed: int, transcript: Path | None = None) -> Session:
        """Create and persist a new session; seed NPC memory and the lore index."""
        bundle = self.bundle
        started = datetime.now(UTC)
        base_id = f"{bundle.spec.id}-{utc_stamp(started)}"
        session = Session(
            id=base_id,
            spec_id=bundle.spec.id,
            spec_sha256=bundle.spec_sha256,
            persona_sha256=bundle.persona_sha256,
            seed=seed,
            model=self.llm.name,
            started_at=started.isoformat(timespec="seconds"),
        )
        await self.fit_window(session)  # before anything is saved: a spec too big starts nothing
        for attempt in range(2, 100):
            try:
                await self._save(session, expected_turn=None)
                break
            except TurnConflict:  # two sessions started within one second
                session.id = f"{base_id}-{attempt}"
        if transcript is None:
            transcript = bundle.root / "transcripts" / f"{session.id}.jsonl"
        session.transcript = str(transcript)
        session.history.append(
            HistoryEntry(turn=0, role="gm", speaker="gm", text=bundle.spec.opening.strip())
        )
        await self.memory.index_lore(bundle.lore)
        await remember_all(
            self.memory,
            (
                NewMemory(
                    scope=bundle.spec.id, session_id=session.id, npc=npc.id, fact=fact, kind="seed"
                )
                for npc in bundle.spec.npcs
                for fact in npc.knows
            ),
        )
        await self._save(session, expected_turn=0)
        return session

    def header(self, session: Session) -> dict[str, Any]:
        return {
            "spec": session.spec_id,
            "spec_sha256": session.spec_sha256,
            "persona_sha256": session.persona_sha256,
            "seed": session.seed,
            "model": session.model,
            "started_at": session.started_at,
            "session": session.id,
        }

    def opening(self, session: Session) -> Event:
        return self.publish(Narration(turn=0, text=self.bundle.spec.opening.strip()))

    async def resume(self) -> Session | None:
        """The most recent active session of this spec, ready to continue."""
        stored = await self.store.latest_session(self.bundle.spec.id, status="active")
        if stored is None:
            return None
        session = Session.model_validate_json(stored.data)
        await self.fit_window(session)
        await self.memory.index_lore(self.bundle.lore)
        return session

    # ------------------------------------------------------------------ views

    async def npc_views(self, session: Session) -> list[NpcView]:
        """Each NPC as a front end shows it: disposition, what it remembers in this session,
        the secrets it has revealed. Read-only: nothing here changes the session."""
        views: list[NpcView] = []
        for npc in self.bundle.spec.npcs:
            hits = await self.memory.recall(
                scope=self.bundle.spec.id, session_id=session.id, npc=npc.id, limit=50
            )
            views.append(
                NpcView(
                    id=npc.id,
                    name=npc.name,
                    role=npc.role,
                    disposition=npc.disposition.value,
                    memories=tuple(hit.fact for hit in hits),
                    revealed=tuple(session.revealed_secrets.get(npc.id, ())),
                    secrets=len(npc.secrets),
                )
            )
        return views

    # ------------------------------------------------------------------ player actions

    async def player_roll(self, session: Session, player: str, expression: str) -> Rolled:
        """A player's own `/roll`: seeded like every other roll, not a turn.

        Raises DiceError for a bad expression, and StoreUnavailable, TurnBusy or TurnConflict
        (one line each; the session is left as it was, or as another process saved it)."""
        async with self.store.turn_lock(session.id):
            await self._catch_up(session)
            before = session.rolls
            rolled = Dice.of(session).roll(expression)  # counts in the session
            try:
                await self._save(session, expected_turn=session.turn)
            except BaseException:
                session.rolls = before
                raise
        character = self.bundle.party.by_player(player)
        event = Rolled(
            turn=session.turn,
            who=character.name if character else player,
            expression=rolled.expression,
            detail=rolled.detail,
            total=rolled.total,
            reason="/roll",
            natural=rolled.natural,
        )
        return self.publish(event)  # type: ignore[return-value]

    async def end(self, session: Session, reason: str = "ended_by_player") -> list[Event]:
        """End the encounter unresolved (the `/end` command)."""
        if session.status is not Status.active:
            return []
        before = session.model_dump_json()  # 4x cheaper than a deep copy; parsed only if needed
        try:
            async with self.store.turn_lock(session.id):
                await self._catch_up(session)
                expected = session.turn
                done = await self._finish(
                    session, outcome_id=None, narrative="", reason=reason, turn=session.turn
                )
                await self._save(session, expected_turn=expected)
        except _REFUSALS as error:
            return [self._publish_for(session, await self._refused(session, before, error))]
        return [
            self.publish(
                Ended(turn=session.turn, reason=reason, summary_path=str(done.summary_path))
            )
        ]

    # ------------------------------------------------------------------ the turn

    async def run_turn(
        self, session: Session, lines: Sequence[PlayerLine | tuple[str, str]]
    ) -> AsyncIterator[Event]:
        """Play one turn holding the session's turn lock. A turn the store refuses (down,
        busy, or already played by another process) changes nothing in memory or in the
        store and ends with one EngineError saying why; the process plays on.

        `lines` are PlayerLines or `(player, text)` pairs."""
        played = [self._named(line) for line in PlayerLine.all_of(lines)]
        before = session.model_dump_json()  # 4x cheaper than a deep copy; parsed only if needed
        try:
            async with NotingTurnLock(self.store, session.id) as lock:
                async for waiting in lock.waiting():  # why nothing happens yet, as it waits
                    notice = Notice(turn=session.turn, text=waiting, data={"waiting": True})
                    yield self._publish_for(session, notice)
                await self._catch_up(session)
                async for event in self._turn(session, played):
                    yield self._publish_for(session, event)
        except _REFUSALS as error:
            yield self._publish_for(session, await self._refused(session, before, error))

    def _fallback_line(self, session: Session, turn: int) -> str:
        lines = self.bundle.persona.fallback_lines
        digest = hashlib.sha256(f"{session.seed}:{turn}".encode()).digest()
        return lines[digest[0] % len(lines)]

    async def _ask(
        self, messages: list[Message], tools: bool, turn: int, reply: Reply
    ) -> AsyncIterator[Event]:
        options = self.bundle.persona.model
        request = LLMRequest(
            messages=tuple(messages),
            tools=TOOL_SPECS if tools else (),
            temperature=options.temperature,
            max_tokens=options.max_tokens,
            options=options.model_dump(exclude_none=True, exclude={"temperature", "max_tokens"}),
        )
        started = time.perf_counter()
        async for chunk in self.llm.stream(request):
            if isinstance(chunk, TextDelta):
                reply.text += chunk.text
                shown = reply.hold.feed(chunk.text) if reply.hold else chunk.text
                if shown:
                    reply.streamed = True
                    yield NarrationDelta(turn=turn, text=shown)
            elif isinstance(chunk, ToolCall):
                self._take_call(reply, chunk)
            elif isinstance(chunk, Finish):
                reply.finish = chunk
            elif isinstance(chunk, Restart):
                # The backend failed mid-answer and another starts over: withdraw the draft.
                if reply.streamed:
                    yield NarrationReplaced(turn=turn, reason=f"the model failed: {chunk.reason}")
                reply.text, reply.calls, reply.streamed, reply.dropped = "", [], False, 0
                if reply.hold:
                    reply.hold.reset()
            elif isinstance(chunk, BackendNote):
                if chunk.error:
                    yield EngineError(turn=turn, message=chunk.text)
                else:
                    yield Notice(turn=turn, text=chunk.text, data={"record": True})
        rest = reply.hold.end() if reply.hold else ""
        if rest:
            reply.streamed = True
            yield NarrationDelta(turn=turn, text=rest)
        yield ModelReplied(
            turn=turn,
            content=reply.text,
            tool_calls=tuple(call.to_dict() for call in reply.calls),
            model=self.llm.name,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            prompt_tokens=reply.finish.prompt_tokens if reply.finish else None,
            completion_tokens=reply.finish.completion_tokens if reply.finish else None,
            usage_estimated=reply.finish.estimated if reply.finish else False,
            asked=asked_digest(messages),
        )

    def _take_call(self, reply: Reply, call: ToolCall) -> None:
        """Keep a call of the reply, bounded; past the cap only the first one is kept (to be
        refused, so the model hears why), the rest are counted and dropped: 1,000 calls in
        one reply cost what 9 do."""
        if len(reply.calls) > self.max_tool_calls:
            reply.dropped += 1
            return
        reply.calls.append(bound_call(call))

    def _named(self, line: PlayerLine) -> PlayerLine:
        """`line` with the name of the player's character (the player id when none)."""
        if line.name:
            return line
        character = self.bundle.party.by_player(line.player)
        return line.model_copy(update={"name": character.name if character else line.player})

    def _bounded_lines(
        self, lines: list[PlayerLine], turn: int
    ) -> tuple[list[PlayerLine], list[Event]]:
        """The player lines cut to MAX_PLAYER_LINE_CHARS, and a notice for each line cut."""
        bounded: list[PlayerLine] = []
        notices: list[Event] = []
        for line in lines:
            kept, length = bound_player_line(line.text)
            bounded.append(line.model_copy(update={"text": kept}) if length else line)
            if length:
                notices.append(
                    Notice(
                        turn=turn,
                        text=(
                            f"{line.name}'s line was cut to "
                            f"{MAX_PLAYER_LINE_CHARS:,} of its {length:,} characters; the rest was "
                            "not sent to the GM"
                        ),
                        data={"cut": length},
                    )
                )
        return bounded, notices

    async def _turn(self, session: Session, lines: list[PlayerLine]) -> AsyncIterator[Event]:
        turn = session.turn + 1
        if session.status is not Status.active:
            yield Notice(
                turn=session.turn, text="The encounter is over; start a new one to play again."
            )
            return
        if not lines:
            return
        if not self._window_asked:  # an engine made for a stored session (Discord's resume)
            await self.fit_window(session, strict=False)
        lines, notices = self._bounded_lines(lines, turn)
        for notice in notices:
            yield notice
        # The player's words are saved before the model is asked: if the process dies or
        # the model fails, nothing they said is lost (resume re-runs this turn).
        session.pending = list(lines)
        for line in lines:
            session.add_participant(line.player)
        await self._save(session, expected_turn=session.turn)
        for line in lines:
            yield PlayerSaid(turn=turn, player=line.player, character=line.name, text=line.text)

        async for event in Turn(self, session, lines, turn).play():
            yield event
