"""The content row: lint of the Mardonar repository the current directory is in."""

from __future__ import annotations

from pathlib import Path

from mardonar.ops.doctor.rows import Row


def content_rows(cwd: Path) -> list[Row]:
    """Lint the repository the current directory is in, if it is in one."""
    from mardonar.content.repo import find_root

    root = find_root(cwd)
    if root is None:
        return [
            Row(
                "Content",
                "lint",
                "skip",
                "not in a Mardonar repository (no persona.yaml here or above)",
            )
        ]
    from mardonar.content.lint.runner import default_paths, run_lint
    from mardonar.errors import UserError

    try:
        report = run_lint(default_paths(root))
    except UserError as error:
        return [Row("Content", "lint", "fail", f"{root}: {error}", "run `mardonar lint`")]
    where = "" if root == cwd.resolve() else f" in {root}"
    counts = (
        f"{report.files} file(s){where}: {report.errors} error(s), {report.warnings} warning(s)"
    )
    if report.errors:
        return [Row("Content", "lint", "fail", counts, "run `mardonar lint` and fix the errors")]
    if report.warnings:
        return [Row("Content", "lint", "warn", counts, "run `mardonar lint` to see them")]
    return [Row("Content", "lint", "ok", counts)]
