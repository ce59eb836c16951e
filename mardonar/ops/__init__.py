"""Operations: health endpoints, Prometheus metrics, JSON logs and graceful shutdown.

Front-end neutral pieces a long-running server plugs together; operators' view in
docs/operations.md. Import the submodules directly (aiohttp and prometheus_client load
only when `health` and `metrics` are imported, never for `mardonar --help`).

How the bot uses this (`mardonar serve discord`)::

    from mardonar.ops.health import HealthServer, named_checks
    from mardonar.ops.logging import configure_logging_from, log_context, Redactor
    from mardonar.ops.metrics import Metrics
    from mardonar.ops.shutdown import GracefulShutdown, InFlight, ShuttingDown

    configure_logging_from(settings)           # JSON lines on stderr, LOG_LEVEL, secrets masked
    metrics = Metrics()                        # its own registry
    engine = Engine(..., subscribers=[metrics.subscriber(backend=lambda: engine.llm.name)])
    inflight = InFlight()

    async def gateway() -> bool: return bot.is_ready() and not bot.is_closed()
    async def store() -> bool: ...             # e.g. a Redis PING / a SQLite query
    checks = named_checks(gateway=gateway, store=store, accepting=inflight.ready)

    async with GracefulShutdown(inflight, grace=45, on_stop=bot.close):   # SIGTERM/SIGINT
        if health_port is not None:            # --health-port; ConfigError if the port is taken
            async with HealthServer(health_port, ready=checks, metrics=metrics,
                                    redact=Redactor(settings.secrets())):
                await bot.start(token)         # bot.start, not bot.run: logging is ours
        else:
            await bot.start(token)

    # each turn:
    with log_context(guild=..., thread=..., encounter=session.id, turn=session.turn + 1):
        async with inflight.turn():            # raises ShuttingDown once shutdown began
            events = [e async for e in engine.run_turn(session, lines)]

    # now and then (e.g. a 30 s task loop):
    metrics.set_active_sessions(count)
    metrics.set_gateway_latency(bot.latency)   # seconds

Per-call log fields: `log.info("...", extra={"latency_ms": 812.0, "error": "..."})` (the
Discord thread as `extra={"discord_thread": id}`, since logging reserves `thread`).
"""
