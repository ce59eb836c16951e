"""The offline narrator: a game master that reads the spec instead of calling a model.

With no LLM configured (or `--model offline`), every engine path still has to run: skill
checks, the missed-check correction, secrets revealed on success, `resolve` and the
resolution after it. This backend drives all of them from the spec alone — check keywords
become `skill_check` calls, a check's `leads_to` or an outcome's keywords become `resolve`,
and everything else is an NPC speaking in its own voice from what it `knows`.

It is deterministic: every choice among phrasings is a SHA-256 of (seed, the turn's player
message, the round, what is being chosen), never `hash()` (salted per process) and never a
global RNG, so a transcript replays byte for byte and `mardonar explore` is reproducible.

How it reads a request (the turn loop's message layout):

- The turn starts after the LAST user message that does not start with `[correction]`; its
  lines are `[player as Name] text` (`format_player_lines`). Everything after it — assistant
  tool calls and the tool results answering them — is this turn's work so far.
- A last message that is a user `[correction] …` is the loop's one correction round.
- The round is the number of assistant messages since the turn started; tool-call ids are
  `call_{round}_{n}`, unique within a turn.
- Secrets are only ever spoken from a skill_check result's `revealed_secrets`, which the
  engine fills only after a successful check on that NPC; nothing else here reads them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mardonar.content.models import Disposition, OutcomeResult
from mardonar.llm.base import Chunk, Finish, LLMRequest, Message, TextDelta, ToolCall
from mardonar.llm.turnformat import (
    CORRECTION_PREFIX,
    PlayerLine,
    parse_player_lines,
    phrase_pattern,
    rolled_checks,
)
from mardonar.llm.turnformat import is_correction as turnformat_is_correction

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.content.models import Check, Npc, Outcome, Spec

T = TypeVar("T")

__all__ = ["CORRECTION_PREFIX", "OfflineNarrator", "PlayerLine", "parse_player_lines"]

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’)])\s+")


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Words that end in -s but are not third-person verbs (trigger paraphrase, voice clauses).
_NOT_VERBS = _wordset(
    "its was hers ours yours theirs always perhaps sometimes as yes news lens towards "
    "afterwards besides whereas whereabouts series means species odds stairs"
)
_IRREGULAR = {"has": "have", "is": "be", "does": "do", "goes": "go"}
# A fact or secret may be lower-cased after "that …" only when it starts with one of these;
# a proper noun ("Grukk …", "Dwarves …" is fine either way) keeps its capital.
_LOWERABLE = _wordset(
    "the a an he she they it his her their its this that these those every each some no "
    "nobody everyone someone there we you one"
)
# Name parts too common to identify an NPC on their own ("old" in "Old Knuckle").
_NAME_STOPWORDS = _wordset(
    "old young the little big mother father sister brother aunt uncle sir lady lord "
    "master mister captain keeper doctor saint good"
)
_SUBJECT = re.compile(
    r"^(?:(?:when|if|whenever)\s+)?(?:(?:a|an|any|one|the|some)\s+)?"
    r"(?:player|character|pc|party member|hero|adventurer|traveller|traveler|someone|anyone|"
    r"somebody|party)s?\s+",
    re.IGNORECASE,
)

_TONE: dict[Disposition, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # (gestures, adverbs, reporting verbs + "that"): how an NPC of this disposition answers.
    Disposition.hostile: (
        ("glares at you", "bristles at the sight of you", "spits to one side"),
        ("coldly", "with open contempt", "through gritted teeth"),
        ("growls that", "snaps that", "sneers that"),
    ),
    Disposition.wary: (
        ("eyes you sidelong", "keeps a careful distance", "shifts from foot to foot"),
        ("warily", "guardedly", "after a careful pause"),
        ("mutters that", "allows that", "says only that"),
    ),
    Disposition.neutral: (
        ("looks you over", "considers you for a moment", "shrugs"),
        ("evenly", "plainly", "without hurry"),
        ("remarks that", "points out that", "notes that"),
    ),
    Disposition.friendly: (
        ("brightens at the sight of you", "waves you closer", "smiles at you"),
        ("warmly", "cheerfully", "with a ready smile"),
        ("explains that", "mentions that", "is glad to tell you that"),
    ),
}

_KNOWING = {
    Disposition.hostile: "boasts of knowing",
    Disposition.wary: "hints at knowing",
    Disposition.neutral: "speaks of knowing",
    Disposition.friendly: "talks cheerfully of knowing",
}
# A `knows` fact with one of these (or an -ed word) reads as a clause after "mutters that";
# without, it is probably a noun phrase and goes after "… of knowing" instead.
_FINITE = _wordset(
    "is are was were be been has have had will would can could may might must shall should "
    "do does did never always once still lives knows owns keeps built made came went took "
    "gave knew saw lost left kept sold told found stole fell ran won paid held brought bought "
    "fought thought drank sank hid led met said sent spent stood swore wrote began"
)
_LEAD_IN_SUCCESS = (
    "{who} pulls it off.",
    "It works.",
    "The gamble pays off for {who}.",
    "For once, luck favours the bold.",
)
_LEAD_IN_FAILURE = (
    "It does not go the way {who} hoped.",
    "The moment slips away.",
    "Not this time.",
    "The road is not kind to {who} just now.",
)
_SECRET = (
    '{name} mutters: "{secret}"',
    '{name} blurts it out: "{secret}"',
    "The truth slips out of {name}: {secret_lc}",
    "At last {name} admits that {secret_lc}",
)
_REFUSED = (
    "{name} has seen that one already; the same trick will not work twice.",
    '"Again?" {name} does not budge, and nothing changes.',
    "{name} only waits, unimpressed: that has been tried, and nothing changes.",
    "Nothing changes. {name} has seen this before and is not moved a second time.",
)
_REFUSED_OTHER = (
    "Nothing changes; the moment is not over yet.",
    "The world does not bend that way, and nothing changes.",
)
_NUDGE = (
    "Perhaps someone{mod} could {clause}.",
    "Someone{mod} might yet {clause}.",
    "Perhaps it is time for someone{mod} to {clause}.",
    "A bold traveller{mod} might {clause}.",
)
_CLOSERS = ("What do you do?", "What now?", "", "")
_CLOSING = {
    OutcomeResult.success: (
        "The road opens ahead of you, and this one ends well.",
        "It will make a fine story at the next inn.",
    ),
    OutcomeResult.partial: (
        "Not the ending anyone hoped for, but an ending all the same.",
        "It could have gone better; it could have gone much worse.",
    ),
    OutcomeResult.failure: (
        "Sometimes the road wins.",
        "It ends here, and not the way you hoped.",
    ),
}


# --------------------------------------------------------------------------- reading requests


@dataclass(frozen=True, slots=True)
class TurnResult:
    """A tool message of this turn, joined with the call it answers."""

    name: str
    ok: bool
    result: dict[str, Any]
    error: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TurnView:
    """What the narrator needs from a request: the players' lines and this turn's work."""

    key: str
    """The turn's user message text: with the seed and round, the input of every choice."""
    lines: tuple[PlayerLine, ...]
    round: int
    results: tuple[TurnResult, ...]
    attempted_checks: tuple[tuple[str, str], ...]
    """(check id, player id) pairs called this turn, refused or not, in call order."""
    attempted_outcomes: frozenset[str]
    correction: str | None
    earlier: tuple[Message, ...]
    """History before the turn (system message excluded), oldest first."""
    rolled_before: tuple[str, ...]
    """Check ids the system prompt's state section lists as rolled in earlier turns."""


