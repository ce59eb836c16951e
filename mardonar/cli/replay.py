"""`mardonar replay TRANSCRIPT...` (issue #6): strict replay of recorded sessions, and
`--live`: the recorded player lines against the configured model, compared by facts."""

from __future__ import annotations

from pathlib import Path

import typer

from mardonar.cli._common import ReportFormat, format_option


def register(app: typer.Typer) -> None:
    @app.command("replay")
    def _replay(
        paths: list[Path] = typer.Argument(
            ...,
            help="Transcripts (*.jsonl) or folders holding them (walked).",
            show_default=False,
        ),
        output: ReportFormat = format_option(ReportFormat.text),
        live: bool = typer.Option(
            False,
            "--live",
            help="Play the recorded player lines against the configured model (as `mardonar "
            "play` chooses it) and compare checks, outcome, XP and items, not text.",
        ),
        model: str | None = typer.Option(
            None, "--model", help="With --live: model name; `offline` forces the offline narrator."
        ),
        jobs: int | None = typer.Option(
            None,
            "--jobs",
            "-j",
            min=1,
            help="Processes replaying at once (default: one per CPU for 4 or more "
            "transcripts; 1: all in this process). The report is the same either way.",
            show_default=False,
        ),
    ) -> None:
        """Replay recorded sessions against the current specs and compare what happens.

        The recorded model answers are played back with the recorded seed and player lines;
        tool calls and results, narration, corrections and the resolution are compared turn
        by turn. Exit 0 when every transcript replays identically, 1 when any diverges, 2
        when a transcript cannot be read or its spec cannot be loaded (one line each,
        `FILE:LINE: what is wrong`; the other transcripts are still replayed and reported).
        Several transcripts are replayed in parallel on the CPUs (--jobs), with the same
        report.

        With --live the configured model answers instead; the narrations are shown side by
        side and the facts compared. Exit 0 when the facts agree, 1 when they differ, 2 on
        a usage or configuration error."""
        import asyncio

        from mardonar.errors import UsageError
        from mardonar.harness.replay.reading import discover_transcripts

        if model is not None and not live:
            raise UsageError("--model only applies with --live", exit_code=2)
        if jobs is not None and live:
            raise UsageError("--jobs applies to a strict replay; drop it or --live", exit_code=2)
        if live and output is ReportFormat.github:
            raise UsageError("--live reports as text or json; drop --format github", exit_code=2)
        files = discover_transcripts(list(paths))
        if live:
            raise typer.Exit(_run_live(files, output, model))

        from mardonar.harness.replay.render import (
            render_github,
            render_json,
            render_text,
            unreadable_lines,
        )
        from mardonar.harness.replay.results import ReplayResult
        from mardonar.harness.replay.run import replay_all

        results: list[ReplayResult] = asyncio.run(replay_all(files, jobs=jobs))
        renderer = {"text": render_text, "json": render_json, "github": render_github}
        typer.echo(renderer[output.value](results))
        # After the report: each unreadable transcript's one line, the last thing shown.
        for line in unreadable_lines(r.unreadable for r in results):
            typer.echo(line, err=True)
        if any(r.unreadable for r in results):
            raise typer.Exit(2)
        raise typer.Exit(0 if all(r.identical for r in results) else 1)


def _run_live(files: list[Path], output: ReportFormat, model: str | None) -> int:
    import asyncio

    from mardonar.config import load_settings
    from mardonar.errors import ConfigError, UsageError
    from mardonar.harness.replay.live import live_replay_all, print_live_text, render_live_json
    from mardonar.harness.replay.render import unreadable_lines

    try:
        settings = load_settings()
    except ConfigError as error:  # a configuration mistake is a usage error here (exit 2)
        raise UsageError(str(error), exit_code=2) from None
    try:
        results = asyncio.run(live_replay_all(files, settings, model=model))
    except ConfigError as error:
        raise UsageError(str(error), exit_code=2) from None
    if output is ReportFormat.json:
        typer.echo(render_live_json(results))
    else:
        print_live_text(results)
    for line in unreadable_lines(r.unreadable for r in results):
        typer.echo(line, err=True)
    if any(r.unreadable for r in results):
        return 2
    return 0 if all(r.agree for r in results) else 1
