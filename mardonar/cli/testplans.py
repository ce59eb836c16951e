"""`mardonar test`: the authors' test plans (built with the engine, issue #3/#6)."""

from __future__ import annotations

import typer

from mardonar.cli._common import not_built_yet


def register(app: typer.Typer) -> None:
    @app.command("test", help="Run the authors' test plans (specs/<id>.test.yaml). Not built yet.")
    def _test() -> None:
        not_built_yet("test", 6)
