"""How far one turn may go: the context budget and the tool-call bounds, as one value.

The engine, the Discord desk that builds an engine per encounter and the replay harness all
hand these three on together, so they travel as one frozen value rather than three
arguments each. `from_settings` is the one place they are read from the settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mardonar.config import Settings

__all__ = ["TurnLimits"]


@dataclass(frozen=True)
class TurnLimits:
    """The bounds of one turn; the defaults are the settings' defaults (docs/configuration.md)."""

    context_budget: int = 6000
    """Token budget of the context built for each turn (MARDONAR_CONTEXT_BUDGET)."""
    max_tool_rounds: int = 4
    """Most tool-call rounds in one turn before a final call without tools
    (MARDONAR_MAX_TOOL_ROUNDS)."""
    max_tool_calls: int = 8
    """Most tool calls run from one reply (MARDONAR_MAX_TOOL_CALLS); the next one is
    refused, and any after it are dropped."""

    @classmethod
    def from_settings(cls, settings: Settings) -> TurnLimits:
        """The limits the settings ask for. Built here, not as a section of the settings,
        because config sits below the engine and may not import it."""
        return cls(
            context_budget=settings.mardonar_context_budget,
            max_tool_rounds=settings.mardonar_max_tool_rounds,
            max_tool_calls=settings.mardonar_max_tool_calls,
        )
