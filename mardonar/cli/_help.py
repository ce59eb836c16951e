"""Help as click has always shown it: `SPEC` in the usage line, no type after a flag.

Typer (0.2x) writes the value type after every option, so a flag shows as
`--version <bool>` though it takes no value, and wraps a required argument in braces in the
usage line (`mardonar play [OPTIONS] {spec}`), where click and the docstrings say `SPEC`.
Typer has no setting for either, so the root group (`Typer(cls=ConventionalGroup)`) gives
the commands it is built with classes that show help the conventional way: a flag with no
type, an argument in the usage line as `NAME`, `[NAME]` when optional, `...` when it takes
several. Older Typer versions, which already show help that way, are unaffected.

Help is drawn by `typer.rich_utils`, which imports `rich.markdown` (markdown_it, pygments:
~23 ms) and `rich.traceback` (attrs, rich.pretty: ~12 ms) at module level, a third of the
~0.1 s `mardonar --help` takes, though our help texts are plain paragraphs and Typer's pretty
tracebacks are off. So `typer.rich_utils` is imported with light stand-ins for both
(`light_rich_utils`): `HelpMarkdown` draws a plain paragraph itself, segment for segment as
rich's Markdown does (tests/test_help_startup.py checks every help text of the app), and
parses anything else with the real Markdown; `Traceback` imports rich's on first use.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.style import Style

    _HelpBase = TyperCommand  # what the mixin's super() calls reach, for mypy
else:
    # click's Command as Typer uses it (Typer 0.2x vendors its own copy): a mixin on object
    # would make `_adjust`'s class swap refuse ("object layout differs").
    _HelpBase = TyperCommand.__base__


class _Flag(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # a flag takes no value, so it has no type to show


class _Argument(TyperArgument):
    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = (self.metavar or self.name or "").upper()
        shown = name if self.required else f"[{name}]"
        return [f"{shown}..." if self.nargs != 1 else shown]


def _conventional(param: Any) -> None:
    if type(param) is TyperOption and param.is_flag:
        param.__class__ = _Flag
    elif type(param) is TyperArgument:
        param.__class__ = _Argument


class _ConventionalHelp(_HelpBase):
    """What a command and a group share: help drawn with the light `typer.rich_utils`, and
    a conventional `--help` flag."""

    __slots__ = ()  # no layout of its own, so `_adjust` may swap a built command's class

    def format_help(self, ctx: Any, formatter: Any) -> None:
        light_rich_utils()
        super().format_help(ctx, formatter)

    def get_help_option(self, ctx: Any) -> Any:
        # Made on first use, after the command was built: adjusted then.
        option = super().get_help_option(ctx)
        _conventional(option)
        return option


class _Command(_ConventionalHelp, TyperCommand):
    pass


class ConventionalGroup(_ConventionalHelp, TyperGroup):
    """The root group: every command and group below it shows conventional help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _adjust(self)


def _adjust(command: Any) -> None:
    for param in command.params:
        _conventional(param)
    if type(command) is TyperCommand:
        command.__class__ = _Command
    elif type(command) is TyperGroup:
        command.__class__ = ConventionalGroup
    for sub in getattr(command, "commands", {}).values():
        _adjust(sub)


# A line that markdown-it reads as nothing but paragraph text: it starts with a letter, "("
# or a number that is not "1." or "1)" (no list, heading, quote, fence, table or HTML
# block), has no space at either end (no hard break, nothing stripped), and holds none of
# the characters that start inline markup or an escape (`\\ * ~ [ ] < > & |`); "_" is left
# alone only inside a word, where CommonMark never reads it as emphasis. Backticks only as
# simple code spans (`_CODE_SPAN`), checked as a "-" (punctuation, so an "_" beside one
# counts as outside a word, as CommonMark reads it).
_PLAIN_LINE = re.compile(r"(?:[^\W\d_]|\(|\d+(?![\d.)]))[^\\*~\[\]<>&|`]*(?<=\S)")
_LONE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")
_CODE_SPAN = re.compile(r"(?<!`)`([^`\s](?:[^`]*[^`\s])?)`(?!`)")
# markdown-it rewrites NUL and CR, and tabs are not spaces to it: left to the parser.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


