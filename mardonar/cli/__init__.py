"""The `mardonar` command line.

One module per command; each command imports its heavy dependencies inside its body, so
that `mardonar --help` only pays for Typer (see tests/test_import_hygiene.py).
"""

from __future__ import annotations

import os
import sys

import typer

from mardonar import __version__
from mardonar.cli import (
    _help,
    discord_cmd,
    doctor,
    explore,
    lint,
    new,
    play,
    replay,
    schema,
    serve,
    tally,
    testplans,
    vtt,
)

app = typer.Typer(
    name="mardonar",
    cls=_help.ConventionalGroup,
    help="Mardonar: playtest, lint and serve tabletop encounters run by an LLM game master.",
    no_args_is_help=True,
    add_completion=False,
    # Markdown: help paragraphs are re-flowed to the terminal width; with "rich" the line
    # breaks of the source docstrings showed up as ragged lines.
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mardonar {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show Python tracebacks for errors (same as LOG_LEVEL=debug)."
    ),
) -> None:
    if debug:
        os.environ["MARDONAR_DEBUG"] = "1"


for module in (play, lint, replay, schema, new, explore, testplans, doctor, tally):
    module.register(app)
app.add_typer(serve.app, name="serve")
app.add_typer(discord_cmd.app, name="discord")
app.add_typer(vtt.app, name="vtt")


def _debug_enabled() -> bool:
    return os.environ.get("MARDONAR_DEBUG") == "1" or os.environ.get("LOG_LEVEL", "").lower() == (
        "debug"
    )


def main() -> None:
    """Console-script entry point: run the app, turning user errors into one line."""
    from mardonar.errors import UserError

    try:
        # standalone_mode=False lets us print user errors our way; click then returns the
        # exit code of typer.Exit instead of calling sys.exit itself.
        result = app(standalone_mode=False, prog_name="mardonar")
        sys.exit(result if isinstance(result, int) else 0)
    except UserError as error:
        if _debug_enabled():
            raise
        typer.echo(f"mardonar: {error}", err=True)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        typer.echo("mardonar: interrupted", err=True)
        sys.exit(130)
    except Exception as error:
        # Click's usage errors (Typer may vendor its own copy of click, so match by shape).
        show = getattr(error, "show", None)
        if callable(show) and isinstance(getattr(error, "exit_code", None), int):
            show()
            sys.exit(error.exit_code)  # type: ignore[attr-defined]
        if type(error).__name__ == "Abort":
            typer.echo("Aborted.", err=True)
            sys.exit(1)
        if _debug_enabled():
            raise
        # A bug of ours, not the user's: still one line, with the way to get the traceback.
        typer.echo(
            f"mardonar: internal error: {type(error).__name__}: {error} "
            "(run again with --debug for the traceback and report it)",
            err=True,
        )
        sys.exit(1)
