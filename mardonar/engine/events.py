"""What the engine tells the world, as frozen dataclasses.

Every front end (plain REPL, TUI, Discord) and the transcript writer only consume these;
none of them reaches into the engine's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Event:
    turn: int


@dataclass(frozen=True, slots=True)
class PlayerSaid(Event):
    player: str
    character: str
    text: str


@dataclass(frozen=True, slots=True)
class ModelReplied(Event):
    """One answer of the model, as returned (transcript type `llm`)."""

    content: str
    tool_calls: tuple[dict[str, Any], ...]
    model: str
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    usage_estimated: bool = False
    """The token counts are Mardonar's estimate: the server reported none."""
    asked: dict[str, Any] | None = None
    """A short digest of what the model was asked (`mardonar.llm.base.asked_digest`), so a
    replay that asks something the recording never did can show the nearest recorded ask."""


@dataclass(frozen=True, slots=True)
class NarrationDelta(Event):
    """Text as the model writes it; may later be marked replaced by a correction."""

    text: str


@dataclass(frozen=True, slots=True)
class NarrationReplaced(Event):
    """The streamed draft was corrected: channels drop what they showed since the last
    NarrationDone and wait for the corrected text."""

    reason: str


@dataclass(frozen=True, slots=True)
class Narration(Event):
    """The final text shown to players for this turn (transcript type `narration`)."""

    text: str
    fallback: bool = False


@dataclass(frozen=True, slots=True)
class ToolCalled(Event):
    call_id: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult(Event):
    call_id: str
    name: str
    args: dict[str, Any]
    ok: bool
    result: dict[str, Any] | None = None
    error: str | None = None
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Rolled(Event):
    """A die roll anyone should see: a skill check, a GM roll or a player's /roll."""

    who: str  # character name, or the GM
    expression: str
    detail: str
    total: int
    reason: str = ""
    skill: str | None = None
    check: str | None = None
    natural: int | None = None
    modifier: int | None = None
    dc: int | None = None
    success: bool | None = None

    def line(self) -> str:
        """`🎲 Aria — stealth 14+7 = 21 vs DC 13: success` — the same in every front end."""
        if self.dc is not None and self.natural is not None and self.modifier is not None:
            sign = "+" if self.modifier >= 0 else "-"
            verdict = "success" if self.success else "failure"
            return (
                f"🎲 {self.who} — {self.skill} {self.natural}{sign}{abs(self.modifier)} = "
                f"{self.total} vs DC {self.dc}: {verdict}"
            )
        why = f" ({self.reason})" if self.reason else ""
        return f"🎲 {self.who} — {self.detail}{why}"


@dataclass(frozen=True, slots=True)
class Correction(Event):
    reason: str
    original: str


@dataclass(frozen=True, slots=True)
class Resolved(Event):
    outcome: str
    result: str
    summary: str
    xp: dict[str, int]
    skipped: dict[str, str]
    items: dict[str, list[str]]
    summary_path: str
    vtt: tuple[dict[str, Any], ...] = ()
    """Pushes to Foundry VTT, one per grant (`VttGrant` fields: player, character, kind,
    item_name or xp, done, detail); a grant not done is pending. Empty without a relay."""


@dataclass(frozen=True, slots=True)
class Ended(Event):
    reason: str  # resolved | max_turns | ended_by_player
    summary_path: str | None = None


@dataclass(frozen=True, slots=True)
class EngineError(Event):
    """Something failed that the players should know about (the turn still ended)."""

    message: str
    source: Literal["model", "store"] = "model"
    """`model`: a backend failed or was set aside (the GM said a fallback line, the turn
    counted). `store`: the store refused the turn (down, busy, or already played by another
    process) and nothing of it was applied; the players may send the line again."""


@dataclass(frozen=True, slots=True)
class Notice(Event):
    """Information for the table that is not narration (e.g. 'wrap up: 3 turns left')."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
