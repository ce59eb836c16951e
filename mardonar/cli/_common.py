"""Small pieces the command modules share."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import typer


class TextOrJson(StrEnum):
    """`--format` of commands whose report is a table or a JSON document."""

    text = "text"
    json = "json"


class ReportFormat(StrEnum):
    """`--format` of commands that report findings: also GitHub workflow annotations."""

    text = "text"
    json = "json"
    github = "github"


def targets_argument(help: str) -> Any:
    """The optional `PATH...` of lint, test and explore: none given means the current
    repository's own files, which `help` names."""
    return typer.Argument(None, help=help, show_default=False)


def format_option(default: StrEnum) -> Any:
    """`--format` of the commands whose report has one plain meaning per format."""
    return typer.Option(default, "--format", help="Output format.")
