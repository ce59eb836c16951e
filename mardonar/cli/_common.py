"""Small pieces the command modules share."""

from __future__ import annotations

from mardonar.errors import UsageError


def not_built_yet(command: str, issue: int) -> None:
    """Commands that a later issue builds say so in one line and exit 2 until then."""
    raise UsageError(f"`mardonar {command}` is not built yet (planned in issue #{issue})")
