"""`mardonar tally`: per-spec run counts from DATA_DIR/tally.json."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("tally")
    def tally(
        as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
    ) -> None:
        """Per-spec run counts (encounters resolved or ended)."""
        import json

        from mardonar.config import load_settings
        from mardonar.files import TALLY_FILE, read_tally

        data_dir = load_settings().store.data_dir
        counts = read_tally(data_dir)
        if as_json:
            typer.echo(json.dumps(counts, indent=2, sort_keys=True))
            return
        if not counts:
            typer.echo(f"No runs yet ({data_dir / TALLY_FILE} is empty or missing).")
            return
        from rich.console import Console
        from rich.table import Table

        # The file's path on a line of its own, never wrapped: as the table's title Rich
        # wrapped a long DATA_DIR across lines, so the output changed with the path's length.
        typer.echo(f"Runs per spec, from {data_dir / TALLY_FILE}:")
        table = Table()
        table.add_column("spec")
        table.add_column("runs", justify="right")
        for spec_id, runs in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(spec_id, str(runs))
        table.add_row("total", str(sum(counts.values())), style="bold")
        Console().print(table)
