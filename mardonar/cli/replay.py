"""`mardonar replay TRANSCRIPT...` (issue #6): strict replay of recorded sessions."""

from __future__ import annotations

from pathlib import Path

import typer

from mardonar.cli._common import ReportFormat


def register(app: typer.Typer) -> None:
    @app.command("replay")
    def _replay(
        paths: list[Path] = typer.Argument(
            ...,
            help="Transcripts (*.jsonl) or folders holding them (walked).",
            show_default=False,
        ),
        output: ReportFormat = typer.Option(ReportFormat.text, "--format", help="Output format."),
    ) -> None:
        """Replay recorded sessions against the current specs and compare what happens.

        The recorded model answers are played back with the recorded seed and player lines;
        tool calls and results, narration, corrections and the resolution are compared turn
        by turn. Exit 0 when every transcript replays identically, 1 when any diverges, 2
        when a transcript cannot be read or its spec cannot be loaded."""
        import asyncio

        from mardonar.replay import (
            ReplayResult,
            discover_transcripts,
            render_github,
            render_json,
            render_text,
            replay,
        )

        files = discover_transcripts(list(paths))

        async def run_all() -> list[ReplayResult]:
            return [await replay(path) for path in files]

        results = asyncio.run(run_all())
        renderer = {"text": render_text, "json": render_json, "github": render_github}
        typer.echo(renderer[output.value](results))
        raise typer.Exit(0 if all(r.identical for r in results) else 1)
