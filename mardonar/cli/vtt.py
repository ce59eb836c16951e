"""`mardonar vtt retry`: push pending Foundry VTT grants."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from mardonar.config import Settings

app = typer.Typer(help="Foundry VTT: grants pushed through the relay.", no_args_is_help=True)


@app.command("retry")
def retry(
    spec: str | None = typer.Option(None, "--spec", help="Only sessions of this spec id."),
) -> None:
    """Push the items and XP still pending in stored sessions to Foundry.

    Exit 0 when nothing is left pending, 1 when some grants still fail, 2 when
    VTT_RELAY_URL is not set.
    """
    import asyncio

    from mardonar.config import load_settings
    from mardonar.errors import UsageError

    settings = load_settings()
    if not settings.vtt.configured:
        raise UsageError(
            "VTT_RELAY_URL is not set: set it to the Foundry relay "
            "(https://:API_KEY@relay.example.com/?clientId=...) to push pending grants"
        )
    pending = asyncio.run(_retry(settings, spec))
    if pending:
        raise typer.Exit(1)


async def _retry(settings: Settings, spec: str | None) -> int:
    from mardonar.engine.grants import retry_pending
    from mardonar.runtime import open_relay, open_store

    store = open_store(settings, settings.store.data_dir)
    relay = open_relay(settings)
    assert relay is not None
    try:  # a StoreUnavailable is a UserError: main() prints its one line
        report = await retry_pending(store, relay, spec_id=spec)
    finally:
        await relay.aclose()
        await store.close()
    for line in report.lines:
        typer.echo(line)
    if not report.pushed and not report.pending:
        typer.echo("Nothing pending: every grant has reached Foundry.")
    else:
        typer.echo(
            f"{report.pushed} grant(s) pushed, {report.pending} still pending"
            + (" (run `mardonar vtt retry` again once fixed)." if report.pending else ".")
        )
    return report.pending
