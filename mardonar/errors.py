"""Errors a user can cause, and how they reach the terminal.

Every mistake a user can make (a bad file, flag, setting or an unreachable server) is raised
as a `UserError` carrying one line that names the culprit and the fix. The CLI prints that
line and exits with the error's code; only `--debug` shows a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; `str(error)` is the one line shown to them."""

    exit_code: int = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(UserError):
    """A bad environment variable or `.env` entry (exit code 1)."""


class UsageError(UserError):
    """A bad argument or an input file that cannot be used (exit code 2)."""

    exit_code = 2
