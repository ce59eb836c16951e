"""The bot's hooks for operations, over real HTTP: /readyz asks the bot (gateway connected,
store reachable) and /metrics counts its encounters and turns."""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from mardonar.llm.scripted import ScriptedLLM
from mardonar.ops.health import HealthServer, named_checks
from mardonar.ops.metrics import Metrics
from tests.discord_fakes import FakeDiscord, fake_api, open_table  # noqa: F401
from tests.engine_helpers import copy_content

ARIA = 501


def test_readyz_and_metrics_follow_the_bot(tmp_path: Path, fake_api: FakeDiscord) -> None:
    metrics = Metrics()
    llm = ScriptedLLM(["Grukk nods."], repeat_last=True)

    async def scenario() -> None:
        root = copy_content(tmp_path / "content")
        async with open_table(fake_api, root, tmp_path / "data", llm, metrics=metrics) as table:
            bot = table.bot
            checks = named_checks(gateway=bot.gateway_ready, store=bot.store_reachable)
            async with HealthServer(0, ready=checks, metrics=metrics, host="127.0.0.1") as health:
                base = f"http://127.0.0.1:{health.port}"
                # One connection per request: an idle keep-alive connection is a server task
                # that would keep `settle` waiting.
                connector = aiohttp.TCPConnector(force_close=True)
                async with aiohttp.ClientSession(connector=connector) as http:
                    async with http.get(f"{base}/readyz") as response:
                        body = await response.json()
                    # Logged in over REST but never connected to the gateway: not ready.
                    assert response.status == 503
                    assert body["checks"] == {"gateway": "not ready", "store": "ready"}
                    assert await bot.is_ready_for_traffic() is False

                    await table.register(ARIA, "Aria Swiftwind")
                    thread_id = await table.start()
                    await table.say(thread_id, (ARIA, "Hello, Grukk."))
                    async with http.get(f"{base}/metrics") as response:
                        exposition = await response.text()
                    assert "mardonar_active_sessions 1.0" in exposition
                    assert 'mardonar_turns_total{fallback="false"} 1.0' in exposition

                    table.gateway.command(thread_id, ARIA, "encounter", "end")
                    await table.settle()
                    async with http.get(f"{base}/metrics") as response:
                        exposition = await response.text()
                    assert "mardonar_active_sessions 0.0" in exposition
                    assert 'mardonar_encounters_ended_total{reason="ended_by_player"} 1.0' in (
                        exposition
                    )

    asyncio.run(scenario())
