"""The prompt a server's prefix cache can reuse (issue #14): each request extends the last.

A local server evaluates only what follows the longest prefix a request shares with the one
before; on 2 CPU cores that evaluation was the whole turn. These measure the share, as
bench/bench_prefix.py does (computed from what is sent, never timed).
"""

# ruff: noqa: F811

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mardonar.engine.context import SUMMARY_HEADING
from mardonar.llm import turnformat
from mardonar.llm.base import LLMRequest, Message
from mardonar.llm.scripted import ScriptedLLM
from tests.engine_helpers import REPO, bundle, open_table, run
from tests.llm_server import Reply, ScriptedServer, llm_server  # noqa: F401


def _bench() -> ModuleType:
    """bench/bench_prefix.py (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "bench_prefix", REPO / "bench" / "bench_prefix.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_nine_tenths_of_each_turns_request_is_the_last_one_again() -> None:
    bench = _bench()
    records = run(bench.record_session(REPO, turns=20))
    measured = bench.shares(records)
    summary = bench.summarize(measured)
    assert summary.turns == 19
    assert summary.mean >= 0.90, summary
    # The system message is the same every turn; a turn's tool rounds only append.
    systems = {r["body"]["messages"][0]["content"] for r in records}
    assert len(systems) == 1
    for before, after in itertools.pairwise(records):
        if before["turn"] == after["turn"]:
            assert bench.serialize(after["body"]).startswith(bench.serialize(before["body"]))
    # One fold of old turns in 20 turns (a block at once): the only turn re-read from the head.
    assert sum(1 for s in measured if s.first and s.tokens < 0.85) == 1


def _long_game(turns: int) -> Any:
    content = bundle()
    spec = content.spec
    limits = spec.limits.model_copy(update={"max_turns": turns + 5})
    return dataclasses.replace(content, spec=spec.model_copy(update={"limits": limits}))


def _play(tmp_path: Path, llm: ScriptedLLM, lines: list[tuple[str, str]], **kwargs: Any) -> None:
    async def go() -> None:
        table = await open_table(tmp_path, llm, **kwargs)
        try:
            for player, text in lines:
                await table.say(player, text)
        finally:
            await table.close()

    run(go())


def _tokens(request: LLMRequest) -> int:
    return sum(len(m.content) for m in request.messages) // 4


def _extends(before: LLMRequest, after: LLMRequest) -> bool:
    """`after` repeats `before` up to its turn message: the one message a new turn replaces
    (with the bare players' lines in the history), after which come the turn's own rounds."""
    turn = max(
        i
        for i, m in enumerate(before.messages)
        if m.role == "user" and not turnformat.is_correction(m.content)
    )
    return after.messages[:turn] == before.messages[:turn]


def test_a_history_over_the_budget_is_folded_in_blocks_not_slid(tmp_path: Path) -> None:
    """With a budget that holds only a few turns, the oldest are folded into the summary a
    block at a time: between folds every turn's request extends the last one. (Dropping the
    oldest message each turn re-read everything after the head, every turn.)"""
    budget = 3800
    reply = "Grukk taps his spear against the railing and squints at you. " * 6
    llm = ScriptedLLM([reply], repeat_last=True)
    lines = [
        ("aria", f"I ask Grukk about the weather on day {n} and hum a tune.") for n in range(30)
    ]
    _play(tmp_path, llm, lines, content=_long_game(30), context_budget=budget)
    requests = llm.requests
    assert all(_tokens(r) <= budget for r in requests)
    broken = [n for n in range(1, 30) if not _extends(requests[n - 1], requests[n])]
    assert len(broken) <= 6, broken
    # What was folded is in the summary (its newest lines), not lost: the turn just before
    # the first one the history keeps is its last line.
    summary, first_kept = requests[-1].messages[1].content.split("\n\n")
    assert summary.startswith(SUMMARY_HEADING)
    day = int(re.search(r"on day (\d+)", first_kept)[1])  # type: ignore[index]
    assert f"on day {day - 1} " in summary.splitlines()[-1]


def test_the_history_keeps_the_players_lines_and_the_context_is_sent_once(
    tmp_path: Path,
) -> None:
    """The turn's context (the state of play) is in its last message only; the history
    holds each turn's bare lines, so the next request repeats what came before. The
    correction round appends to the turn's request."""
    llm = ScriptedLLM(["As an AI, I cannot say.", "Grukk squints."], repeat_last=True)
    _play(tmp_path, llm, [("aria", "Hello Grukk."), ("aria", "Nice helmet.")])
    first, corrected, second = llm.requests
    assert corrected.messages[: len(first.messages)] == first.messages
    assert turnformat.is_correction(corrected.messages[-1].content)
    assert _extends(corrected, second)
    states = [m for m in second.messages if "## State: turn" in m.content]
    assert states == [second.messages[-1]]
    assert second.messages[-3] == Message("user", "[aria as Aria Swiftwind] Hello Grukk.")
    assert second.messages[-1].content.endswith("[aria as Aria Swiftwind] Nice helmet.")


def test_the_bench_reads_what_a_real_server_says_of_each_prompt(
    llm_server: ScriptedServer,
) -> None:
    """`bench_prefix.py --base-url` plays the session against a server through a recording
    proxy: what was sent, the server's `usage`, and llama.cpp's `timings` when it has them."""
    bench = _bench()
    llm_server.default = Reply("Grukk squints at you.", usage=(4321, 6))
    records = run(
        bench.record_session(REPO, turns=3, base_url=llm_server.base_url, model=llm_server.model)
    )
    assert sorted({r["turn"] for r in records}) == [1, 2, 3]  # with correction rounds
    assert [r["body"]["messages"] for r in records] == [
        r.body["messages"] for r in llm_server.chat_requests
    ]
    assert all(r["server"]["prompt_tokens"] == 4321 for r in records)
    measured = bench.shares(records)
    assert [s.server["prompt_tokens"] for s in measured] == [4321] * (len(records) - 1)
    # llama.cpp's last chunk says what it evaluated and what its cache served.
    seen: dict[str, Any] = {}
    last = {"choices": [], "timings": {"prompt_n": 212, "cache_n": 3580, "prompt_ms": 8480.5}}
    bench._note(b"data: " + json.dumps(last).encode(), seen)
    assert seen == {"prompt_n": 212, "cache_n": 3580, "prompt_ms": 8480.5}


def test_no_two_user_messages_in_a_row_however_short_the_budget(tmp_path: Path) -> None:
    """Several chat templates (llama.cpp's among them) refuse two user messages in a row:
    the summary joins the first message of the history, or the turn's own when a budget
    too short for even the newest turn leaves no history."""
    reply = "Grukk taps his spear against the railing and squints at you. " * 6
    llm = ScriptedLLM([reply], repeat_last=True)
    lines = [("aria", f"I ask Grukk about the weather on day {n}.") for n in range(12)]
    _play(tmp_path, llm, lines, content=_long_game(12), context_budget=2600)
    assert any(SUMMARY_HEADING in r.messages[-1].content for r in llm.requests)
    for request in llm.requests:
        roles = [m.role for m in request.messages]
        assert all(a != b or a != "user" for a, b in itertools.pairwise(roles)), roles
