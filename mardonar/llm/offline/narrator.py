"""The offline narrator's policy: what a game master with no model does with each turn.

Reading the request is reading.py, the English english.py, the phrasings phrases.py; this
module decides: roll the check the players' words call for, resolve the outcome it leads
to, comply with a correction, else let an NPC answer in its voice. Every choice among
phrasings is `_pick`'s SHA-256, so a transcript replays byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from mardonar.llm.base import Chunk, Finish, LLMRequest, Message, TextDelta, ToolCall
from mardonar.llm.offline.english import (
    _SENTENCE_END,
    _is_clause,
    _lower_first,
    _prose_vocabulary,
    _sentence,
    _words,
    nudge_clause,
    text_chunks,
    voice_clause,
)
from mardonar.llm.offline.phrases import (
    _CLOSERS,
    _CLOSING,
    _KNOWING,
    _LEAD_IN_FAILURE,
    _LEAD_IN_SUCCESS,
    _NAME_STOPWORDS,
    _NUDGE,
    _REFUSED,
    _REFUSED_OTHER,
    _SECRET,
    _TONE,
)
from mardonar.llm.offline.reading import TurnResult, TurnView, _loads, read_turn
from mardonar.llm.turnformat import PlayerLine, phrase_pattern

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.content.models import Check, Npc, Outcome

T = TypeVar("T")


# --------------------------------------------------------------------------- reading requests


@dataclass(frozen=True, slots=True)
class OfflineReply:
    """One answer: text, or tool calls (never both)."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()


# --------------------------------------------------------------------------- small text helpers


# --------------------------------------------------------------------------- the narrator

Beat = tuple[str, bool]
"""A sentence of narration and whether it is essential (kept when trimming to length)."""


