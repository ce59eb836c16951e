"""`mardonar play` (issue #3)."""

from __future__ import annotations

import typer

from mardonar.cli._common import not_built_yet


def register(app: typer.Typer) -> None:
    @app.command("play", help="Not built yet (issue #3).")
    def _play() -> None:
        not_built_yet("play", 3)
