"""URLs fit to print. A URL can carry a secret (a password, a token in the query), and
settings, start-up lines, errors and doctor rows all show URLs: they all go through here."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact_url(url: str) -> str:
    """`redis://:hunter2@host` → `redis://:***@host`: the password masked, the rest kept."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def shown_url(url: str) -> str:
    """A URL for a table or a start-up line: no user, password, query or fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))
