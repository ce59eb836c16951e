"""`mardonar lint [PATH...]`."""

from __future__ import annotations

from pathlib import Path

import typer

from mardonar.cli._common import ReportFormat, format_option, targets_argument


def register(app: typer.Typer) -> None:
    @app.command("lint")
    def lint(
        paths: list[Path] | None = targets_argument(
            "Files or folders to check (default: specs/ persona.yaml party.yaml lore/ of "
            "the current repository)."
        ),
        output: ReportFormat = format_option(ReportFormat.text),
        strict: bool = typer.Option(False, "--strict", help="Fail (exit 1) on warnings too."),
        prompt_budget: int = typer.Option(
            2500,
            "--prompt-budget",
            min=100,
            help="Warn (M404) when persona + a spec's GM view is estimated above this many tokens.",
        ),
        no_cache: bool = typer.Option(
            False, "--no-cache", help="Ignore and do not write the content-hash result cache."
        ),
    ) -> None:
        """Check specs, persona, party, lore and test plans; report every finding."""
        from mardonar.content.lint.report import render_github, render_json, render_text
        from mardonar.content.lint.runner import default_paths, run_lint

        targets = list(paths) if paths else default_paths(Path.cwd())
        report = run_lint(targets, prompt_budget=prompt_budget, use_cache=not no_cache)
        renderer = {"text": render_text, "json": render_json, "github": render_github}
        typer.echo(renderer[output.value](report))
        failed = report.errors > 0 or (strict and report.warnings > 0)
        raise typer.Exit(1 if failed else 0)
