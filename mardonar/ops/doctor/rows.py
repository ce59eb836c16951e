"""A doctor row and the plumbing every section shares: `guarded` (a network check under its
time limit, a surprise as a ✗ row) and `scrub` (no secret leaves in a row)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import asdict, dataclass, replace
from typing import Literal

from mardonar.netreason import error_phrase

Status = Literal["ok", "fail", "warn", "skip"]

SYMBOLS: dict[str, str] = {"ok": "✓", "fail": "✗", "warn": "⚠", "skip": "–"}
"""How each status is printed in the table; `--format json` prints the word instead."""


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the report."""

    part: str
    """The part of the deployment: "LLM primary (LiteLLM)", "Storage", "Discord", ..."""
    check: str
    """What was checked: "reachable", "model", "PING", "token", ..."""
    status: Status
    """ok (✓), fail (✗), warn (⚠) or skip (– not configured, not needed)."""
    detail: str
    """What was found, in words; never a secret."""
    fix: str = ""
    """For a fail or a warning: what to do, naming the setting."""

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.status]

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def failed(rows: Iterable[Row], *, strict: bool = False) -> bool:
    """Whether doctor exits 1: any ✗, or with `strict` any ⚠ too."""
    bad = {"fail", "warn"} if strict else {"fail"}
    return any(row.status in bad for row in rows)


async def ready(rows: list[Row]) -> list[Row]:
    return rows


def not_configured(
    part: str, check: str, instead: str, status: Status = "ok"
) -> Awaitable[list[Row]]:
    """The row of a part left unset: Mardonar has something `instead`, so it is no failure."""
    return ready([Row(part, check, status, f"not configured: {instead}")])


async def guarded(
    check: Awaitable[list[Row]], *, part: str, name: str, timeout: float, limit: float, fix: str
) -> list[Row]:
    """Run a network check under `limit` seconds (its requests' `timeout`s, plus slack); a
    timeout or a surprise becomes a ✗ row rather than a crash, so one broken part never
    hides the others. A timeout is reported as the `timeout` the user gave (--timeout), the
    number they can act on."""
    try:
        return await asyncio.wait_for(check, limit)
    except TimeoutError:
        return [Row(part, name, "fail", f"no answer within {timeout:g} s", fix)]
    except Exception as error:  # a check must never take the whole report down
        return [Row(part, name, "fail", f"check failed: {error_phrase(error)}", fix)]


def scrub(rows: list[Row], secrets: list[str]) -> list[Row]:
    """The last line of defence: no row leaves with a secret in it, whatever produced it."""
    if not secrets:
        return rows

    def clean(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    return [
        replace(
            row,
            part=clean(row.part),
            check=clean(row.check),
            detail=clean(row.detail),
            fix=clean(row.fix),
        )
        for row in rows
    ]
