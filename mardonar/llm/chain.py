"""The fallback chain: the primary backend, then the fallback, then give up for this turn.

Each backend retries once by itself (see openai_compat); the chain moves on when one is
unavailable, withdraws whatever a backend streamed before failing (a `Restart`), and sets a
misconfigured backend aside for the session, saying so once. When every backend fails the
turn gets the persona's fallback line (the loop's job) and the next turn starts again from
the primary, so play continues as soon as a backend returns.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

from mardonar.llm.base import (
    LLM,
    BackendNote,
    Chunk,
    ContextWindow,
    LLMConfigError,
    LLMError,
    LLMRequest,
    LLMUnavailable,
    ReportsWindow,
    Restart,
)


class FallbackChain:
    """An LLM made of several, tried in order."""

    def __init__(self, backends: Sequence[LLM], *, cooldown: float = 30.0) -> None:
        if not backends:
            raise ValueError("a fallback chain needs at least one backend")
        self.backends = list(backends)
        self.cooldown = cooldown
        self.active = 0
        self.disabled: dict[int, str] = {}
        self._down_until: dict[int, float] = {}

    async def aclose(self) -> None:
        for backend in self.backends:
            await backend.aclose()

    @property
    def name(self) -> str:
        return self.backends[self.active].name

    async def context_window(self) -> ContextWindow | None:
        """The smallest window any backend reports: the context is built before anyone
        knows which backend will answer, so it must fit the fallback too. Backends that
        report none do not count."""
        found = [
            window
            for backend in self.backends
            if isinstance(backend, ReportsWindow)
            and (window := await backend.context_window()) is not None
        ]
        return min(found, key=lambda window: window.tokens) if found else None

    def _order(self) -> list[int]:
        """Backends to try: usable ones first; ones that just failed only as a last resort,
        so a dead primary costs one timeout per `cooldown`, not one per turn."""
        now = time.monotonic()
        usable = [i for i in range(len(self.backends)) if i not in self.disabled]
        fresh = [i for i in usable if self._down_until.get(i, 0.0) <= now]
        return fresh + [i for i in usable if i not in fresh]

    async def stream(self, request: LLMRequest) -> AsyncIterator[Chunk]:
        failures: list[str] = []
        order = self._order()
        for position, index in enumerate(order):
            backend = self.backends[index]
            streamed = False
            try:
                async for chunk in backend.stream(request):
                    streamed = True
                    yield chunk
            except LLMConfigError as error:
                self.disabled[index] = str(error)
                failures.append(f"{backend.name}: {error}")
                yield BackendNote(
                    f"{backend.name} is set aside for this session: {error}", error=True
                )
                if streamed:
                    yield Restart(reason=str(error))
                continue
            except LLMError as error:  # unavailable, or a backend that only knows LLMError
                self._down_until[index] = time.monotonic() + self.cooldown
                failures.append(str(error))
                if streamed or getattr(error, "partial", False):
                    yield Restart(reason=str(error))
                if position + 1 < len(order):
                    following = self.backends[order[position + 1]].name
                    yield BackendNote(f"{error}; trying {following}")
                continue
            if index != self.active:
                self.active = index
            self._down_until.pop(index, None)
            return
        if not order:
            failures = list(self.disabled.values())
        raise LLMUnavailable("every model backend failed: " + " | ".join(failures))
