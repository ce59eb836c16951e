"""Why a connection failed, in the words an operator searches for.

Client libraries wrap the socket error several layers deep (httpx, httpx2, redis-py, the
mcp client) and word it in their own terms ("Error 111 connecting to h:p", "ConnectError").
Doctor, the Foundry relay, GraphMCP memory and the Discord start-up all say instead what the
OSError underneath says: "connection refused", "unknown host (the name does not resolve)",
"host unreachable". One home, so the wording is the same wherever an operator reads it.
"""

from __future__ import annotations

import errno
import socket

from mardonar.wording import one_line

REFUSED = "connection refused"
UNKNOWN_HOST = "unknown host (the name does not resolve)"
UNREACHABLE = "host unreachable"


def os_reason(error: BaseException) -> str | None:
    """The OS-level reason under `error`'s chain of causes, or None when there is none."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return UNKNOWN_HOST
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return REFUSED
        if isinstance(cause, OSError) and cause.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return UNREACHABLE
        cause = cause.__cause__ or cause.__context__
    return None


def connect_reason(error: BaseException) -> str:
    """The OS-level reason under `error`, else its own message as a short phrase."""
    return os_reason(error) or error_phrase(error)


def error_phrase(error: BaseException, most: int = 160) -> str:
    """An exception as a short phrase: its message on one line (cut to `most` characters),
    or its type when it has none."""
    return one_line(str(error), most, trim=True) or type(error).__name__
