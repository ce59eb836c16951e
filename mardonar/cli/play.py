"""`mardonar play SPEC`: playtest an encounter in the terminal."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("play")
    def play(
        spec: str = typer.Argument(..., help="A spec file, or a spec id found in specs/."),
        seed: int | None = typer.Option(
            None, "--seed", help="Dice seed: the same seed and input give the same rolls."
        ),
        party: Path | None = typer.Option(
            None, "--party", help="Party file (default: party.yaml)."
        ),
        speaker: str | None = typer.Option(
            None, "--as", help="Which party member speaks first (player id or name)."
        ),
        transcript: Path | None = typer.Option(
            None,
            "--transcript",
            help="Where to write the transcript "
            "(default: `transcripts/<spec-id>-<UTC time>.jsonl`).",
        ),
        model: str | None = typer.Option(
            None, "--model", help="Model name; `offline` forces the built-in offline narrator."
        ),
        resume: bool = typer.Option(
            False, "--resume", help="Continue the most recent unfinished session of this spec."
        ),
        fresh_memory: bool = typer.Option(
            False,
            "--fresh-memory",
            help="NPCs recall nothing from earlier sessions of this spec (kept, not deleted); "
            "give it again with --resume.",
        ),
        plain: bool = typer.Option(
            False, "--plain", help="The plain line REPL instead of the TUI."
        ),
        watch: bool = typer.Option(
            False,
            "--watch",
            help="Reload the spec, persona, party and lore when edited, and offer to restart "
            "the encounter through the lines played so far (TUI only).",
        ),
    ) -> None:
        """Playtest SPEC: each line you type is one player message; /help for commands.

        On a terminal this opens the TUI; with --plain, or when stdin or stdout is not a
        terminal (a pipe, CI), the plain line REPL."""
        import asyncio
        import sys

        from mardonar.channels.terminal.launch import play_plain, play_tui
        from mardonar.channels.terminal.playtest import PlayOptions

        options = PlayOptions(
            spec=spec,
            seed=seed,
            party=party,
            speaker=speaker,
            transcript=transcript,
            model=model,
            resume=resume,
            fresh_memory=fresh_memory,
        )
        tui = not plain and sys.stdin.isatty() and sys.stdout.isatty()
        if watch and not tui:
            typer.echo(
                "--watch needs the TUI (a terminal, without --plain); playing without it.", err=True
            )
        code = asyncio.run(play_tui(options, watch=watch) if tui else play_plain(options))
        raise typer.Exit(code)
