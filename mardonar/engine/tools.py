"""The GM model's tools and the spec enforcement behind them (CONTRACT.md §7).

Every call is validated (pydantic) and checked against the spec before anything changes;
a refused call returns an error result to the model and leaves the session untouched.
Nothing a player types can raise a limit: limits come from the spec, never from arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mardonar.dicenotation import DiceError
from mardonar.engine.dice import Dice
from mardonar.engine.events import Event, Rolled
from mardonar.engine.session import CheckRoll, Session, Status
from mardonar.llm.base import BadArguments, ToolSpec
from mardonar.llm.base import parse_arguments as parse_llm_arguments

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.content.models import Character, Outcome, Spec
    from mardonar.memory.base import Memory

IMPROVISED_DC = {"easy": 10, "medium": 15, "hard": 20}
MAX_FACT_CHARS = 300


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class SkillCheckArgs(_Args):
    """Roll a skill check for a player. Use a spec check id when one covers the action;
    otherwise an improvised check with a skill and a difficulty."""

    player: str = Field(min_length=1, max_length=64)
    """The player id (or character name) who acts."""
    check: str | None = Field(default=None, max_length=64)
    """The spec check id (preferred: its DC and skill are fixed)."""
    skill: str | None = Field(default=None, max_length=64)
    """For an improvised check only: the skill rolled."""
    difficulty: Literal["easy", "medium", "hard"] | None = None
    """For an improvised check only: easy (DC 10), medium (DC 15) or hard (DC 20)."""

    @model_validator(mode="after")
    def _one_kind(self) -> SkillCheckArgs:
        if self.check is None and (self.skill is None or self.difficulty is None):
            raise ValueError("give either `check`, or both `skill` and `difficulty`")
        if self.check is not None and (self.skill is not None or self.difficulty is not None):
            raise ValueError("give `check` alone: a spec check's skill and DC are fixed")
        return self


class RollArgs(_Args):
    """Roll dice, e.g. for damage or a random event."""

    expression: str = Field(min_length=1, max_length=100)
    """Dice expression such as 2d6+3, 4d6kh3 or d20 adv."""
    reason: str = Field(default="", max_length=200)
    """Why the dice are rolled."""


class RecallArgs(_Args):
    """Recall what an NPC remembers (only its own memories)."""

    npc: str = Field(min_length=1, max_length=64)
    """The NPC id."""
    query: str = Field(default="", max_length=200)
    """What to look for in its memory."""


class RememberArgs(_Args):
    """Store a fact in an NPC's memory."""

    npc: str = Field(min_length=1, max_length=64)
    """The NPC id."""
    fact: str = Field(min_length=1, max_length=MAX_FACT_CHARS)
    """What the NPC now knows or saw, in one sentence."""


class LoreSearchArgs(_Args):
    """Search the world's lore."""

    query: str = Field(min_length=1, max_length=200)
    """Words to search for."""


class AwardXpArgs(_Args):
    """Award discretionary bonus XP to a player (bounded by the spec)."""

    player: str = Field(min_length=1, max_length=64)
    """The player id (or character name)."""
    amount: int = Field(ge=1)
    """XP to award."""
    reason: str = Field(min_length=1, max_length=200)
    """Why."""


class GrantItemArgs(_Args):
    """Give a player one of the spec's items."""

    player: str = Field(min_length=1, max_length=64)
    """The player id (or character name)."""
    item: str = Field(min_length=1, max_length=64)
    """The item id from the spec."""


class ResolveArgs(_Args):
    """End the encounter with one of the spec's outcomes."""

    outcome: str = Field(min_length=1, max_length=64)
    """The outcome id."""
    summary: str = Field(min_length=1, max_length=1000)
    """Two or three sentences on how it ended."""


ARGS: dict[str, type[_Args]] = {
    "skill_check": SkillCheckArgs,
    "roll": RollArgs,
    "recall": RecallArgs,
    "remember": RememberArgs,
    "lore_search": LoreSearchArgs,
    "award_xp": AwardXpArgs,
    "grant_item": GrantItemArgs,
    "resolve": ResolveArgs,
}