@dataclass(frozen=True, slots=True)
class OfflineReply:
    """One answer: text, or tool calls (never both)."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


def is_correction(message: Message) -> bool:
    return message.role == "user" and turnformat_is_correction(message.content)


# --------------------------------------------------------------------------- small text helpers


def _words(text: str) -> int:
    """Word count as the reply checker counts it (whitespace-separated)."""
    return len(text.split())


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    if text and text[-1] not in ".!?…\"'”’)":
        text += "."
    return text


def _lower_first(text: str, vocabulary: frozenset[str] = frozenset()) -> str:
    """Lower-case a leading common word so the text can follow "that"; keep proper nouns.
    A word is common when it is a function word or the author writes it in lower case
    somewhere in the spec ("dwarves" yes, "Grukk" never)."""
    first = text.split(" ", 1)[0]
    bare = first.lower().strip(",;:")
    if (bare in _LOWERABLE or bare in vocabulary) and first != "I":
        return text[0].lower() + text[1:]
    return text


def _is_clause(text: str) -> bool:
    """Whether `text` has a finite verb, roughly: misjudging a clause as a noun phrase is
    harmless ("… speaks of knowing dwarves built it"), the other way round is not."""
    words = [_bare(word) for word in text.split()]
    return any(w in _FINITE or (len(w) > 3 and w.endswith("ed")) for w in words)


def _bare(word: str) -> str:
    return word.strip(",;:.!?\"'()").lower()


def _looks_like_verb(word: str) -> bool:
    """A third-person singular verb ("threatens", "tries") as triggers are written."""
    return (
        word.isalpha()
        and len(word) > 2
        and word.endswith("s")
        and not word.endswith(("ss", "us", "is"))
        and word not in _NOT_VERBS
    ) or word in _IRREGULAR


def _base_form(word: str) -> str:
    """threatens → threaten, tries → try, searches → search, lies → lie, has → have."""
    core = word.rstrip(",;:")
    tail = word[len(core) :]
    low = core.lower()
    if low in _IRREGULAR:
        low = _IRREGULAR[low]
    elif low.endswith("ies") and len(low) > 4:
        low = low[:-3] + "y"
    elif low.endswith(("sses", "shes", "ches", "xes", "zzes")):
        low = low[:-2]
    elif low.endswith("s"):
        low = low[:-1]
    return low + tail


def nudge_clause(trigger: str) -> tuple[str, str] | None:
    """A check's trigger as something the players could do: "A player within reach tries to
    snatch the satchel" → ("within reach", "try to snatch the satchel"). None when the trigger
    is not written as "A player <verb>s …" (then a generic nudge is used)."""
    text = " ".join(trigger.split()).rstrip(".!? ")
    match = _SUBJECT.match(text)
    if not match:
        return None
    words = text[match.end() :].split()
    verb_at = next((i for i, w in enumerate(words[:4]) if _looks_like_verb(_bare(w))), None)
    if verb_at is None:
        return None
    out: list[str] = []
    for index in range(verb_at, len(words)):
        word = words[index]
        before = words[index - 1] if index > verb_at else ""
        joined = before.lower() in ("or", "and") or before.endswith(",")
        if index == verb_at or (joined and _looks_like_verb(_bare(word))):
            word = _base_form(word)
        out.append(word)
    return " ".join(words[:verb_at]), " ".join(out)


def voice_clause(voice: str) -> str:
    """An NPC's `voice` as a stage direction between dashes: "Speaks of himself in the third
    person, squeaky (…); …" → "who speaks of himself in the third person, squeaky"."""
    head = re.sub(r"\s*\([^)]*\)", "", voice.split(";")[0])
    head = " ".join(head.split()).strip(" .,:;")
    if not head:
        return ""
    if _words(head) > 14:
        head = head.split(",")[0].strip()
    first = head.split(" ", 1)[0]
    head = head[0].lower() + head[1:] if first[1:].islower() or len(first) == 1 else head
    return f"who {head}" if _looks_like_verb(_bare(first)) else head


