"""Help as click has always shown it: `SPEC` in the usage line, no type after a flag.

Typer (0.2x) writes the value type after every option, so a flag shows as
`--version <bool>` though it takes no value, and wraps a required argument in braces in the
usage line (`mardonar play [OPTIONS] {spec}`), where click and the docstrings say `SPEC`.
Typer has no setting for either, so the root group (`Typer(cls=ConventionalGroup)`) gives
the commands it is built with classes that show help the conventional way: a flag with no
type, an argument in the usage line as `NAME`, `[NAME]` when optional, `...` when it takes
several. Older Typer versions, which already show help that way, are unaffected.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


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


class _Command(TyperCommand):
    def get_help_option(self, ctx: Any) -> Any:
        # Made on first use, after the command was built: adjusted then.
        option = super().get_help_option(ctx)
        _conventional(option)
        return option


class ConventionalGroup(TyperGroup):
    """The root group: every command and group below it shows conventional help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _adjust(self)

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        _conventional(option)
        return option


def _adjust(command: Any) -> None:
    for param in command.params:
        _conventional(param)
    if type(command) is TyperCommand:
        command.__class__ = _Command
    elif type(command) is TyperGroup:
        command.__class__ = ConventionalGroup
    for sub in getattr(command, "commands", {}).values():
        _adjust(sub)
