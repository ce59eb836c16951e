"""`mardonar test [PATH...]`: run the authors' test plans (specs/<id>.test.yaml)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from mardonar.cli._common import TextOrJson, format_option, targets_argument


class GmModel(StrEnum):
    offline = "offline"


def register(app: typer.Typer) -> None:
    @app.command("test")
    def _test(
        paths: list[Path] | None = targets_argument(
            "Test plans or folders holding them (default: every specs/*.test.yaml of the "
            "current repository)."
        ),
        output: TextOrJson = format_option(TextOrJson.text),
        keyword: str | None = typer.Option(
            None,
            "-k",
            help="Run only the cases whose id (PLAN::NAME) contains this text (case-insensitive).",
        ),
        model: GmModel = typer.Option(
            GmModel.offline, "--model", help="The model that plays the GM."
        ),
    ) -> None:
        """Run the authors' test plans (`specs/<id>.test.yaml`) and report like pytest.

        Exit 0 when every case passes, 1 when any fails, 2 on a usage error or when a plan
        has lint errors (nothing is run then)."""
        import asyncio

        from mardonar.errors import UsageError
        from mardonar.harness.replay.render import json_safe
        from mardonar.harness.testplans import (
            CaseResult,
            discover_plans,
            lint_plans,
            load_plan,
            offline_llm,
            run_plans,
            skipped_line,
            untested_specs,
        )
        from mardonar.safetext import visible

        as_json = output is TextOrJson.json
        plans = discover_plans(list(paths or []), Path.cwd())
        errors = lint_plans(plans)
        if errors:
            if as_json:
                typer.echo(json_safe({"lint": [f.to_dict() for f in errors], "cases": []}))
            else:
                for f in errors:
                    typer.echo(
                        visible(f"{f.path}:{f.line}:{f.col}: {f.severity}[{f.code}] {f.message}")
                    )
            noun = "error" if len(errors) == 1 else "errors"
            raise UsageError(
                f"the test plans have {len(errors)} lint {noun}; fix them (see `mardonar lint`) "
                "and run again: no case was run",
                exit_code=2,
            )
        loaded = [load_plan(path) for path in plans]
        if keyword and not any(
            keyword.casefold() in f"{plan.display}::{case.name}".casefold()
            for plan in loaded
            for case in plan.plan.cases
        ):
            raise UsageError(f"-k {keyword}: no case id contains it", exit_code=2)

        def show(result: CaseResult) -> None:
            if as_json:
                return
            # A plan's case names and the narration quoted are text from files and the
            # model: shown with their control characters as escapes, never raw.
            typer.echo(visible(f"{result.id} {'PASSED' if result.passed else 'FAILED'}"))
            for failure in result.failures:
                typer.echo(visible(f"    {failure}"))

        untested = untested_specs(list(paths or []), Path.cwd())
        if not as_json:
            for spec in untested:
                typer.echo(visible(skipped_line(spec)))
        make_llm = {GmModel.offline: offline_llm}[model]
        run = asyncio.run(
            run_plans(loaded, keyword=keyword, make_llm=make_llm, on_result=show, untested=untested)
        )
        if as_json:
            typer.echo(json_safe(run.to_dict()))
        else:
            typer.echo(run.summary())
        raise typer.Exit(1 if run.failed else 0)
