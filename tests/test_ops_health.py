"""The health server over real HTTP on 127.0.0.1: what an orchestrator's probes see."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from mardonar.errors import ConfigError
from mardonar.ops.health import Check, HealthServer, named_checks
from mardonar.ops.logging import Redactor
from mardonar.ops.metrics import Metrics
from mardonar.ops.shutdown import InFlight
from tests.engine_helpers import run


async def get(server: HealthServer, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(f"http://127.0.0.1:{server.port}{path}")


def test_healthz_answers_200_while_the_process_runs() -> None:
    async def go() -> tuple[int, Any]:
        async with HealthServer(0, host="127.0.0.1") as server:
            assert server.port != 0
            response = await get(server, "/healthz")
            return response.status_code, response.json()

    assert run(go()) == (200, {"status": "ok"})


def test_the_health_server_listens_on_loopback_unless_told_otherwise() -> None:
    """It used to bind 0.0.0.0: /metrics (specs, session counts) open to the network."""

    async def go() -> list[str]:
        async with HealthServer(0) as server:
            assert server._runner is not None
            return [str(address[0]) for address in server._runner.addresses]

    assert run(go()) == ["127.0.0.1"]


def test_readyz_follows_the_checks_and_names_what_is_not_ready() -> None:
    state = {"gateway": False, "store": True}

    async def gateway() -> bool:
        return state["gateway"]

    async def store() -> bool:
        return state["store"]

    async def go() -> list[tuple[int, Any]]:
        seen = []
        checks = named_checks(gateway=gateway, store=store)
        async with HealthServer(0, host="127.0.0.1", ready=checks) as server:
            for gateway_up, store_up in ((False, True), (True, True), (True, False)):
                state["gateway"], state["store"] = gateway_up, store_up
                response = await get(server, "/readyz")
                seen.append((response.status_code, response.json()))
        return seen

    before, connected, store_down = run(go())
    assert before == (
        503,
        {
            "ready": False,
            "checks": {"gateway": "not ready", "store": "ready"},
            "not_ready": ["gateway"],
        },
    )
    assert connected == (
        200,
        {"ready": True, "checks": {"gateway": "ready", "store": "ready"}, "not_ready": []},
    )
    assert store_down[0] == 503 and store_down[1]["not_ready"] == ["store"]


def test_readyz_with_a_single_callback() -> None:
    flag = [False]

    async def ready() -> bool:
        return flag[0]

    async def go() -> list[int]:
        codes = []
        async with HealthServer(0, host="127.0.0.1", ready=ready) as server:
            codes.append((await get(server, "/readyz")).status_code)
            flag[0] = True
            codes.append((await get(server, "/readyz")).status_code)
        return codes

    assert run(go()) == [503, 200]


def test_a_check_that_fails_or_hangs_is_not_ready_and_its_error_is_masked() -> None:
    password = "s3cret-redis-pass"

    async def store() -> bool:
        raise ConnectionError(f"cannot reach redis://:{password}@redis:6379/0")

    async def hangs() -> bool:
        import asyncio

        await asyncio.sleep(3600)
        return True

    async def go() -> httpx.Response:
        checks = [Check("store", store), Check("graphmcp", hangs)]
        async with HealthServer(
            0, host="127.0.0.1", ready=checks, redact=Redactor([password]), check_timeout=0.2
        ) as server:
            return await get(server, "/readyz")

    response = run(go())
    assert response.status_code == 503
    body = response.json()
    assert body["not_ready"] == ["graphmcp", "store"]
    assert body["checks"]["graphmcp"] == "no answer within 0.2 s"
    assert body["checks"]["store"].startswith("error: ConnectionError: cannot reach redis://")
    assert password not in response.text


def test_readyz_turns_503_once_shutdown_begins() -> None:
    inflight = InFlight()

    async def go() -> list[Any]:
        async with HealthServer(
            0, host="127.0.0.1", ready=[Check("accepting turns", inflight.ready)]
        ) as server:
            before = (await get(server, "/readyz")).status_code
            inflight.stop_accepting()
            after = await get(server, "/readyz")
            return [before, after.status_code, after.json()["not_ready"]]

    assert run(go()) == [200, 503, ["accepting turns"]]


def test_metrics_are_served_in_prometheus_text_format() -> None:
    metrics = Metrics()
    metrics.set_active_sessions(3)

    async def go() -> httpx.Response:
        async with HealthServer(0, host="127.0.0.1", metrics=metrics) as server:
            return await get(server, "/metrics")

    response = run(go())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "mardonar_active_sessions 3.0" in response.text.splitlines()


def test_metrics_speak_openmetrics_to_a_scraper_that_asks_for_it() -> None:
    async def go() -> httpx.Response:
        async with (
            HealthServer(0, host="127.0.0.1", metrics=Metrics()) as server,
            httpx.AsyncClient(timeout=10) as client,
        ):
            return await client.get(
                f"http://127.0.0.1:{server.port}/metrics",
                headers={"Accept": "application/openmetrics-text; version=1.0.0"},
            )

    response = run(go())
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_a_port_in_use_is_one_line_naming_the_health_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def go() -> None:
            async with HealthServer(port, host="127.0.0.1"):
                pass  # pragma: no cover - the port is taken

        with pytest.raises(ConfigError) as caught:
            run(go())
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"--health-port {port}: the port is already in use")
    assert "choose another --health-port" in message
