"""Small pieces the command modules share."""

from __future__ import annotations

from enum import StrEnum


class TextOrJson(StrEnum):
    """`--format` of commands whose report is a table or a JSON document."""

    text = "text"
    json = "json"


class ReportFormat(StrEnum):
    """`--format` of commands that report findings: also GitHub workflow annotations."""

    text = "text"
    json = "json"
    github = "github"
