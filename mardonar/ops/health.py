"""The health server behind `--health-port`: `/healthz`, `/readyz` and `/metrics`.

* `/healthz` answers 200 while the process (and its event loop) is alive: a container
  orchestrator restarts the bot when it stops answering.
* `/readyz` runs the readiness checks (gateway connected, store reachable, not shutting
  down...) and answers 200, or 503 with a JSON body naming each check that is not ready.
* `/metrics` is the `Metrics` registry in Prometheus text format.

It is an aiohttp application (aiohttp comes with discord.py), run on the bot's own event
loop as an async context manager.
"""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from aiohttp import web

from mardonar.errors import ConfigError

if TYPE_CHECKING:
    from mardonar.ops.metrics import Metrics

Probe = Callable[[], Awaitable[bool]]
"""An async check: True when its part is ready."""

CHECK_TIMEOUT = 2.0
"""Seconds one readiness check may take before it counts as not ready; orchestrators
usually give the whole probe a few seconds, and a hung Redis must not hang /readyz."""


@dataclass(frozen=True)
class Check:
    """One named readiness check; `/readyz` names the ones that are not ready."""

    name: str
    probe: Probe


Readiness = Probe | Sequence[Check]


class HealthServer:
    """`async with HealthServer(port, ready=..., metrics=...) as server:` serves until the
    block ends. Port 0 picks a free port (tests); the one bound is `server.port`."""

    def __init__(
        self,
        port: int,
        *,
        ready: Readiness | None = None,
        metrics: Metrics | None = None,
        host: str = "127.0.0.1",
        redact: Callable[[str], str] = lambda text: text,
        check_timeout: float = CHECK_TIMEOUT,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port = port
        self.metrics = metrics
        self.checks = _as_checks(ready)
        self._redact = redact
        self.check_timeout = check_timeout
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)  # probes every few seconds: no log noise
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.requested_port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise ConfigError(_bind_failure(self.host, self.requested_port, error)) from None
        self._runner = runner
        if runner.addresses:
            self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> HealthServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ handlers

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, request: web.Request) -> web.Response:
        results = await asyncio.gather(*(self._run(check) for check in self.checks))
        states = {check.name: state for check, state in zip(self.checks, results, strict=True)}
        not_ready = {name: state for name, state in states.items() if state != "ready"}
        body = {"ready": not not_ready, "checks": states, "not_ready": sorted(not_ready)}
        return web.json_response(
            body, status=503 if not_ready else 200, dumps=lambda o: json.dumps(o, sort_keys=True)
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.metrics is None:
            return web.Response(status=404, text="metrics are not enabled\n")
        body, content_type = self.metrics.render(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _run(self, check: Check) -> str:
        """`ready`, `not ready`, or why the check itself failed (secrets masked)."""
        try:
            ok = await asyncio.wait_for(check.probe(), self.check_timeout)
        except TimeoutError:
            return f"no answer within {self.check_timeout:g} s"
        except Exception as error:  # a probe that raises is a part that is not ready
            return self._redact(f"error: {type(error).__name__}: {error}")
        return "ready" if ok else "not ready"


def _as_checks(ready: Readiness | None) -> list[Check]:
    if ready is None:
        return []
    if callable(ready):
        return [Check("ready", ready)]
    checks = list(ready)
    names = [check.name for check in checks]
    if len(set(names)) != len(names):
        raise ValueError(f"readiness check names repeat: {names}")
    return checks


def _bind_failure(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"--health-port {port}: the port is already in use on {host}: "
            "stop what listens there or choose another --health-port"
        )
    if error.errno == errno.EACCES:
        return (
            f"--health-port {port}: not allowed to listen on that port: "
            "choose a port above 1023 for --health-port"
        )
    reason = error.strerror or str(error)
    return f"--health-port {port}: cannot listen on {host}:{port} ({reason}): fix --health-port"


def named_checks(**probes: Probe) -> list[Check]:
    """`named_checks(gateway=..., store=...)` → checks in that order."""
    return [Check(name, probe) for name, probe in probes.items()]
