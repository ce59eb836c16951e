"""`mardonar doctor` (issue #4)."""

from __future__ import annotations

import typer

from mardonar.cli._common import not_built_yet


def register(app: typer.Typer) -> None:
    @app.command("doctor", help="Not built yet (issue #4).")
    def _doctor() -> None:
        not_built_yet("doctor", 4)
