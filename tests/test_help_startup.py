"""`mardonar --help` stays quick (issue #13: within 0.25 s of `python -c pass`) and looks the same.

Typer's help renderer imports `rich.markdown` (markdown_it, pygments) and `rich.traceback`
(attrs, rich.pretty) at module level, ~35 ms of a ~0.1 s start; `mardonar/cli/_help.py` has
it imported with stand-ins and draws plain help paragraphs itself. These tests check that
the start does without them (in a fresh interpreter: this one has imported everything), and
that the help it draws is rich's Markdown, segment for segment and style for style.
"""

from __future__ import annotations

import inspect
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console, ConsoleRenderable
from rich.emoji import Emoji
from rich.markdown import Markdown
from rich.segment import Segment

from mardonar.cli._help import HelpMarkdown

REPO_ROOT = Path(__file__).resolve().parent.parent

# Runs in the child: `mardonar --help` as the console script runs it, then reports which of
# the renderer's heavy modules it imported, and what `import rich.markdown` gives afterwards.
PROBE = """
import json, sys
sys.argv = ["mardonar", *sys.argv[1:]]
from mardonar.cli import main
try:
    main()
except SystemExit as stop:
    code = stop.code
heavy = sorted(
    name for name in sys.modules
    if name.split(".")[0] in ("markdown_it", "pygments", "attr")
    or name in ("rich.markdown", "rich.traceback", "rich.syntax", "rich.pretty")
)
import rich.markdown
print("\\n" + json.dumps({"exit": code, "heavy": heavy, "real": rich.markdown.Markdown.__module__}))
"""


def run_help(*args: str) -> tuple[dict[str, Any], str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MARDONAR_")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=REPO_ROOT,
        env={**env, "COLUMNS": "100", "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.rstrip("\n").splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1])


def test_help_does_without_the_markdown_parser_and_rich_tracebacks() -> None:
    report, output = run_help("--help")

    assert report["exit"] == 0
    assert "Usage: mardonar" in output and "Run the authors' test plans" in output
    assert report["heavy"] == [], f"`mardonar --help` imported {report['heavy']}"
    # the stand-ins were only there while Typer's renderer was imported
    assert report["real"] == "rich.markdown"


def test_a_help_text_with_markup_still_gets_the_markdown_parser() -> None:
    """`replay --help` has `*.jsonl` in an option's help: drawn by rich's Markdown."""
    report, output = run_help("replay", "--help")

    assert report["exit"] == 0
    assert "Transcripts (*.jsonl) or folders holding them" in output
    assert "rich.markdown" in report["heavy"]


def render(renderable: ConsoleRenderable, width: int) -> list[Segment]:
    console = Console(
        width=width, force_terminal=True, color_system="truecolor", file=io.StringIO()
    )
    return list(console.render(renderable, console.options))


def help_texts() -> Iterator[str]:
    """Every help text of the app, as Typer hands it to Markdown: dedented, emoji codes
    replaced, whole and split into the first paragraph and the rest."""
    import typer.main

    from mardonar.cli import app

    def walk(command: Any) -> Iterator[Any]:
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    for command in walk(typer.main.get_command(app)):
        texts = [command.help, command.short_help]
        texts += [getattr(param, "help", None) for param in command.params]
        for text in filter(None, texts):
            text = Emoji.replace(inspect.cleandoc(text))
            first, *rest = text.split("\n\n")
            yield from (text, first.strip(), "\n\n".join(rest))


def test_every_help_text_is_drawn_as_rich_markdown_draws_it() -> None:
    texts = [text for text in help_texts() if text]
    assert len(texts) > 100

    different = [
        (text, width, style)
        for text in texts
        for width in (30, 80, 120)
        for style in ("", "dim")
        if render(HelpMarkdown(text, style=style), width)
        != render(Markdown(text, style=style), width)
    ]

    assert different == []
    # and most are drawn without the parser (the rest use it, so they match trivially)
    assert sum(HelpMarkdown(text).paragraphs is not None for text in texts) > len(texts) * 0.8


# Words, spaces, line breaks and every character Markdown gives a meaning to.
MARKDOWN_TEXT = st.lists(
    st.sampled_from(
        [*"ab1 \n\t.()_-=*`~[]<>&!|#+:\\/\"'✗\x00\xa0", "word", "  ", "\n\n", "1. ", "`x`"]
    ),
    max_size=24,
).map("".join)
# Mostly prose, which the plain path draws itself (a third of these; few of the above).
PROSE_TEXT = st.lists(
    st.sampled_from([*"ab1 \n(_.)`-=:#+!'✗\xa0", "word", "\n\n", "`x`", "`a b`", "LOG_LEVEL"]),
    max_size=20,
).map(lambda pieces: "w" + "".join(pieces))


@settings(max_examples=500, deadline=None)
@given(st.one_of(MARKDOWN_TEXT, PROSE_TEXT), st.sampled_from(["", "dim"]))
def test_any_text_is_drawn_as_rich_markdown_draws_it(text: str, style: str) -> None:
    assert render(HelpMarkdown(text, style=style), 24) == render(Markdown(text, style=style), 24)
