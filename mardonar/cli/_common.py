"""Small pieces the command modules share."""

from __future__ import annotations

from enum import StrEnum

from mardonar.errors import UsageError


class TextOrJson(StrEnum):
    """`--format` of commands whose report is a table or a JSON document."""

    text = "text"
    json = "json"


class ReportFormat(StrEnum):
    """`--format` of commands that report findings: also GitHub workflow annotations."""

    text = "text"
    json = "json"
    github = "github"


def not_built_yet(command: str, issue: int) -> None:
    """Commands that a later issue builds say so in one line and exit 2 until then."""
    raise UsageError(f"`mardonar {command}` is not built yet (planned in issue #{issue})")
