"""`mardonar explore` (issue #6)."""

from __future__ import annotations

import typer

from mardonar.cli._common import not_built_yet


def register(app: typer.Typer) -> None:
    @app.command("explore", help="Not built yet (issue #6).")
    def _explore() -> None:
        not_built_yet("explore", 6)
