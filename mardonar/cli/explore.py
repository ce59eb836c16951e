"""`mardonar explore SPEC...` (issue #6): seeded automatic playthroughs."""

from __future__ import annotations

import typer

from mardonar.cli._common import TextOrJson, format_option, targets_argument


def register(app: typer.Typer) -> None:
    @app.command("explore")
    def explore(
        specs: list[str] | None = targets_argument(
            "Spec ids, spec files or folders of specs (*.test.yaml are skipped; default: "
            "every spec in specs/ of the current repository)."
        ),
        runs: int = typer.Option(200, "--runs", min=1, help="Playthroughs per spec."),
        seed: int = typer.Option(0, "--seed", help="Base seed; run i uses Random(f'{seed}:{i}')."),
        max_turns: int | None = typer.Option(
            None,
            "--max-turns",
            min=1,
            help="End a run unresolved after this many turns (when below the spec's max_turns).",
        ),
        output: TextOrJson = format_option(TextOrJson.text),
    ) -> None:
        """Play SPEC many times with the offline narrator; report unreachable outcomes,
        untriggered checks, dead ends and engine errors (exit 1 on unreachable or errors)."""
        import asyncio
        from pathlib import Path

        from mardonar.content.bundle import load_bundle
        from mardonar.harness.explore import (
            SpecReport,
            explore_bundle,
            render_json,
            render_text,
            spec_targets,
        )

        cwd = Path.cwd()
        bundles = [load_bundle(target, cwd=cwd) for target in spec_targets(specs or [], cwd)]
        if not bundles:
            from mardonar.errors import UsageError

            raise UsageError(
                f"no specs to explore in {', '.join(specs or ['specs/'])}: name spec ids, spec "
                "files or folders holding *.yaml specs",
                exit_code=2,
            )

        async def all_reports() -> list[SpecReport]:
            return [
                await explore_bundle(b, runs=runs, seed=seed, max_turns=max_turns) for b in bundles
            ]

        reports = asyncio.run(all_reports())
        render = render_json if output is TextOrJson.json else render_text
        typer.echo(render(reports))
        raise typer.Exit(0 if all(r.ok for r in reports) else 1)
