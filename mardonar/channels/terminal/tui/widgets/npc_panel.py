"""The NPC panel: each NPC's disposition, what it remembers in this session, and the
secrets it has revealed; memories that arrived during the current turn are marked ✚."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mardonar.channels.terminal.tui.widgets.lines import Lines
from mardonar.channels.terminal.tui.widgets.panel import Panel

if TYPE_CHECKING:
    from mardonar.engine.loop import NpcView

Memory = tuple[str, str]  # (npc id, fact)


class NpcPanel(Panel):
    PREFIX = "npcs"
    STYLES = ("name", "heading", "new", "secret")

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.views: list[NpcView] = []
        self._before_turn: set[Memory] | None = None
        """What was remembered when the current turn began (None: not looked yet)."""

    def begin_turn(self) -> None:
        """From now on, memories not already shown count as new."""
        self._before_turn = self._memories()

    def reset(self) -> None:
        self.views = []
        self._before_turn = None

    def show(self, views: Sequence[NpcView]) -> None:
        self.views = list(views)
        if self._before_turn is None:  # the first look: seeded knowledge, not news
            self._before_turn = self._memories()
        self.refresh_body()

    def _memories(self) -> set[Memory]:
        return {(view.id, memory) for view in self.views for memory in view.memories}

    def body_lines(self) -> Lines:
        out = Lines()
        before = self._before_turn or set()
        heading = self._s("heading")
        for index, view in enumerate(self.views):
            if index:
                out.blank()
            out.line((view.name, self._s("name")), ("  " + view.role, heading))
            out.item(
                "",
                view.disposition,
                (f" · secrets revealed {len(view.revealed)}/{view.secrets}", heading),
            )
            for secret in view.revealed:
                out.item("  ⚿", (secret, self._s("secret")), indent=4)
            out.item("", (f"remembers ({len(view.memories)})", heading))
            for memory in view.memories:
                if (view.id, memory) in before:
                    out.item("  •", memory, indent=4)
                else:
                    out.item(("  ✚", self._s("new")), (memory, self._s("new")), indent=4)
        return out
