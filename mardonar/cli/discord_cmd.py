"""`mardonar discord sync`."""

from __future__ import annotations

import typer

from mardonar.cli._common import not_built_yet

app = typer.Typer(help="Discord administration.", no_args_is_help=True)


@app.command("sync", help="Register the slash commands. Not built yet (issue #8).")
def _sync(
    guild: str | None = typer.Option(None, "--guild", help="Register for one guild only."),
) -> None:
    not_built_yet("discord sync", 8)
