"""Engine overhead per turn with the offline narrator, and prompt size over a long session.

Runs a 200-turn session of goblin-toll-bridge (max_turns raised so it never ends) against
the real SQLite store and memory in a temp folder, timing each `run_turn` end to end:
context building, the offline narrator, tools, reply checks and two atomic session writes.
Reports median and p99 per turn, and the prompt tokens at turn 10 vs turn 200.

    python bench/bench_engine.py [--turns 200] [--repeat 3] [--backend offline|loopback]

`--backend loopback` puts the OpenAI-compatible backend between the engine and the same
narrator: a scripted server on 127.0.0.1 (tests/llm_server.py) answers every request at once
with the offline narrator's reply, streamed as SSE, so the numbers are the engine plus the
real HTTP path (openai SDK, httpx, JSON, SSE parsing) and nothing of a model's own time.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mardonar.content.bundle import Bundle, load_bundle  # noqa: E402
from mardonar.engine.loop import Engine  # noqa: E402
from mardonar.llm.offline import OfflineNarrator  # noqa: E402
from mardonar.memory.sqlite import SqliteMemory  # noqa: E402
from mardonar.store.sqlite import SqliteStore  # noqa: E402

# A mix that exercises every path: small talk (NPC narration), checks, refusals of
# repeated checks, lore keywords, and a roll; never an outcome keyword, so it never ends.
LINES = [
    ("aria", "Hello Grukk, nice helmet. How is the weather on the bridge today?"),
    ("bram", "I threaten Grukk with my axe until he moves."),
    ("cyra", "Grukk, what's wrong? You look nervous."),
    ("aria", "Tell me about the goblins who built this bridge."),
    ("bram", "I look down into the gorge and listen to the snoring troll."),
    ("cyra", "Let's bargain, Grukk. Five silver each is robbery."),
    ("aria", "I bluff: we are the Duke's bridge inspectors."),
    ("bram", "I lean on the railing and wait."),
]


def endless_bundle(turns: int, root: Path = REPO) -> Bundle:
    """goblin-toll-bridge that lasts past `turns`: max_turns raised, and no check leads to
    an outcome (without leads_to a successful check never ends the session)."""
    content = load_bundle("goblin-toll-bridge", cwd=root)
    spec = content.spec
    return dataclasses.replace(
        content,
        spec=spec.model_copy(
            update={
                "limits": spec.limits.model_copy(update={"max_turns": turns + 10}),
                "checks": [
                    c.model_copy(update={"leads_to": None, "failure_leads_to": None})
                    for c in spec.checks
                ],
            }
        ),
    )


async def one_session(turns: int, backend: str = "offline") -> tuple[list[float], dict[int, int]]:
    endless = endless_bundle(turns)
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        narrator = OfflineNarrator(endless, 7)
        server = None
        llm: Any = narrator
        if backend == "loopback":
            from mardonar.llm.openai_compat import OpenAICompatLLM
            from tests.llm_server import ScriptedServer, serve_llm

            server = ScriptedServer().start()
            server.default = serve_llm(narrator)
            llm = OpenAICompatLLM(base_url=server.base_url, model=server.model)
        engine = Engine(
            endless,
            llm=llm,
            store=SqliteStore(data / "mardonar.db"),
            memory=SqliteMemory(data / "mardonar.db"),
            data_dir=data,
        )
        session = await engine.start(seed=7, transcript=data / "t.jsonl")
        times: list[float] = []
        prompt: dict[int, int] = {}
        for turn in range(1, turns + 1):
            player, text = LINES[(turn - 1) % len(LINES)]
            started = time.perf_counter()
            async for _ in engine.run_turn(session, [(player, f"{text} ({turn})")]):
                pass
            times.append((time.perf_counter() - started) * 1000)
            if turn in (10, turns):
                prompt[turn] = sum(engine.last_built.breakdown().values())
        await engine.memory.close()
        await engine.store.close()
        if server is not None:
            await llm.aclose()
            server.stop()
        return times, prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("offline", "loopback"), default="offline")
    args = parser.parse_args()
    medians, p99s = [], []
    prompt: dict[int, int] = {}
    for _ in range(args.repeat):
        times, prompt = asyncio.run(one_session(args.turns, args.backend))
        ordered = sorted(times)
        medians.append(statistics.median(ordered))
        p99s.append(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))])
    print(f"backend: {args.backend}, turns per session: {args.turns}, sessions: {args.repeat}")
    runs = ", ".join(f"{m:.2f}" for m in medians)
    print(f"per-turn median: {statistics.median(medians):.2f} ms (runs: {runs})")
    runs = ", ".join(f"{p:.2f}" for p in p99s)
    print(f"per-turn p99:    {statistics.median(p99s):.2f} ms (runs: {runs})")
    first, last = prompt.get(10, 0), prompt.get(args.turns, 0)
    ratio = last / first if first else float("nan")
    print(f"prompt tokens: turn 10 = {first}, turn {args.turns} = {last} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
