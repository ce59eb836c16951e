"""The state of one running encounter, persisted after every turn.

Everything needed to resume after the process dies lives here, the dice included: they are
seeded from (seed, rolls made), so storing the counter is storing the RNG state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mardonar.llm.turnformat import PlayerLine


class Status(StrEnum):
    active = "active"
    resolved = "resolved"
    ended = "ended"


class HistoryEntry(BaseModel):
    """One line of the story: a player's message or the GM's narration."""

    model_config = ConfigDict(frozen=True)

    turn: int
    role: str  # player | gm
    speaker: str  # player id for players, "gm" for narration
    text: str


class CheckRoll(BaseModel):
    model_config = ConfigDict(frozen=True)

    turn: int
    check: str | None  # None for an improvised check
    skill: str
    player: str
    natural: int
    modifier: int
    total: int
    dc: int
    success: bool

    @property
    def verdict(self) -> str:
        """`success` or `failure`, as every summary and status line says it."""
        return "success" if self.success else "failure"

    @property
    def label(self) -> str:
        """The check's id, or `improvised <skill>` for a check the spec does not list."""
        return self.check or f"improvised {self.skill}"


class VttGrant(BaseModel):
    """One item or XP award to push to a character's actor in Foundry VTT.

    It carries everything the push needs (names, the item's uuid), so `mardonar vtt retry`
    can deliver it later without the spec at hand."""

    kind: Literal["item", "xp"]
    player: str
    character: str
    """The character's name: the actor is looked up by it."""
    actor: str | None = None
    """The actor's uuid, once known (from the registry, or found by name on an earlier try)."""
    item: str | None = None
    """The spec's item id (kind `item`)."""
    item_name: str | None = None
    foundry: str | None = None
    """The item's Foundry uuid from the spec, if it has one (else it is found by name)."""
    xp: int = 0
    """The amount (kind `xp`)."""
    done: bool = False
    detail: str = ""
    """What the last try did: "granted", or why it failed (the grant then stays pending)."""
    attempts: int = 0

    def label(self) -> str:
        """What is pushed, in words: `Grukk's Toll Receipt` or `60 XP`."""
        return f"{self.xp} XP" if self.kind == "xp" else (self.item_name or self.item or "?")

    def report(self) -> str:
        """One line for players and operators: `✓ Aria: 60 XP — granted` or
        `✗ Aria: Grukk's Toll Receipt — pending — no actor named Aria`."""
        mark = "✓" if self.done else "✗"
        state = self.detail if self.done else f"pending — {self.detail}"
        return f"{mark} {self.character}: {self.label()} — {state}"


PENDING_HINT = "`mardonar vtt retry` pushes them once the relay and the actors are ready"
"""What to do about grants left pending (said after the per-grant lines)."""


def grant_lines(pushed: Sequence[Mapping[str, Any]]) -> list[str]:
    """What reached Foundry VTT at resolve (a `Resolved.vtt`), one line a grant, then what
    to do about the pending ones; nothing without a relay."""
    grants = [VttGrant.model_validate(grant) for grant in pushed]
    lines = [f"Foundry: {grant.report()}" for grant in grants]
    waiting = sum(not grant.done for grant in grants)
    if waiting:
        lines.append(f"{waiting} Foundry grant(s) pending: {PENDING_HINT}.")
    return lines


class Session(BaseModel):
    """One encounter in progress (or finished)."""

    id: str
    spec_id: str
    spec_sha256: str
    persona_sha256: str
    seed: int
    rolls: int = 0
    """Dice rolled so far: with the seed, the whole RNG state."""
    model: str = "offline"
    turn: int = 0
    """The last completed turn."""
    status: Status = Status.active
    started_at: str
    transcript: str | None = None
    participants: list[str] = Field(default_factory=list)
    """Player ids of characters who spoke or were rolled for, in order of first appearance."""
    history: list[HistoryEntry] = Field(default_factory=list)
    summary_lines: list[str] = Field(default_factory=list)
    """One compact line per turn older than the recent window (the rolling summary)."""
    checks_rolled: list[CheckRoll] = Field(default_factory=list)
    xp_bonus: dict[str, int] = Field(default_factory=dict)
    """Discretionary XP per player from award_xp (bounded by limits.bonus_xp)."""
    xp_awarded: dict[str, int] = Field(default_factory=dict)
    """Total XP per player at resolution (outcome + bonus)."""
    items_granted: dict[str, str] = Field(default_factory=dict)
    """Item id → player id it went to; an item is granted at most once."""
    revealed_secrets: dict[str, list[str]] = Field(default_factory=dict)
    """NPC id → secrets revealed so far (after successful checks)."""
    npcs_in_play: list[str] = Field(default_factory=list)
    outcome: str | None = None
    summary_path: str | None = None
    pending: list[PlayerLine] = Field(default_factory=list)
    """Player lines of a turn that has started but not finished; re-run on resume."""
    vtt_grants: list[VttGrant] = Field(default_factory=list)
    """Items and XP pushed (or to push) to Foundry VTT at resolution; those not `done` are
    pending until `mardonar vtt retry` delivers them. Empty when no relay is configured."""

    @property
    def vtt_pending(self) -> list[VttGrant]:
        return [grant for grant in self.vtt_grants if not grant.done]

    def rolled(self, check_id: str, player: str) -> bool:
        return any(r.check == check_id and r.player == player for r in self.checks_rolled)

    def add_participant(self, player: str) -> None:
        if player not in self.participants:
            self.participants.append(player)
