"""`mardonar schema [--out DIR]`: write the JSON Schema files editors use for completion."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("schema")
    def _schema(
        out: Path | None = typer.Option(
            None,
            "--out",
            "-o",
            help="Folder to write into [default: schemas/ of the current repository].",
            file_okay=False,
        ),
    ) -> None:
        """Write JSON Schema for spec, persona, party and test-plan files."""
        # pydantic and the models cost ~0.1 s: imported here, not for `mardonar --help`.
        from mardonar.content import schema
        from mardonar.content.repo import find_root
        from mardonar.errors import UsageError

        if out is None:
            root = find_root(Path.cwd()) or Path.cwd()
            out = root / "schemas"
        try:
            written = schema.write(out)
        except OSError as error:
            raise UsageError(
                f"cannot write schemas to {out}: {error.strerror or error}; "
                "choose another folder with --out"
            ) from None
        for path in written:
            typer.echo(f"wrote {_shown(path)}")


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
