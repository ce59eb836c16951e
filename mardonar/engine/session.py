"""The state of one running encounter, persisted after every turn.

Everything needed to resume after the process dies lives here, the dice included: they are
seeded from (seed, rolls made), so storing the counter is storing the RNG state.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


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


class PendingLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    player: str
    text: str


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
    pending: list[PendingLine] = Field(default_factory=list)
    """Player lines of a turn that has started but not finished; re-run on resume."""

    def rolled(self, check_id: str, player: str) -> bool:
        return any(r.check == check_id and r.player == player for r in self.checks_rolled)

    def add_participant(self, player: str) -> None:
        if player not in self.participants:
            self.participants.append(player)