def text_chunks(text: str) -> list[str]:
    """Split on sentence boundaries; the chunks join back to exactly `text`."""
    parts = [p for p in _SENTENCE_END.split(text) if p]
    if not parts:
        return []
    return [p + " " for p in parts[:-1]] + [parts[-1]]


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
        start = next(
            (
                i
                for i in range(len(messages) - 1, -1, -1)
                if messages[i].role == "user" and not is_correction(messages[i])
            ),
            None,
        )
        key = messages[start].content if start is not None else ""
        after = messages[start + 1 :] if start is not None else messages
        earlier = tuple(m for m in messages[: start or 0] if m.role != "system")
        system = "\n".join(m.content for m in messages if m.role == "system")
        calls: dict[str, ToolCall] = {}
        attempted_checks: list[tuple[str, str]] = []
        attempted_outcomes: set[str] = set()
        for message in after:
            for call in message.tool_calls:
                calls[call.id] = call
                args = _loads(call.arguments)
                if not isinstance(args, dict):
                    continue
                if call.name == "skill_check" and isinstance(args.get("check"), str):
                    who = self._player_id(str(args.get("player") or ""))
                    attempted_checks.append((args["check"], who))
                elif call.name == "resolve" and isinstance(args.get("outcome"), str):
                    attempted_outcomes.add(args["outcome"])
        results: list[TurnResult] = []
        for message in after:
            if message.role != "tool":
                continue
            answered = calls.get(message.tool_call_id or "")
            name = message.name or (answered.name if answered else "")
            payload = _loads(message.content)
            if isinstance(payload, dict) and "ok" in payload:
                ok = payload.get("ok") is True
                body = payload.get("result")
                result = body if isinstance(body, dict) else {}
                error = str(payload.get("error") or "")
            else:
                ok, result, error = False, {}, message.content
            args = _loads(answered.arguments) if answered else None
            results.append(
                TurnResult(name, ok, result, error, args if isinstance(args, dict) else {})
            )
        last = messages[-1] if messages else None
        correction = last.content if last is not None and is_correction(last) else None
        return TurnView(
            key=key,
            lines=tuple(parse_player_lines(key)),
            round=sum(1 for m in after if m.role == "assistant"),
            results=tuple(results),
            attempted_checks=tuple(attempted_checks),
            attempted_outcomes=frozenset(attempted_outcomes),
            correction=correction,
            earlier=earlier,
            rolled_before=rolled_checks(system),
        )

    def match_check(self, text: str) -> Check | None:
        """The check whose keyword appears earliest in `text` (tie: spec order)."""
        best: tuple[int, int, Check] | None = None
        for order, check in enumerate(self.spec.checks):
            at = _first_position(text, check.keywords)
            if at is not None and (best is None or (at, order) < best[:2]):
                best = (at, order, check)
        return best[2] if best else None

    def match_outcome(self, text: str) -> Outcome | None:
        """The outcome whose keyword appears earliest in `text` (tie: spec order)."""
        best: tuple[int, int, Outcome] | None = None
        for order, outcome in enumerate(self.spec.outcomes):
            at = _first_position(text, outcome.keywords)
            if at is not None and (best is None or (at, order) < best[:2]):
                best = (at, order, outcome)
        return best[2] if best else None

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


def _prose_vocabulary(spec: Spec) -> frozenset[str]:
    """Words the author writes in lower case somewhere in the spec's prose."""
    texts = [spec.summary, spec.setting, spec.opening, spec.gm_notes]
    for npc in spec.npcs:
        texts += [npc.role, npc.voice, *npc.knows]
    for check in spec.checks:
        texts += [check.trigger, check.on_success, check.on_failure]
    texts += [outcome.when for outcome in spec.outcomes]
    texts += [item.description for item in spec.items]
    return frozenset(re.findall(r"(?<![\w'-])[a-z][a-z'-]*", " ".join(texts)))


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
