"""`mardonar doctor`: check the configuration and every configured server (issue #4).

The checks live in mardonar/ops/doctor/; this module only reads the options, prints the rows
(a rich table on a terminal, a list of whole lines when piped, or JSON for scripts) and
picks the exit code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mardonar.cli._common import TextOrJson

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from mardonar.ops.doctor.rows import Row


def register(app: typer.Typer) -> None:
    @app.command("doctor")
    def doctor(
        output: TextOrJson = typer.Option(
            TextOrJson.text,
            "--format",
            help="text: a table (one line a check when piped); json: a list of row objects.",
        ),
        timeout: float = typer.Option(
            5.0,
            "--timeout",
            min=0.1,
            max=600,
            help="Seconds to wait for each server before calling it unreachable.",
        ),
        strict: bool = typer.Option(False, "--strict", help="Fail (exit 1) on warnings too."),
    ) -> None:
        """Check the configuration and every configured server; print the fix for each ✗.

        Exit 0 when every configured part works (warnings ⚠ do not fail unless --strict);
        1 otherwise, or on a bad setting.
        """
        from pathlib import Path

        from mardonar.config import load_settings
        from mardonar.ops.doctor import diagnose, failed

        settings = load_settings()
        rows = diagnose(settings, timeout=timeout, cwd=Path.cwd())
        if output is TextOrJson.json:
            import json

            typer.echo(json.dumps([row.to_dict() for row in rows], indent=2, ensure_ascii=False))
        else:
            _print_table(rows, strict=strict)
        raise typer.Exit(1 if failed(rows, strict=strict) else 0)


def _print_table(rows: list[Row], *, strict: bool, console: Console | None = None) -> None:
    from rich.console import Console

    from mardonar.safetext import safe

    console = console or Console(highlight=False)
    if console.is_terminal:
        console.print(_table(rows))
    else:
        # Piped (`| cat`, a CI log) a console is 80 columns, and a table squeezed into them
        # cut the URL and the fix, the part the operator needs: a check a line instead.
        for row in rows:
            typer.echo(f"{row.symbol} {row.part} · {row.check}: {safe(row.detail)}")
            if row.fix:
                typer.echo(f"    fix: {safe(row.fix)}")
    console.print(f"doctor: {_verdict(rows, strict=strict)}", markup=False)


def _table(rows: list[Row]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from mardonar.safetext import safe

    styles = {"ok": "green", "fail": "bold red", "warn": "yellow", "skip": "dim"}
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("part", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("status", justify="center", no_wrap=True)
    # Both wrap when the terminal is narrow; with fixes to show, the detail keeps 3/5 of
    # the room (left to itself, rich splits it evenly and the detail wraps first).
    fixes = any(row.fix for row in rows)
    table.expand = fixes  # rich honours ratios only in an expanded table
    # "fold": a URL longer than its column breaks over lines instead of ending in "…".
    table.add_column("detail", ratio=3 if fixes else None, overflow="fold")
    table.add_column("fix", ratio=2 if fixes else None, overflow="fold")
    for index, row in enumerate(rows):
        first_of_part = index == 0 or rows[index - 1].part != row.part
        last_of_part = index == len(rows) - 1 or rows[index + 1].part != row.part
        table.add_row(
            # Text(...) rather than str: a detail such as "[model]" is not rich markup
            Text(row.part if first_of_part else "", style="bold"),
            Text(row.check),
            Text(row.symbol, style=styles[row.status]),
            Text(safe(row.detail)),  # a server's own error text can carry escapes
            Text(safe(row.fix)),
            end_section=last_of_part,
        )
    return table


def _verdict(rows: list[Row], *, strict: bool) -> str:
    fails = sum(row.status == "fail" for row in rows)
    warns = sum(row.status == "warn" for row in rows)
    if fails or (strict and warns):
        verdict = f"{fails} failed, {warns} warning(s): fix the ✗ rows above"
        if strict and warns and not fails:
            verdict = f"{warns} warning(s) and --strict: fix the ⚠ rows above"
    elif warns:
        verdict = f"every configured part works; {warns} warning(s)"
    else:
        verdict = "every configured part works"
    return verdict
