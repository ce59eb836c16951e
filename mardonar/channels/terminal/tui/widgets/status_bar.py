"""The status bar: spec title, turn of max turns, backend and model, seed, session id."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.widgets import Static

from mardonar.channels.terminal.tui.shown import text

if TYPE_CHECKING:
    from mardonar.channels.terminal.tui.views import StatusView


class StatusBar(Static):
    COMPONENT_CLASSES: ClassVar[set[str]] = {"status--title", "status--dim"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.view: StatusView | None = None

    def show(self, view: StatusView) -> None:
        self.view = view
        self.update(self.render_view())

    @property
    def text(self) -> str:
        return self.render_view().plain

    def render_view(self) -> Text:
        view = self.view
        if view is None:
            return Text()
        dim = self.get_component_rich_style("status--dim")
        sep = (" │ ", dim)
        turn = f"turn {view.turn}/{view.max_turns}"
        if view.state != "active":
            turn += f" · {view.state}"
        model = view.backend if view.model in view.backend else f"{view.backend} · {view.model}"
        return text(
            (view.title, self.get_component_rich_style("status--title")),
            sep,
            turn,
            sep,
            model,
            sep,
            f"seed {view.seed}",
            sep,
            (view.session_id, dim),
        )