def _schema(model: type[_Args]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    schema.pop("description", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return schema


TOOL_SPECS: tuple[ToolSpec, ...] = tuple(
    ToolSpec(name, " ".join((model.__doc__ or "").split()), _schema(model))
    for name, model in ARGS.items()
)


@dataclass
class ToolOutcome:
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None
    events: list[Event] = field(default_factory=list)
    resolved_outcome: str | None = None
    resolve_summary: str | None = None
    malformed: bool = False
    """The arguments could not be used at all (not JSON, wrong shape), as opposed to a
    well-formed call the spec refuses."""


class Refused(Exception):
    """A call the spec does not allow; the message goes back to the model."""


def parse_arguments(raw: str | dict[str, Any]) -> dict[str, Any]:
    """The arguments of a call (already a dict when they come from MCP); `Refused`, with
    the reason the model is told, when they are not a JSON object."""
    value = raw if isinstance(raw, dict) else parse_llm_arguments(raw)
    if isinstance(value, BadArguments):
        raise Refused(value.message)
    return value


def _validation_message(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "arguments"
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _roll_state(session: Session, check_id: str) -> str:
    """`not rolled yet`, or what the check's rolls so far came to (`rolled: failure`)."""
    verdicts = [roll.verdict for roll in session.checks_rolled if roll.check == check_id]
    return f"rolled: {', '.join(dict.fromkeys(verdicts))}" if verdicts else "not rolled yet"


def resolve_blockers(spec: Spec, session: Session, outcome: Outcome) -> list[str]:
    """What stands between the session and resolving `outcome`; empty when nothing does.

    An outcome with keywords, or reached by no check, is the GM's judgement. One whose only
    routes are checks resolves only after one of them produced it (a success for
    `leads_to`, a failure for `failure_leads_to`); `requires` checks must have succeeded,
    whoever rolled them. Improvised checks never count (they carry no check id)."""
    missing: list[str] = []
    routes = spec.routes_to(outcome.id)
    if routes and not outcome.keywords:
        produced = any(
            roll.check == check.id and roll.success is on_success
            for roll in session.checks_rolled
            for check, on_success in routes
        )
        if not produced:
            ways = " or ".join(
                f"{check.id} {'succeeding' if on_success else 'failing'} "
                f"({_roll_state(session, check.id)})"
                for check, on_success in routes
            )
            missing.append(f"it is reached only through the check {ways}")
    unmet = [
        check_id
        for check_id in outcome.requires
        if not any(roll.check == check_id and roll.success for roll in session.checks_rolled)
    ]
    if unmet:
        states = ", ".join(f"{check_id} ({_roll_state(session, check_id)})" for check_id in unmet)
        missing.append(f"it requires the check {states} to have succeeded first")
    return missing


class Toolbox:
    """Executes tool calls for one session against one bundle."""

    def __init__(self, bundle: Bundle, session: Session, dice: Dice, memory: Memory) -> None:
        self.bundle = bundle
        self.session = session
        self.dice = dice
        self.memory = memory

    # ------------------------------------------------------------------ helpers

    def character(self, who: str) -> Character:
        """A party member by player id or character name (case-insensitive)."""
        found = self.bundle.party.find(who)
        if found is None:
            raise Refused(f"unknown player '{who}'; the party is: {self.bundle.party.roster()}")
        return found

    def _npc(self, npc_id: str) -> str:
        npc = self.bundle.spec.npc(npc_id)
        if npc is None:
            wanted = npc_id.casefold()
            npc = next(
                (n for n in self.bundle.spec.npcs if n.name.casefold() == wanted),
                None,
            )
        if npc is None:
            known = ", ".join(n.id for n in self.bundle.spec.npcs)
            raise Refused(f"unknown npc '{npc_id}'; the NPCs are: {known}")
        return npc.id

    # ------------------------------------------------------------------ entry point

    async def call(self, name: str, raw_arguments: str | dict[str, Any]) -> ToolOutcome:
        model = ARGS.get(name)
        if model is None:
            return ToolOutcome(False, error=f"unknown tool '{name}'; tools: {', '.join(ARGS)}")
        if self.session.status is not Status.active:
            return ToolOutcome(False, error="the encounter is over; no more tool calls")
        try:
            args = model.model_validate(parse_arguments(raw_arguments))
        except Refused as refused:
            return ToolOutcome(False, error=str(refused), malformed=True)
        except ValidationError as error:
            return ToolOutcome(False, error=_validation_message(error), malformed=True)
        try:
            handler = getattr(self, f"_{name}")
            outcome: ToolOutcome = await handler(args)
            return outcome
        except Refused as refused:
            return ToolOutcome(False, error=str(refused))

    # ------------------------------------------------------------------ the tools

    async def _skill_check(self, args: SkillCheckArgs) -> ToolOutcome:
        spec, persona, session = self.bundle.spec, self.bundle.persona, self.session
        character = self.character(args.player)
        if args.check is not None:
            check = spec.check(args.check)
            if check is None:
                known = ", ".join(c.id for c in spec.checks) or "none"
                raise Refused(
                    f"unknown check '{args.check}'; spec checks: {known}. For an action no check "
                    "covers, use skill + difficulty"
                )
            if not check.repeatable and session.rolled(check.id, character.player):
                raise Refused(
                    f"{character.name} already rolled '{check.id}' and it is not repeatable; "
                    "narrate the earlier result instead"
                )
            skill, dc, check_id = check.skill, check.dc, check.id
        else:
            assert args.skill is not None and args.difficulty is not None
            skill = args.skill.strip().lower().replace(" ", "-").replace("_", "-")
            if skill not in persona.skills:
                raise Refused(f"unknown skill '{args.skill}'; skills: {', '.join(persona.skills)}")
            dc, check_id, check = IMPROVISED_DC[args.difficulty], None, None
        modifier = character.modifier(skill)
        rolled = self.dice.roll(f"d20{modifier:+d}")
        natural = rolled.natural if rolled.natural is not None else rolled.total - modifier
        total = rolled.total
        success = total >= dc
        turn = session.turn + 1
        session.checks_rolled.append(
            CheckRoll(
                turn=turn,
                check=check_id,
                skill=skill,
                player=character.player,
                natural=natural,
                modifier=modifier,
                total=total,
                dc=dc,
                success=success,
            )
        )
        session.add_participant(character.player)
        result: dict[str, Any] = {
            "check": check_id,
            "player": character.player,
            "character": character.name,
            "skill": skill,
            "dc": dc,
            "natural": natural,
            "modifier": modifier,
            "total": total,
            "success": success,
        }
        if check is not None:
            result["outcome_text"] = check.on_success if success else check.on_failure
            target = check.leads_to if success else check.failure_leads_to
            if target:
                result["leads_to"] = target
            if check.npc:
                npc = spec.npc(check.npc)
                if success and npc is not None and npc.secrets:
                    revealed = session.revealed_secrets.setdefault(npc.id, [])
                    new = [secret for secret in npc.secrets if secret not in revealed]
                    if new:
                        revealed.extend(new)
                        result["revealed_secrets"] = new
                if check.npc not in session.npcs_in_play:
                    session.npcs_in_play.append(check.npc)
                verdict = "succeeded" if success else "failed"
                await self.memory.remember(
                    scope=spec.id,
                    session_id=session.id,
                    npc=check.npc,
                    fact=f"{character.name} tried {skill} on me and {verdict}.",
                    kind="witnessed",
                    turn=turn,
                )
        else:
            result["note"] = "improvised check: it never advances an outcome by itself"
        event = Rolled(
            turn=turn,
            who=character.name,
            expression=rolled.expression,
            detail=rolled.detail,
            total=total,
            reason=check_id or "improvised",
            skill=skill,
            check=check_id,
            natural=natural,
            modifier=modifier,
            dc=dc,
            success=success,
        )
        return ToolOutcome(True, result=result, events=[event])

    async def _roll(self, args: RollArgs) -> ToolOutcome:
        try:
            rolled = self.dice.roll(args.expression)
        except DiceError as error:
            raise Refused(str(error)) from None
        event = Rolled(
            turn=self.session.turn + 1,
            who="GM",
            expression=rolled.expression,
            detail=rolled.detail,
            total=rolled.total,
            reason=args.reason,
            natural=rolled.natural,
        )
        result = {"expression": rolled.expression, "total": rolled.total, "detail": rolled.detail}
        return ToolOutcome(True, result=result, events=[event])

    async def _recall(self, args: RecallArgs) -> ToolOutcome:
        npc = self._npc(args.npc)
        hits = await self.memory.recall(
            scope=self.bundle.spec.id, session_id=self.session.id, npc=npc, query=args.query
        )
        revealed = self.session.revealed_secrets.get(npc, [])
        return ToolOutcome(
            True,
            result={
                "npc": npc,
                "memories": [hit.fact for hit in hits],
                "revealed_secrets": list(revealed),
            },
        )

    async def _remember(self, args: RememberArgs) -> ToolOutcome:
        npc = self._npc(args.npc)
        fact = " ".join(args.fact.split())
        await self.memory.remember(
            scope=self.bundle.spec.id,
            session_id=self.session.id,
            npc=npc,
            fact=fact,
            kind="fact",
            turn=self.session.turn + 1,
        )
        if npc not in self.session.npcs_in_play:
            self.session.npcs_in_play.append(npc)
        return ToolOutcome(True, result={"npc": npc, "remembered": fact})

    async def _lore_search(self, args: LoreSearchArgs) -> ToolOutcome:
        hits = await self.memory.search_lore(args.query, limit=3)
        return ToolOutcome(
            True,
            result={
                "results": [
                    {"lore": hit.lore_id, "title": hit.title, "snippet": hit.snippet}
                    for hit in hits
                ]
            },
        )

    async def _award_xp(self, args: AwardXpArgs) -> ToolOutcome:
        character = self.character(args.player)
        limit = self.bundle.spec.limits.bonus_xp
        already = self.session.xp_bonus.get(character.player, 0)
        if already + args.amount > limit:
            raise Refused(
                f"bonus XP for {character.name} is limited to {limit} by the spec; "
                f"{already} already awarded, so at most {max(limit - already, 0)} more"
            )
        self.session.xp_bonus[character.player] = already + args.amount
        return ToolOutcome(
            True,
            result={
                "player": character.player,
                "awarded": args.amount,
                "bonus_total": already + args.amount,
                "bonus_limit": limit,
            },
        )

    async def _grant_item(self, args: GrantItemArgs) -> ToolOutcome:
        character = self.character(args.player)
        item = self.bundle.spec.item(args.item)
        if item is None:
            known = ", ".join(i.id for i in self.bundle.spec.items) or "none"
            raise Refused(f"unknown item '{args.item}'; the spec's items: {known}")
        holder = self.session.items_granted.get(item.id)
        if holder is not None:
            raise Refused(f"'{item.id}' was already granted to {holder}; items are granted once")
        brought_by = self.bundle.spec.item_outcomes(item.id)
        if brought_by:
            # Granted by hand, it would stay with the party whichever way the encounter
            # ends: an item an outcome lists is that outcome's to give.
            names = " or ".join(outcome.id for outcome in brought_by)
            raise Refused(
                f"'{item.id}' comes with the outcome {names}: resolving it grants the item; "
                "grant_item is only for items no outcome lists"
            )
        if character.player not in self.session.participants:
            raise Refused(
                f"{character.name} has not taken part in this encounter; items go to "
                f"characters in the scene: {', '.join(self.session.participants) or 'nobody yet'}"
            )
        self.session.items_granted[item.id] = character.player
        return ToolOutcome(
            True, result={"player": character.player, "item": item.id, "name": item.name}
        )

    async def _resolve(self, args: ResolveArgs) -> ToolOutcome:
        outcome = self.bundle.spec.outcome(args.outcome)
        if outcome is None:
            known = ", ".join(o.id for o in self.bundle.spec.outcomes)
            raise Refused(f"unknown outcome '{args.outcome}'; outcomes: {known}")
        missing = resolve_blockers(self.bundle.spec, self.session, outcome)
        if missing:
            raise Refused(
                f"'{outcome.id}' cannot be resolved yet: {'; '.join(missing)}. Call skill_check "
                "when a player attempts it, or narrate on"
            )
        return ToolOutcome(
            True,
            result={"outcome": outcome.id, "result": outcome.result.value},
            resolved_outcome=outcome.id,
            resolve_summary=args.summary,
        )
