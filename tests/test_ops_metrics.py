"""Metrics filled from real engine turns and read back from /metrics over real HTTP.

The values are parsed with prometheus_client's own text parser, as a Prometheus server
would read them.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mardonar.llm.base import LLMUnavailable
from mardonar.llm.chain import FallbackChain
from mardonar.llm.offline import OfflineNarrator
from mardonar.llm.scripted import FailingLLM, ScriptedLLM, ScriptedReply
from mardonar.ops.health import HealthServer
from mardonar.ops.metrics import Metrics
from tests.engine_helpers import bundle, open_table, run

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """`{(sample name, sorted labels): value}` from Prometheus text format."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(metrics: Metrics) -> Samples:
    async with (
        HealthServer(0, host="127.0.0.1", metrics=metrics) as server,
        httpx.AsyncClient(timeout=10) as client,
    ):
        response = await client.get(f"http://127.0.0.1:{server.port}/metrics")
    assert response.status_code == 200
    return parse(response.text)


def test_a_real_offline_encounter_fills_turns_latency_tools_and_endings(tmp_path: Path) -> None:
    metrics = Metrics()

    async def go() -> Samples:
        content = bundle()
        table = await open_table(tmp_path, OfflineNarrator(content, 1), content=content)
        table.engine.subscribers.append(metrics.subscriber(lambda: table.engine.llm.name))
        try:
            await table.say("aria", "I try to sneak past the goblin quietly.")
            await table.say("aria", "I pay the toll.")  # the offline narrator resolves here
        finally:
            await table.close()
        return await scrape(metrics)

    samples = run(go())
    assert samples[("mardonar_turns_total", (("fallback", "false"),))] == 2
    assert samples[("mardonar_turn_latency_seconds_count", ())] == 2
    assert samples[("mardonar_turn_latency_seconds_sum", ())] > 0
    assert samples[("mardonar_llm_latency_seconds_count", (("backend", "offline"),))] >= 2
    assert samples[("mardonar_tool_calls_total", (("tool", "resolve"),))] == 1
    assert ("mardonar_tool_refusals_total", (("tool", "resolve"),)) not in samples
    assert samples[("mardonar_encounters_ended_total", (("reason", "resolved"),))] == 1
    assert not any(name == "mardonar_llm_errors_total" for name, _ in samples)


def test_refusals_and_backend_errors_are_counted_by_tool_and_backend(tmp_path: Path) -> None:
    metrics = Metrics()
    primary = FailingLLM(LLMUnavailable("primary: connection refused"), name="litellm:gpt")
    fallback = ScriptedLLM(
        [
            ScriptedReply(tool_calls=[("skill_check", "{not json")]),
            "Grukk squints at the broken request and waits.",
        ],
        name="ollama:llama3.1",
    )
    chain = FallbackChain([primary, fallback], cooldown=3600)

    async def go() -> Samples:
        table = await open_table(tmp_path, chain)
        table.engine.subscribers.append(metrics.subscriber(lambda: table.engine.llm.name))
        try:
            await table.say("aria", "I try to sneak past.")
        finally:
            await table.close()
        return await scrape(metrics)

    samples = run(go())
    assert samples[("mardonar_tool_calls_total", (("tool", "skill_check"),))] == 1
    assert samples[("mardonar_tool_refusals_total", (("tool", "skill_check"),))] == 1
    assert samples[("mardonar_llm_errors_total", (("backend", "litellm:gpt"),))] == 1
    assert samples[("mardonar_llm_latency_seconds_count", (("backend", "ollama:llama3.1"),))] == 2
    assert samples[("mardonar_turns_total", (("fallback", "false"),))] == 1


def test_a_turn_with_every_backend_down_counts_as_a_fallback_turn(tmp_path: Path) -> None:
    metrics = Metrics()

    async def go() -> Samples:
        table = await open_table(tmp_path, FailingLLM("down", name="litellm:gpt"))
        table.engine.subscribers.append(metrics.subscriber())
        try:
            await table.say("aria", "Hello?")
        finally:
            await table.close()
        return await scrape(metrics)

    samples = run(go())
    assert samples[("mardonar_turns_total", (("fallback", "true"),))] == 1
    # No backend ever answered and none was named: the failure is still counted.
    assert samples[("mardonar_llm_errors_total", (("backend", "unknown"),))] == 1


def test_a_turn_the_store_refuses_is_a_turn_error_not_a_model_error(tmp_path: Path) -> None:
    metrics = Metrics()

    async def go() -> tuple[Samples, list[str]]:
        content = bundle()
        table = await open_table(tmp_path, OfflineNarrator(content, 1), content=content)
        table.engine.subscribers.append(metrics.subscriber(lambda: table.engine.llm.name))
        # What a second process holds: the session as it was before this process's turn.
        elsewhere = table.session.model_copy(deep=True)
        try:
            await table.say("aria", "I look around the bridge.")
            refused = [e async for e in table.engine.run_turn(elsewhere, [("bram", "I wave.")])]
        finally:
            await table.close()
        return await scrape(metrics), [getattr(e, "message", "") for e in refused]

    samples, messages = run(go())
    assert any("another process already played turn 1" in m for m in messages)
    assert samples[("mardonar_turn_errors_total", ())] == 1
    assert samples[("mardonar_turns_total", (("fallback", "false"),))] == 1
    assert not any(name == "mardonar_llm_errors_total" for name, _ in samples)


def test_concurrent_turns_in_separate_tasks_each_get_their_own_latency(tmp_path: Path) -> None:
    metrics = Metrics()

    async def go() -> Samples:
        content = bundle()
        tables = [
            await open_table(tmp_path / str(i), OfflineNarrator(content, i), content=content)
            for i in range(2)
        ]
        for table in tables:
            table.engine.subscribers.append(metrics.subscriber())
        try:
            await asyncio.gather(*(t.say("aria", "I look around the bridge.") for t in tables))
        finally:
            for table in tables:
                await table.close()
        return await scrape(metrics)

    samples = run(go())
    assert samples[("mardonar_turns_total", (("fallback", "false"),))] == 2
    assert samples[("mardonar_turn_latency_seconds_count", ())] == 2


def test_gateway_setters_and_registries_that_never_share() -> None:
    first, second = Metrics(), Metrics()
    first.set_active_sessions(2)
    first.set_gateway_latency(0.042)

    one, other = run(scrape(first)), run(scrape(second))
    assert one[("mardonar_active_sessions", ())] == 2
    assert one[("mardonar_gateway_latency_seconds", ())] == 0.042
    assert other[("mardonar_active_sessions", ())] == 0
    assert math.isnan(other[("mardonar_gateway_latency_seconds", ())])
