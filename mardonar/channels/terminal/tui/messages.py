"""Messages that cross the app: what the engine workers post for the widgets to show.

Workers only do the engine's work and post these; the app hands their content to the
widgets, which render it. Nothing here holds engine state, only results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from pathlib import Path

    from mardonar.content.watch import Reload
    from mardonar.engine.events import Event
    from mardonar.engine.loop import NpcView


@dataclass
class EngineEvent(Message):
    """One engine event, in the order the engine produced it."""

    event: Event


@dataclass
class NpcsChanged(Message):
    """What each NPC remembers and has revealed, read after a memory tool or a turn."""

    views: list[NpcView]


@dataclass
class EncounterRestarted(Message):
    """A new session of the same spec and seed began; `opening` is its first narration."""

    opening: Event


@dataclass
class CommandFailed(Message):
    """A player command the engine refused (a bad `/roll` expression…)."""

    text: str


@dataclass
class ContentReloaded(Message):
    """The watched files changed and were loaded again: `reload.bundle` is the new content,
    or None with the lint findings when the edit is broken (the old content stays)."""

    changed: list[Path]
    reload: Reload
