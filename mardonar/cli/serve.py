"""`mardonar serve discord|mcp`."""

from __future__ import annotations

import typer

from mardonar.cli._common import not_built_yet

app = typer.Typer(help="Run Mardonar as a server.", no_args_is_help=True)


@app.command("discord", help="Run the engine on the Discord gateway. Not built yet (issue #8).")
def _discord() -> None:
    not_built_yet("serve discord", 8)


@app.command("mcp", help="Serve NPC memory and lore search over MCP. Not built yet (issue #7).")
def _mcp() -> None:
    not_built_yet("serve mcp", 7)
