"""Lint output formats (CONTRACT.md §11).

A message can quote a YAML value, and a path is whatever the file is called: text and
GitHub output write them with `visible()` (a control character shows as `\\x1b`, which the
author can find in the file) and JSON with `json_safe()`, so a report printed to a terminal
or a CI log never carries an escape sequence out of the content.
"""

from __future__ import annotations

import json

from mardonar.content.lint.runner import LintReport
from mardonar.safetext import json_safe, visible
from mardonar.wording import plural


def summary_line(report: LintReport) -> str:
    return (
        f"{plural(report.errors, 'error')}, {plural(report.warnings, 'warning')} "
        f"in {plural(report.files, 'file')}"
    )


def render_text(report: LintReport) -> str:
    lines = [
        f"{f.path}:{f.line}:{f.col}: {f.severity}[{f.code}] {f.message}" for f in report.findings
    ]
    lines.append(summary_line(report))
    return visible("\n".join(lines))


def render_json(report: LintReport) -> str:
    return json_safe(
        json.dumps([f.to_dict() for f in report.findings], indent=2, ensure_ascii=False)
    )


def _escape(text: str, *, property_value: bool = False) -> str:
    # GitHub workflow-command escaping: %, CR and LF always; also : and , in properties.
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    text = visible(text)  # the other controls, written as the text format writes them
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def render_github(report: LintReport) -> str:
    lines = [
        f"::{f.severity} file={_escape(f.path, property_value=True)},line={f.line},col={f.col},"
        f"title={f.code}::{_escape(f.message)}"
        for f in report.findings
    ]
    lines.append(summary_line(report))
    return "\n".join(lines)