class OfflineNarrator:
    """A deterministic game master that needs no model: the spec is its script."""

    def __init__(self, bundle: Bundle, seed: int = 0) -> None:
        self.bundle = bundle
        self.seed = seed
        self.spec = bundle.spec
        self._banned = [re.compile(p) for p in bundle.persona.filters.banned]
        self._vocabulary = _prose_vocabulary(bundle.spec)
        self._names: dict[str, list[str]] = {}
        self._roles: dict[str, list[str]] = {}
        for npc in bundle.spec.npcs:
            parts = [p.strip("\"'“”") for p in npc.name.split()]
            self._names[npc.id] = [npc.name, npc.id] + [
                p for p in parts if len(p) > 2 and p.lower() not in _NAME_STOPWORDS
            ]
            role_words = [
                w for w in re.findall(r"[\w'-]+", npc.role) if w.lower() not in _NAME_STOPWORDS
            ]
            self._roles[npc.id] = [npc.role, *role_words[:1]] if npc.role else []

    @property
    def name(self) -> str:
        return "offline"

    async def aclose(self) -> None:
        """Nothing to close: the narrator runs in process."""

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        reply = self.reply(request)
        for chunk in text_chunks(reply.text):
            yield TextDelta(chunk)
        for call in reply.tool_calls:
            yield call
        yield Finish(reason="tool_calls" if reply.tool_calls else "stop")

    # ------------------------------------------------------------------ decisions

    def reply(self, request: LLMRequest) -> OfflineReply:
        """The whole answer at once (what `stream` streams); handy for explore and tests."""
        turn = self.read(request.messages)
        tools = {tool.name for tool in request.tools}
        if turn.correction is not None:
            call = self._correction_call(turn, tools)
            if call is not None:
                return OfflineReply("", (call,))
            return OfflineReply(self._narrate(turn, short=True))
        if any(r.name == "resolve" and r.ok for r in turn.results):
            return OfflineReply(self._narrate(turn))
        last = turn.results[-1] if turn.results else None
        if last is not None and last.ok and last.name == "skill_check" and "resolve" in tools:
            target = last.result.get("leads_to")
            outcome = self.spec.outcome(target) if isinstance(target, str) else None
            if outcome is not None and outcome.id not in turn.attempted_outcomes:
                player = str(last.result.get("player") or "")
                line = self._line_of(turn, player)
                who = str(last.result.get("character") or (line.name if line else player))
                summary = self._summary(outcome, who, line.text if line else "")
                return OfflineReply("", (self._call(turn, "resolve", outcome.id, summary),))
        action = self._next_action(turn, tools)
        if action is not None:
            return OfflineReply("", (action,))
        return OfflineReply(self._narrate(turn))

    def read(self, messages: Sequence[Message]) -> TurnView:
        """Find this turn, its player lines, the tool results so far and any correction."""
        return read_turn(messages, self._player_id)

    def match_check(self, text: str) -> Check | None:
        """The check whose keyword appears earliest in `text` (tie: spec order)."""
        return _earliest(text, self.spec.checks)

    def match_outcome(self, text: str) -> Outcome | None:
        """The outcome whose keyword appears earliest in `text` (tie: spec order)."""
        return _earliest(text, self.spec.outcomes)

    def _next_action(self, turn: TurnView, tools: set[str]) -> ToolCall | None:
        """The first player action of this turn not yet attempted: checks before outcomes
        (a check is something the GM must roll for; an outcome only ends things)."""
        if not tools:
            return None
        planned: list[tuple[PlayerLine, Check | None, Outcome | None]] = []
        for line in turn.lines:
            check = self.match_check(line.text)
            planned.append((line, check, None if check else self.match_outcome(line.text)))
        if "skill_check" in tools:
            for line, check, _ in planned:
                player = self._player_id(line.player)
                if check is not None and (check.id, player) not in turn.attempted_checks:
                    return self._call(turn, "skill_check", check.id, player)
        if "resolve" in tools:
            for line, _, outcome in planned:
                if outcome is not None and outcome.id not in turn.attempted_outcomes:
                    summary = self._summary(outcome, line.name, line.text)
                    return self._call(turn, "resolve", outcome.id, summary)
        return None

    def _correction_call(self, turn: TurnView, tools: set[str]) -> ToolCall | None:
        """Comply with a correction that names a check: roll it for the player it names (the
        reply checker writes `{"player": …, "check": …}`), else the player whose words match
        it, else the last speaker. Never a check already called this turn."""
        text = turn.correction or ""
        if "skill_check" not in tools:
            return None
        wanted: list[tuple[int, str, str | None]] = []
        for block in re.finditer(r"\{[^{}]*\}", text):
            value = _loads(block.group())
            if isinstance(value, dict) and self.spec.check(str(value.get("check"))):
                player = value.get("player")
                wanted.append((block.start(), str(value["check"]), str(player) if player else None))
        for check in self.spec.checks:
            at = _first_position(text, [check.id])
            if at is not None:
                wanted.append((at, check.id, None))
        # The reply checker's `{"player": …, "check": …}` first, then ids in order of mention.
        for _, check_id, named in sorted(wanted, key=lambda w: (w[2] is None, w[0])):
            player = self._player_for(turn, check_id, named)
            if player and (check_id, player) not in turn.attempted_checks:
                return self._call(turn, "skill_check", check_id, player)
        return None

    # ------------------------------------------------------------------ narration

    def _narrate(self, turn: TurnView, *, short: bool = False) -> str:
        beats: list[Beat] = []
        resolved = False
        lead_in = False
        for index, result in enumerate(turn.results):
            salt = f"result{index}"
            if result.name == "skill_check" and result.ok:
                beats.extend(self._check_beats(turn, result, salt, with_lead_in=not lead_in))
                lead_in = True
            elif result.name == "resolve" and result.ok:
                beats.extend(self._closing_beats(turn, result, salt))
                resolved = True
            elif not result.ok:
                beats.extend(self._refusal_beats(turn, result, salt))
        if not beats:
            beats = self._npc_beats(turn)
        elif not resolved:
            beats.extend(self._nudge_beats(turn, self._speaking_npc(turn)))
        limit = self.bundle.persona.filters.max_words - 1
        budget = min(limit, max(12, limit // 3)) if short else limit
        if short:
            beats = [b for b in beats if b[1]] or beats[:1]
        return self._clean(_fit(beats, budget), turn)

    def _check_beats(
        self, turn: TurnView, result: TurnResult, salt: str, *, with_lead_in: bool
    ) -> list[Beat]:
        data = result.result
        success = data.get("success") is True
        who = str(data.get("character") or data.get("player") or "the party")
        beats: list[Beat] = []
        if with_lead_in:
            pool = _LEAD_IN_SUCCESS if success else _LEAD_IN_FAILURE
            beats.append((self._pick(turn, pool, salt + "lead").format(who=who), False))
        text = data.get("outcome_text")
        check = self.spec.check(str(data.get("check"))) if data.get("check") else None
        if isinstance(text, str) and text.strip():
            beats.append((_sentence(text), True))
        else:
            skill = str(data.get("skill") or "effort").replace("-", " ")
            verdict = "carries the moment" if success else "is not enough this time"
            beats.append((f"{who}'s {skill} {verdict}.", True))
        secrets = data.get("revealed_secrets")
        npc = self.spec.npc(check.npc) if check is not None and check.npc else None
        # Only a successful check on this NPC may voice its secrets (the engine only sends
        # them then; checking again costs nothing and keeps the promise local).
        if success and npc is not None and isinstance(secrets, list):
            start = self._pick(turn, range(len(_SECRET)), salt + "secret")
            for number, secret in enumerate(s for s in secrets if s in npc.secrets):
                line = _SECRET[(start + number) % len(_SECRET)]  # never the same twice running
                secret = _sentence(secret)
                secret_lc = _lower_first(secret, self._vocabulary)
                beats.append((line.format(name=npc.name, secret=secret, secret_lc=secret_lc), True))
        return beats

    def _closing_beats(self, turn: TurnView, result: TurnResult, salt: str) -> list[Beat]:
        outcome_id = result.result.get("outcome") or result.args.get("outcome")
        outcome = self.spec.outcome(str(outcome_id)) if outcome_id else None
        if outcome is None:
            return [("And so it ends.", True)]
        flavour = self._pick(turn, _CLOSING[outcome.result], salt + "closing")
        return [(_sentence(outcome.when), True), (flavour, False)]

    def _refusal_beats(self, turn: TurnView, result: TurnResult, salt: str) -> list[Beat]:
        """A refused call changes nothing, and the narration says so in the fiction; the
        engine's reason is for the model, never read out. "already rolled" (the engine's
        wording for a repeated check) gets the NPC's "not twice" line."""
        if result.name != "skill_check" or "already" not in result.error.lower():
            return [(self._pick(turn, _REFUSED_OTHER, salt + "refused"), True)]
        check = self.spec.check(str(result.args.get("check") or ""))
        npc = self.spec.npc(check.npc) if check is not None and check.npc else None
        npc = npc or self._speaking_npc(turn)
        return [(self._pick(turn, _REFUSED, salt + "refused").format(name=npc.name), True)]

    def _npc_beats(self, turn: TurnView) -> list[Beat]:
        """Nothing to roll or resolve: an NPC answers in its voice with something it knows."""
        npc = self._speaking_npc(turn)
        gestures, adverbs, reports = _TONE[npc.disposition]
        gesture = self._pick(turn, gestures, "gesture")
        adverb = self._pick(turn, adverbs, "adverb")
        report = self._pick(turn, reports, "report")
        voice = voice_clause(npc.voice)
        named = f"{npc.name} — {voice} —" if voice else npc.name
        fact = self._pick(turn, npc.knows, "fact") if npc.knows else ""
        fact = _lower_first(_sentence(fact), self._vocabulary) if fact else ""
        if not fact:
            said = "waits for you to speak."
        elif _is_clause(fact):
            said = f"{report} {fact}"
        else:  # "Every alley between the sheds and pier nine." cannot follow "that"
            said = f"{_KNOWING[npc.disposition]} {fact}"
        role = f"the {npc.role}" if npc.role else npc.name
        templates: list[list[Beat]] = [
            [(f"{named} {gesture}, then {said}", True)],
            [(f"{role[0].upper()}{role[1:]} {gesture}.", False), (f"{named} {said}", True)],
            [
                (f"For a moment {named} says nothing.", True),
                (f"Then, {adverb}, {role} {said}", True),
            ],
            [(f"{adverb[0].upper()}{adverb[1:]}, {named} {said}", True)],
        ]
        beats = list(self._pick(turn, templates, "npc-template"))
        return beats + self._nudge_beats(turn, npc)

    def _nudge_beats(self, turn: TurnView, npc: Npc) -> list[Beat]:
        """What the players could try next: a check nobody has used yet, this NPC's first."""
        used = {c for c, _ in turn.attempted_checks} | set(turn.rolled_before)
        unused = [c for c in self.spec.checks if c.id not in used]
        pool = (
            [c for c in unused if c.npc == npc.id] or [c for c in unused if c.npc is None] or unused
        )
        beats: list[Beat] = []
        if pool:
            check = self._pick(turn, pool, "nudge-check")
            clause = nudge_clause(check.trigger)
            if clause is not None:
                modifier, action = clause
                template = self._pick(turn, _NUDGE, "nudge")
                mod = f" {modifier}" if modifier else ""
                beats.append((template.format(mod=mod, clause=action), False))
        closer = self._pick(turn, _CLOSERS, "closer") or ("" if beats else "What do you do?")
        if closer:
            beats.append((closer, False))
        return beats

    def _clean(self, text: str, turn: TurnView) -> str:
        """Never a banned pattern: drop offending sentences, then offending spans."""
        text = " ".join(text.split())
        if not self._banned_in(text):
            return text
        kept = [s for s in _SENTENCE_END.split(text) if s and not self._banned_in(s)]
        text = " ".join(kept)
        for _ in range(5):
            if not self._banned_in(text):
                break
            for pattern in self._banned:
                text = pattern.sub("", text)
            text = " ".join(text.split())
        if text and not self._banned_in(text):
            return text
        npc = self._speaking_npc(turn)
        for fallback in (f"{npc.name} waits to see what you do.", "What do you do?"):
            if not self._banned_in(fallback):
                return fallback
        return "…"

    def _banned_in(self, text: str) -> bool:
        return any(pattern.search(text) for pattern in self._banned)

    # ------------------------------------------------------------------ who and what

    def _speaking_npc(self, turn: TurnView) -> Npc:
        """The NPC named in the players' words; else the NPC of a check they matched or
        called this turn; else of the last check rolled earlier; else the last NPC named in
        the recent history; else the first NPC."""
        spec = self.spec
        text = " ".join(line.text for line in turn.lines)
        named = self._named_npc(text)
        if named is not None:
            return named
        check_ids = [c.id for line in turn.lines if (c := self.match_check(line.text))]
        check_ids += [c for c, _ in reversed(turn.attempted_checks)]
        check_ids += list(reversed(turn.rolled_before))
        for check_id in check_ids:
            check = spec.check(check_id)
            npc = spec.npc(check.npc) if check is not None and check.npc else None
            if npc is not None:
                return npc
        for message in reversed(turn.earlier):
            named = self._named_npc(message.content)
            if named is not None:
                return named
        return spec.npcs[0]

    def _named_npc(self, text: str) -> Npc | None:
        """The NPC named earliest in `text` by name, a distinctive part of it or its id;
        failing that, by its role ("the troll" → the troll who lives under the bridge)."""
        for aliases in (self._names, self._roles):
            best: tuple[int, int, Npc] | None = None
            for order, npc in enumerate(self.spec.npcs):
                at = _first_position(text, aliases[npc.id])
                if at is not None and (best is None or (at, order) < best[:2]):
                    best = (at, order, npc)
            if best is not None:
                return best[2]
        return None

    def _player_id(self, who: str) -> str:
        """A player id from an id or a character name, as the engine resolves it."""
        found = self.bundle.party.find(who)
        return found.player if found is not None else who

    def _line_of(self, turn: TurnView, player: str) -> PlayerLine | None:
        lines = [line for line in turn.lines if self._player_id(line.player) == player]
        return lines[-1] if lines else None

    def _player_for(self, turn: TurnView, check_id: str, named: str | None) -> str:
        if named:
            return self._player_id(named)
        check = self.spec.check(check_id)
        for line in turn.lines:
            if check is not None and _first_position(line.text, check.keywords) is not None:
                return self._player_id(line.player)
        if turn.lines:
            return self._player_id(turn.lines[-1].player)
        return self.bundle.party.characters[0].player

    def _summary(self, outcome: Outcome, who: str, action: str) -> str:
        """One or two sentences for `resolve`: the outcome and the action that reached it."""
        summary = _sentence(outcome.when)
        action = " ".join(action.split()[:30])
        if action:
            summary += f' It came down to {who}: "{action.rstrip(".")}."'
        return summary[:1000]

    # ------------------------------------------------------------------ determinism

    def _pick(self, turn: TurnView, options: Sequence[T], salt: str) -> T:
        """A stable choice from (seed, the turn's player message, round, salt): SHA-256, never
        hash() (salted per process) or a shared RNG, so replays and explore are repeatable."""
        material = f"{self.seed}\x1f{turn.key}\x1f{turn.round}\x1f{salt}".encode()
        number = int.from_bytes(hashlib.sha256(material).digest()[:8], "big")
        return options[number % len(options)]

    def _call(self, turn: TurnView, name: str, first: str, second: str) -> ToolCall:
        if name == "skill_check":
            args = {"player": second, "check": first}
        else:
            args = {"outcome": first, "summary": second}
        return ToolCall(
            f"call_{turn.round}_0", name, json.dumps(args, sort_keys=True, ensure_ascii=False)
        )


class _Keyed(Protocol):
    @property
    def keywords(self) -> Sequence[str]: ...


K = TypeVar("K", bound=_Keyed)


def _earliest(text: str, items: Sequence[K]) -> K | None:
    """The item with a keyword earliest in `text`; on a tie the first of `items`."""
    found = [
        (at, order)
        for order, item in enumerate(items)
        if (at := _first_position(text, item.keywords)) is not None
    ]
    return items[min(found)[1]] if found else None


def _first_position(text: str, phrases: Sequence[str]) -> int | None:
    """Where the earliest of `phrases` starts in `text` as a whole word or phrase
    (the same matcher as the context builder and the missed-check heuristic)."""
    found: list[int] = []
    lowered = text.lower()
    for phrase in phrases:
        match = phrase_pattern(phrase).search(lowered) if phrase.strip() else None
        if match:
            found.append(match.start())
    return min(found) if found else None


def _fit(beats: Sequence[Beat], budget: int) -> str:
    """Drop optional sentences from the end, then cut essential ones, to fit `budget` words."""
    kept = list(beats)
    while sum(_words(s) for s, _ in kept) > budget:
        optional = [i for i, (_, essential) in enumerate(kept) if not essential]
        if not optional:
            break
        del kept[optional[-1]]
    text = " ".join(s for s, _ in kept)
    words = text.split()
    if len(words) > budget:
        text = " ".join(words[:budget]).rstrip(",;:—") + "…"
    return text
