"""The author's files as pydantic models: spec, persona, party, lore and test plans.

These are CONTRACT.md §3–6 to the letter. Every model forbids unknown keys, so a typo is an
error (with a "did you mean") rather than a silently ignored line. The attribute docstrings
become the descriptions in the JSON Schema that editors use for completion.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
Slug = Annotated[str, StringConstraints(pattern=SLUG_PATTERN, max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1)]


def _compile_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise PydanticCustomError(
            "invalid_regex", "not a valid regular expression: {reason}", {"reason": str(error)}
        ) from None
    return pattern


Regex = Annotated[str, AfterValidator(_compile_regex)]

DEFAULT_SKILLS: tuple[str, ...] = (
    "acrobatics",
    "animal-handling",
    "arcana",
    "athletics",
    "deception",
    "history",
    "insight",
    "intimidation",
    "investigation",
    "medicine",
    "nature",
    "perception",
    "performance",
    "persuasion",
    "religion",
    "sleight-of-hand",
    "stealth",
    "survival",
)


class Strict(BaseModel):
    """Base of every content model: unknown keys are errors, docstrings document fields."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        populate_by_name=True,
    )


# --------------------------------------------------------------------------- spec


class Disposition(StrEnum):
    hostile = "hostile"
    wary = "wary"
    neutral = "neutral"
    friendly = "friendly"


class OutcomeResult(StrEnum):
    success = "success"
    partial = "partial"
    failure = "failure"


class PlayerCount(Strict):
    """How many players the encounter is written for."""

    min: int = Field(default=1, ge=1, le=50)
    """Fewest players the encounter works with."""
    max: int = Field(default=6, ge=1, le=50)
    """Most players the encounter works with."""

    @model_validator(mode="after")
    def _ordered(self) -> PlayerCount:
        if self.min > self.max:
            raise PydanticCustomError(
                "range_order",
                "min ({min}) is larger than max ({max})",
                {"min": self.min, "max": self.max},
            )
        return self


class Npc(Strict):
    """A non-player character the GM voices."""

    id: Slug
    """Slug, unique in the spec; tools and checks refer to the NPC by it."""
    name: Text
    """The name players hear."""
    role: str = ""
    """What the NPC is in this scene (e.g. "goblin toll-keeper")."""
    disposition: Disposition = Disposition.neutral
    """How the NPC feels about the party at the start: hostile, wary, neutral or friendly."""
    voice: str = ""
    """How the NPC speaks; the GM (and the offline narrator) use it for every line."""
    knows: list[Text] = Field(default_factory=list)
    """Facts seeded into this NPC's memory; it may share them freely."""
    secrets: list[Text] = Field(default_factory=list)
    """Facts the NPC reveals only after a successful check involving it."""


class Check(Strict):
    """A skill check the GM must call when its trigger happens; the engine enforces its DC."""

    id: Slug
    """Slug, unique in the spec."""
    skill: Slug
    """The skill rolled; must be one of the persona's skills."""
    dc: int = Field(ge=1, le=30)
    """Difficulty class, 1..30. The engine uses this, never a DC the model proposes."""
    npc: Slug | None = None
    """The NPC this check involves (its secrets may be revealed on success)."""
    trigger: Text
    """When the GM must call this check, in one sentence."""
    keywords: list[Text] = Field(default_factory=list)
    """Words in a player's message that signal the trigger (offline narrator, missed-check
    heuristic)."""
    on_success: Text
    """What happens when the roll meets or beats the DC."""
    on_failure: Text
    """What happens when the roll falls short."""
    repeatable: bool = False
    """Whether a player may roll this check more than once."""
    leads_to: Slug | None = None
    """An outcome id this check's success leads to."""
    failure_leads_to: Slug | None = None
    """An outcome id this check's failure leads to (a Mardonar addition; optional)."""


class Outcome(Strict):
    """One way the encounter can end."""

    id: Slug
    """Slug, unique in the spec."""
    result: OutcomeResult
    """success, partial or failure."""
    when: Text
    """What has to happen for this outcome, in one sentence."""
    keywords: list[Text] = Field(default_factory=list)
    """Words in a player's message that reach this outcome directly."""
    xp: int = Field(default=0, ge=0, le=1_000_000)
    """XP awarded to each participating character."""
    items: list[Slug] = Field(default_factory=list)
    """Ids of items (from this spec's `items`) granted with this outcome. An item an outcome
    lists comes only with a resolution; the GM cannot grant it by hand."""
    requires: list[Slug] = Field(default_factory=list)
    """Ids of checks that must have succeeded (by any player) before the GM may resolve this
    outcome (a Mardonar addition; optional)."""