def _plain_paragraphs(markup: str) -> list[list[list[tuple[str, bool]]]] | None:
    """The paragraphs of `markup`, each a list of lines of (text, is code) pieces, when it
    is plain paragraphs that need no Markdown parser; None otherwise."""
    if "\n\n\n" in markup or _CONTROL.search(markup):
        return None
    paragraphs = []
    for paragraph in markup.split("\n\n"):
        lines = []
        for line in paragraph.split("\n"):
            pieces: list[tuple[str, bool]] = []
            at = 0
            for span in _CODE_SPAN.finditer(line):
                pieces += [(line[at : span.start()], False), (span.group(1), True)]
                at = span.end()
            pieces.append((line[at:], False))
            prose = "".join("-" if code else text for text, code in pieces)
            if not _PLAIN_LINE.fullmatch(prose) or _LONE_UNDERSCORE.search(prose):
                return None
            lines.append([(text, code) for text, code in pieces if text])
        paragraphs.append(lines)
    return paragraphs


class HelpMarkdown:
    """`rich.markdown.Markdown` for Typer's help: plain paragraphs drawn here, the rest by
    rich. Like Markdown it has no `__rich_measure__`, so tables and columns lay it out alike."""

    def __init__(self, markup: str, style: str | Style = "none", **options: Any) -> None:
        self.markup = markup
        self.style = style
        self.options = options
        self.paragraphs = _plain_paragraphs(markup)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.paragraphs is None:
            from rich.markdown import Markdown

            yield from Markdown(self.markup, style=self.style, **self.options).__rich_console__(
                console, options
            )
            return
        yield from self._plain(console, options)

    def _plain(self, console: Console, options: ConsoleOptions) -> Iterator[Any]:
        # What Markdown.__rich_console__ does for these tokens: the paragraph's style on the
        # document's, code spans in `markdown.code` on top, a soft break as a space, each
        # token its own span, a blank line between paragraphs.
        from rich.segment import Segment
        from rich.text import Text

        prose = console.get_style(self.style, default="none") + console.get_style(
            "markdown.paragraph", default="none"
        )
        code = prose + console.get_style("markdown.code", default="none")
        options = options.update(height=None)
        for number, lines in enumerate(self.paragraphs or []):
            if number:
                yield Segment.line()
            text = Text(justify=self.options.get("justify") or "left")
            for index, pieces in enumerate(lines):
                if index:
                    text.append(" ", prose)
                for piece, is_code in pieces:
                    text.append(piece, code if is_code else prose)
            yield from console.render(text, options)


class _Traceback:
    """`rich.traceback.Traceback` for Typer's pretty exceptions (off in our app): rich's
    imported when one is made."""

    @staticmethod
    def from_exception(*args: Any, **kwargs: Any) -> Any:
        from rich.traceback import Traceback

        return Traceback.from_exception(*args, **kwargs)


def light_rich_utils() -> ModuleType:
    """`typer.rich_utils`, imported (once) without `rich.markdown` and `rich.traceback`.

    The stand-ins sit in `sys.modules` only while it is imported, so any later
    `import rich.markdown` gets the real module; when the real ones are already loaded
    they are used, but the help's Markdown is `HelpMarkdown` either way."""
    loaded = sys.modules.get("typer.rich_utils")
    if loaded is None:
        stand_ins = {
            "rich.markdown": _module("rich.markdown", Markdown=HelpMarkdown),
            "rich.traceback": _module("rich.traceback", Traceback=_Traceback),
        }
        seeded = [name for name in stand_ins if name not in sys.modules]
        for name in seeded:
            sys.modules[name] = stand_ins[name]
        try:
            loaded = importlib.import_module("typer.rich_utils")
        finally:
            for name in seeded:
                if sys.modules.get(name) is stand_ins[name]:
                    del sys.modules[name]
    loaded.Markdown = HelpMarkdown  # type: ignore[attr-defined]
    return loaded


def _module(name: str, **attributes: Any) -> ModuleType:
    module = ModuleType(name)
    module.__dict__.update(attributes)
    return module
