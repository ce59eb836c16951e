"""End to end through the Discord adapter: `/encounter start` → batched messages from two
players → a skill check → resolve → the thread archived and locked, the session archived in
the store. The engine runs with the scripted model, and the store is every backend of
tests/backends.py (SQLite, and Redis on a real redis-server)."""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
from pathlib import Path

from mardonar.channels.discord.posting import TAKEN
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply
from tests.backends import StoreFactory, store  # noqa: F401
from tests.discord_fakes import FakeDiscord, fake_api, open_table  # noqa: F401
from tests.engine_helpers import copy_content

ARIA, BRAM = 501, 502


def test_start_batch_roll_resolve_archive(
    tmp_path: Path, fake_api: FakeDiscord, store: StoreFactory
) -> None:
    llm = ScriptedLLM(
        [
            ScriptedReply(
                tool_calls=[("skill_check", {"player": str(ARIA), "check": "persuade-grukk"})]
            ),
            "Grukk scratches his helmet and names a smaller price.",
            ScriptedReply(
                tool_calls=[
                    ("resolve", {"outcome": "paid-toll", "summary": "The party haggled and paid."})
                ]
            ),
            "Coins clink into Grukk's helmet; the bridge sways as you cross.",
        ]
    )
    root = copy_content(tmp_path / "content")
    data = tmp_path / "data"

    async def scenario() -> None:
        async with open_table(fake_api, root, data, llm, store=store()) as table:
            await table.register(ARIA, "Aria Swiftwind", "rogue", 3)
            await table.register(BRAM, "Bram Ironfoot", "fighter", 3)
            thread_id = await table.start()
            session_id = table.bot.desk.running[thread_id].session.id

            first = await table.say(
                thread_id,
                (ARIA, "Surely a fine keeper like you could lower the toll for us?"),
                (BRAM, "I jingle my purse helpfully."),
            )
            assert len(llm.requests) == 2  # one turn: the check, then the narration
            roll, narration = table.discord.texts(thread_id)[-2:]
            assert roll.startswith("🎲 Aria Swiftwind — persuasion ") and "vs DC 14" in roll
            assert narration == "Grukk scratches his helmet and names a smaller price."

            second = await table.say(thread_id, (BRAM, "We pay him and cross."))
            for message in [*first, *second]:
                assert fake_api.reactions(message) == [TAKEN]
            shown = "\n".join(fake_api.texts(thread_id))
            assert "Coins clink into Grukk's helmet" in shown
            assert "The Goblin Toll Bridge — paid-toll (partial)" in shown
            assert "**Aria Swiftwind**: 40 XP" in shown and "**Bram Ironfoot**: 40 XP" in shown
            assert "Items: **Aria Swiftwind**: Grukk's Toll Receipt" in shown
            assert "Outcome: paid-toll (partial) after 2 turns" in shown  # the summary file

            meta = fake_api.threads[thread_id]["thread_metadata"]
            assert meta["archived"] is True and meta["locked"] is True
            desk = table.bot.desk
            stored = await desk.store.load_session(session_id)
            assert stored is not None and stored.status == "resolved"
            assert set(await desk.store.awards(session_id)) == {str(ARIA), str(BRAM)}
            assert await desk.find(thread_id) is None  # the thread no longer plays
            assert (data / "summaries" / f"{session_id}.txt").is_file()
            assert (data / "transcripts" / f"discord-{thread_id}.jsonl").is_file()

    asyncio.run(scenario())