class Item(Strict):
    """An item the encounter can grant."""

    id: Slug
    """Slug, unique in the spec."""
    name: Text
    """The name players see."""
    description: str = ""
    """What the item is, for the GM and the summary (a Mardonar addition; optional)."""
    foundry: str | None = None
    """Foundry VTT uuid of the item (e.g. Compendium.world.items.Item.abc123)."""


class Limits(Strict):
    """Bounds the engine enforces whatever the model or the players say."""

    max_turns: int = Field(default=30, ge=1, le=1000)
    """At this turn the encounter ends unresolved; the GM is told to wrap up near it."""
    bonus_xp: int = Field(default=0, ge=0, le=1_000_000)
    """Most discretionary XP per character beyond the outcome's xp."""


class Spec(Strict):
    """An encounter: the scene, its NPCs, the checks the GM must call and how it can end."""

    id: Slug
    """Slug, unique across specs/; by convention the file is specs/<id>.yaml."""
    title: Text
    """The encounter's title."""
    summary: Text
    """One line saying what the encounter is."""
    version: int | None = Field(default=None, ge=0)
    """Optional revision number of the spec."""
    tags: list[Text] = Field(default_factory=list)
    """Free-form tags (e.g. social, wilderness)."""
    players: PlayerCount = Field(default_factory=PlayerCount)
    """Player-count bounds."""
    setting: Text
    """GM-only context; never shown to players verbatim."""
    opening: Text
    """Read-aloud text shown when the encounter starts."""
    gm_notes: str = ""
    """More GM-only guidance."""
    npcs: list[Npc] = Field(min_length=1)
    """The NPCs; at least one."""
    checks: list[Check] = Field(default_factory=list)
    """Skill checks with fixed DCs."""
    outcomes: list[Outcome] = Field(min_length=1)
    """How the encounter can end; at least one."""
    items: list[Item] = Field(default_factory=list)
    """Items outcomes and the GM can grant."""
    lore: list[Slug] = Field(default_factory=list)
    """Ids of lore/<id>.md files this encounter draws on."""
    limits: Limits = Field(default_factory=Limits)
    """Turn and XP limits."""

    @field_validator("summary")
    @classmethod
    def _one_line(cls, value: str) -> str:
        value = value.strip()
        if "\n" in value:
            raise PydanticCustomError("one_line", "must be one line; move the rest to `setting`")
        return value

    def npc(self, npc_id: str) -> Npc | None:
        return next((npc for npc in self.npcs if npc.id == npc_id), None)

    def check(self, check_id: str) -> Check | None:
        return next((check for check in self.checks if check.id == check_id), None)

    def outcome(self, outcome_id: str) -> Outcome | None:
        return next((outcome for outcome in self.outcomes if outcome.id == outcome_id), None)

    def item(self, item_id: str) -> Item | None:
        return next((item for item in self.items if item.id == item_id), None)

    def routes_to(self, outcome_id: str) -> list[tuple[Check, bool]]:
        """The checks whose result leads to the outcome: (check, True) for its `leads_to`,
        (check, False) for its `failure_leads_to`, in spec order."""
        routes: list[tuple[Check, bool]] = []
        for check in self.checks:
            if check.leads_to == outcome_id:
                routes.append((check, True))
            if check.failure_leads_to == outcome_id:
                routes.append((check, False))
        return routes

    def item_outcomes(self, item_id: str) -> list[Outcome]:
        """The outcomes that grant the item on resolution (empty: the GM grants it by hand)."""
        return [outcome for outcome in self.outcomes if item_id in outcome.items]


# --------------------------------------------------------------------------- persona


class Filters(Strict):
    """Checks every GM reply must pass; a failing reply gets one correction round."""

    banned: list[Regex] = Field(default_factory=list)
    """Regular expressions (Python syntax); a reply matching one is corrected."""
    max_words: int = Field(default=180, ge=10, le=5000)
    """A reply longer than this is corrected."""


class ModelOptions(Strict):
    """Options passed through to the LLM."""

    temperature: float | None = Field(default=0.8, ge=0, le=2)
    """Sampling temperature."""
    max_tokens: int | None = Field(default=400, ge=1, le=32_000)
    """Most tokens in one reply."""
    top_p: float | None = Field(default=None, gt=0, le=1)
    """Nucleus sampling cut-off."""
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    """Penalty for repeating topics."""
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    """Penalty for repeating words."""
    stop: list[str] | None = None
    """Strings that end a reply."""


