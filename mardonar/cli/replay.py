"""`mardonar replay` (issue #6)."""

from __future__ import annotations

import typer

from mardonar.cli._common import not_built_yet


def register(app: typer.Typer) -> None:
    @app.command("replay", help="Not built yet (issue #6).")
    def _replay() -> None:
        not_built_yet("replay", 6)
