"""Prometheus metrics of a running Mardonar, filled from engine events.

`Metrics` owns its own `CollectorRegistry` (never prometheus_client's global one), so two
bots in one process, or two tests, never share counts. Most metrics come from the engine's
events through `Metrics.subscriber()`, so every front end gets the same numbers; the two
that only a gateway knows (sessions open, gateway latency) have setters.

Turn latency is measured from the first `PlayerSaid` of a turn to its `Narration`, per
session (`publishing_for()` names the session whose turn published an event), so turns of
several threads played at once never mix up each other's start times.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from mardonar.engine.events import (
    Ended,
    EngineError,
    Event,
    ModelReplied,
    Narration,
    Notice,
    PlayerSaid,
    ToolResult,
)
from mardonar.engine.loop import publishing_for

# A turn is one or more model calls plus tools; a slow local model takes a minute or two.
TURN_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
LLM_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


class Metrics:
    """Every metric Mardonar exports, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.turns = Counter(
            "mardonar_turns", "Player turns the engine finished.", ["fallback"], registry=r
        )
        self.turn_latency = Histogram(
            "mardonar_turn_latency_seconds",
            "Seconds from a turn's first player line to its narration.",
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.llm_latency = Histogram(
            "mardonar_llm_latency_seconds",
            "Seconds one model call took, streaming included, by backend.",
            ["backend"],
            buckets=LLM_BUCKETS,
            registry=r,
        )
        self.llm_errors = Counter(
            "mardonar_llm_errors",
            "Model backend failures (a fallback taken, a backend set aside, or every backend "
            "down), by backend.",
            ["backend"],
            registry=r,
        )
        self.turn_errors = Counter(
            "mardonar_turn_errors",
            "Turns the session store refused (down, busy, or already played by another "
            "process); the player is asked to send the line again.",
            registry=r,
        )
        self.tool_calls = Counter(
            "mardonar_tool_calls", "Tool calls the model made, by tool.", ["tool"], registry=r
        )
        self.tool_refusals = Counter(
            "mardonar_tool_refusals",
            "Tool calls the engine refused (bad arguments, not allowed now), by tool.",
            ["tool"],
            registry=r,
        )
        self.encounters_ended = Counter(
            "mardonar_encounters_ended",
            "Encounters that ended, by reason (resolved, max_turns, ended_by_player).",
            ["reason"],
            registry=r,
        )
        self.active_sessions = Gauge(
            "mardonar_active_sessions", "Encounter sessions currently open.", registry=r
        )
        self.gateway_latency = Gauge(
            "mardonar_gateway_latency_seconds",
            "Discord gateway heartbeat latency in seconds (NaN before the first heartbeat).",
            registry=r,
        )
        self.gateway_latency.set(float("nan"))

    # ------------------------------------------------------------------ from the engine

    def subscriber(self, backend: Callable[[], str] | None = None) -> Callable[[Event], None]:
        """A subscriber for `Engine(subscribers=[...])` that fills the metrics.

        `backend` names the model backend a failure belongs to (give `lambda: engine.llm.name`);
        without it a failure counts against the last backend that answered.
        """
        last_model = ["unknown"]
        # session id → (turn, start, still reading the turn's player lines). A PlayerSaid
        # after other events of the same turn is a new attempt (a turn re-run after a
        # failure), timed afresh.
        timing: dict[str, tuple[int, float, bool]] = {}

        def failing_backend() -> str:
            return backend() if backend is not None else last_model[0]

        def observe(event: Event) -> None:
            session = publishing_for()
            key = session.id if session is not None else ""
            started = timing.get(key)
            if isinstance(event, PlayerSaid):
                if started is None or started[0] != event.turn or not started[2]:
                    timing[key] = (event.turn, time.perf_counter(), True)
                return
            if started is not None and started[2]:
                timing[key] = (started[0], started[1], False)
            if isinstance(event, ModelReplied):
                last_model[0] = event.model
                self.llm_latency.labels(backend=event.model).observe(event.latency_ms / 1000)
            elif isinstance(event, ToolResult):
                self.tool_calls.labels(tool=event.name).inc()
                if not event.ok:
                    self.tool_refusals.labels(tool=event.name).inc()
            elif isinstance(event, EngineError):
                if event.source == "model":
                    self.llm_errors.labels(backend=failing_backend()).inc()
                else:
                    self.turn_errors.inc()
                    timing.pop(key, None)
            elif isinstance(event, Notice) and event.data.get("record"):
                # The engine marks backend notes this way: a backend failed and the chain
                # moved on to the next one.
                self.llm_errors.labels(backend=failing_backend()).inc()
            elif isinstance(event, Narration) and event.turn > 0:
                self.turns.labels(fallback="true" if event.fallback else "false").inc()
                if started is not None and started[0] == event.turn:
                    self.turn_latency.observe(time.perf_counter() - started[1])
                    del timing[key]
            elif isinstance(event, Ended):
                self.encounters_ended.labels(reason=event.reason).inc()

        return observe

    # ------------------------------------------------------------------ from the gateway

    def set_active_sessions(self, count: int) -> None:
        self.active_sessions.set(count)

    def set_gateway_latency(self, seconds: float) -> None:
        """discord.py's `bot.latency` (seconds; NaN or inf until the first heartbeat)."""
        self.gateway_latency.set(seconds)

    # ------------------------------------------------------------------ exposition

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The registry as `/metrics` serves it, and its Content-Type: the format the scraper
        asks for in its Accept header (OpenMetrics or Prometheus text; text by default)."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
