"""`mardonar tally` (issue #3)."""

from __future__ import annotations

import typer

from mardonar.cli._common import not_built_yet


def register(app: typer.Typer) -> None:
    @app.command("tally", help="Not built yet (issue #3).")
    def _tally() -> None:
        not_built_yet("tally", 3)