class Persona(Strict):
    """The game master's voice and rules."""

    name: Text = "Mardonar"
    """The GM's name."""
    voice: Text
    """Who the GM is and how it speaks."""
    rules: list[Text] = Field(default_factory=list)
    """Hard rules for every turn."""
    skills: list[Slug] = Field(default_factory=lambda: list(DEFAULT_SKILLS), min_length=1)
    """Skills checks and party sheets may use (default: the 18 of the SRD)."""
    filters: Filters = Field(default_factory=Filters)
    """Reply filters."""
    model: ModelOptions = Field(default_factory=ModelOptions)
    """Options passed through to the LLM."""
    fallback_lines: list[Text] = Field(
        default_factory=lambda: [
            "The mists thicken for a moment. (The GM lost the thread — say that again.)"
        ]
    )
    """Said in character when every LLM backend fails."""


# --------------------------------------------------------------------------- party


class Character(Strict):
    """A player's character."""

    player: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """Player id: a local name in the terminal, a Discord user id in production."""
    name: Text
    """The character's name."""
    class_: Text = Field(alias="class")
    """The character's class."""
    level: int = Field(default=1, ge=1, le=20)
    """Character level, 1..20."""
    skills: dict[str, Annotated[int, Field(ge=-10, le=30)]] = Field(default_factory=dict)
    """Skill modifiers (-10..30); an unlisted skill rolls +0."""

    def modifier(self, skill: str) -> int:
        return self.skills.get(skill, 0)


class Party(Strict):
    """The local party used by `mardonar play`."""

    characters: list[Character] = Field(min_length=1)
    """The characters, one per player."""

    def by_player(self, player: str) -> Character | None:
        wanted = player.casefold()
        return next(
            (c for c in self.characters if c.player.casefold() == wanted),
            None,
        )

    def find(self, who: str) -> Character | None:
        """A member by player id, full name or first name, case-insensitive: how players,
        the model and `/as` name each other."""
        wanted = who.casefold().strip()
        return self.by_player(wanted) or next(
            (
                c
                for c in self.characters
                if wanted in (c.name.casefold(), c.name.split()[0].casefold())
            ),
            None,
        )

    def roster(self) -> str:
        """`aria (Aria Swiftwind), bram (…)` for messages that list who may be named."""
        return ", ".join(f"{c.player} ({c.name})" for c in self.characters)


# --------------------------------------------------------------------------- lore


class LoreFrontMatter(Strict):
    """The optional YAML front matter of a lore file."""

    title: str | None = None
    """A display title (default: the first heading, else the id)."""
    keywords: list[Text] = Field(default_factory=list)
    """When a message or recent history mentions one, this lore enters the GM's context."""


class Lore(BaseModel):
    """A lore file: lore/<id>.md."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    keywords: tuple[str, ...]
    body: str


# --------------------------------------------------------------------------- test plans


class CheckExpectation(StrEnum):
    success = "success"
    failure = "failure"
    rolled = "rolled"
    not_rolled = "not-rolled"


class Expectation(Strict):
    """What must be true when a test case's lines have been played."""

    outcome: Slug | None = None
    """The outcome reached (omit to expect none)."""
    status: Annotated[str, StringConstraints(pattern=r"^(active|resolved|ended)$")] | None = None
    """The session status at the end: active, resolved or ended."""
    checks: dict[str, CheckExpectation] = Field(default_factory=dict)
    """Check id → success, failure, rolled or not-rolled."""
    xp: dict[str, int] = Field(default_factory=dict)
    """Player id → total XP awarded."""
    items: dict[str, list[Slug]] = Field(default_factory=dict)
    """Player id → items granted."""
    narration_contains: list[Text] = Field(default_factory=list)
    """Phrases the GM's narration must contain (case-insensitive, anywhere in the case)."""


class TestCase(Strict):
    """One scripted playthrough."""

    name: Text
    """What the case shows."""
    seed: int = 1
    """Dice seed."""
    lines: list[Text] = Field(min_length=1)
    """Player lines in order; `/as NAME` switches the speaker as in the terminal."""
    speaker: str | None = Field(default=None, alias="as")
    """Which party member speaks first."""
    expect: Expectation = Field(default_factory=Expectation)
    """What must hold at the end."""


class TestPlan(Strict):
    """An author's test plan: specs/<id>.test.yaml."""

    __test__ = False  # not a pytest class

    spec: Slug
    """The id of the spec under test."""
    cases: list[TestCase] = Field(min_length=1)
    """The cases."""
