"""The Discord bot as players and operators meet it: slash commands and thread messages arrive
through discord.py's own gateway parsers, and everything the bot does goes over real HTTP to
a fake Discord (tests/discord_fakes.py). Assertions are on what Discord was asked to show."""

# ruff: noqa: F811
from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from mardonar.channels.discord.access import CHANNEL_DENIED, USER_DENIED, AccessPolicy
from mardonar.channels.discord.cogs.encounter import NOT_A_THREAD
from mardonar.channels.discord.posting import NOT_ALLOWED, NOT_SEATED, SLOW_DOWN, TAKEN
from mardonar.channels.discord.user_errors import NO_PERMISSION, UNEXPECTED
from mardonar.llm.scripted import ScriptedLLM, ScriptedReply
from mardonar.llm.turnformat import PlayerLine
from mardonar.store.sqlite import SqliteStore
from tests.discord_fakes import (
    OTHER_CHANNEL,
    PLAY_CHANNEL,
    FakeDiscord,
    fake_api,  # noqa: F401
    open_table,
    settle,
)
from tests.engine_helpers import copy_content

EPHEMERAL = 64
ARIA, BRAM, STRANGER = 501, 502, 777


def quiet_llm(*replies: str | ScriptedReply) -> ScriptedLLM:
    return ScriptedLLM(list(replies) or ["Grukk squints at you."], repeat_last=True)


def paths(tmp_path: Path) -> tuple[Path, Path]:
    return copy_content(tmp_path / "content"), tmp_path / "data"


def ephemeral_text(api: FakeDiscord, interaction_id: int) -> str:
    (reply,) = api.interaction_replies(interaction_id)
    assert reply["type"] == 4
    assert reply["data"]["flags"] & EPHEMERAL, "the reason is shown to the caller only"
    return str(reply["data"]["content"])


# ---------------------------------------------------------------- /encounter start


def test_start_creates_a_public_thread_and_posts_the_opening(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), quiet_llm()) as table:
            thread_id = await table.start()
            ((parent, body),) = fake_api.threads_created()
            assert parent == PLAY_CHANNEL
            assert body["type"] == 11  # a public thread
            assert body["name"] == "The Goblin Toll Bridge"
            shown = "\n".join(fake_api.texts(thread_id))
            assert "Grukk is keeper of this bridge" in shown  # the spec's opening
            (followup,) = fake_api.followups()
            assert f"<#{thread_id}>" in followup["content"]
            assert await table.bot.desk.find(thread_id) is not None

    asyncio.run(scenario())


def test_spec_autocomplete_offers_matching_specs(tmp_path: Path, fake_api: FakeDiscord) -> None:
    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), quiet_llm()) as table:
            interaction = table.gateway.command(
                PLAY_CHANNEL, ARIA, "encounter", "start", {"spec": "light"}, autocomplete="spec"
            )
            await settle(table.bot)
            (reply,) = fake_api.interaction_replies(interaction)
            assert reply["type"] == 8
            assert [c["value"] for c in reply["data"]["choices"]] == ["haunted-lighthouse"]

    asyncio.run(scenario())


def test_unknown_spec_is_one_ephemeral_line(tmp_path: Path, fake_api: FakeDiscord) -> None:
    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), quiet_llm()) as table:
            interaction = table.gateway.command(
                PLAY_CHANNEL, ARIA, "encounter", "start", {"spec": "dragon-lair"}
            )
            await settle(table.bot)
            text = ephemeral_text(fake_api, interaction)
            assert "no encounter 'dragon-lair'" in text and "goblin-toll-bridge" in text
            assert fake_api.threads_created() == []

    asyncio.run(scenario())


def test_a_start_that_fails_removes_its_thread(tmp_path: Path, fake_api: FakeDiscord) -> None:
    root, data = paths(tmp_path)
    data.mkdir(parents=True, exist_ok=True)
    (data / "transcripts").write_text("in the way", encoding="utf-8")  # transcripts cannot go there

    async def scenario() -> None:
        async with open_table(fake_api, root, data, quiet_llm()) as table:
            table.gateway.command(
                PLAY_CHANNEL, ARIA, "encounter", "start", {"spec": "goblin-toll-bridge"}
            )
            await settle(table.bot)
            assert len(fake_api.threads_created()) == 1
            (deleted,) = fake_api.threads_deleted()
            assert deleted not in fake_api.threads
            assert table.bot.desk.running == {}
            (followup,) = fake_api.followups()
            assert followup["content"] == UNEXPECTED

    asyncio.run(scenario())


def test_missing_permissions_are_named_for_the_players(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    fake_api.forbid_threads = True

    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), quiet_llm()) as table:
            table.gateway.command(
                PLAY_CHANNEL, ARIA, "encounter", "start", {"spec": "goblin-toll-bridge"}
            )
            await settle(table.bot)
            (followup,) = fake_api.followups()
            assert followup["content"] == NO_PERMISSION
            assert followup["flags"] & EPHEMERAL
            assert table.bot.desk.running == {}

    asyncio.run(scenario())


# ---------------------------------------------------------------- the allow-lists


def test_commands_outside_allowed_channels_get_an_ephemeral_reason(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), quiet_llm()) as table:
            interaction = table.gateway.command(
                OTHER_CHANNEL, ARIA, "encounter", "start", {"spec": "goblin-toll-bridge"}
            )
            listing = table.gateway.command(OTHER_CHANNEL, ARIA, "encounter", "list")
            await settle(table.bot)
            assert ephemeral_text(fake_api, interaction) == CHANNEL_DENIED
            assert ephemeral_text(fake_api, listing) == CHANNEL_DENIED
            assert fake_api.threads_created() == []

    asyncio.run(scenario())


def test_no_allowed_channels_means_nowhere(tmp_path: Path, fake_api: FakeDiscord) -> None:
    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), quiet_llm(), channels=()) as table:
            interaction = table.gateway.command(PLAY_CHANNEL, ARIA, "encounter", "list")
            await settle(table.bot)
            assert ephemeral_text(fake_api, interaction) == CHANNEL_DENIED

    asyncio.run(scenario())


def test_users_outside_the_allow_list_are_refused_for_commands_and_messages(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    llm = quiet_llm()

    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), llm, users=(ARIA,)) as table:
            await table.register(ARIA, "Aria Swiftwind")
            await table.register(STRANGER, "Sneaky Pete")
            refused = table.gateway.command(PLAY_CHANNEL, STRANGER, "encounter", "list")
            thread_id = await table.start(user_id=ARIA)
            assert ephemeral_text(fake_api, refused) == USER_DENIED
            in_thread = table.gateway.command(thread_id, STRANGER, "encounter", "status")
            (message,) = await table.say(thread_id, (STRANGER, "I push Grukk off the bridge."))
            assert ephemeral_text(fake_api, in_thread) == USER_DENIED
            assert fake_api.reactions(message) == [NOT_ALLOWED]
            assert llm.requests == []  # no turn was played

    asyncio.run(scenario())


def test_an_encounter_thread_counts_as_its_parent_channel(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    llm = quiet_llm()
    root, data = paths(tmp_path)

    async def scenario() -> None:
        async with open_table(fake_api, root, data, llm) as table:
            await table.register(ARIA, "Aria Swiftwind")
            thread_id = await table.start()
            # The operator removes the parent channel from the allow-list...
            table.bot.policy = AccessPolicy.of([str(OTHER_CHANNEL)], [])
            (cached,) = await table.say(thread_id, (ARIA, "Hello?"))
            status = table.gateway.command(thread_id, ARIA, "encounter", "status")
            await settle(table.bot)
            assert ephemeral_text(fake_api, status) == CHANNEL_DENIED
        # ...and restarts: the thread is unknown to the gateway cache, its link knows the parent.
        async with open_table(fake_api, root, data, llm, channels=(OTHER_CHANNEL,)) as table:
            (uncached,) = await table.say(thread_id, (ARIA, "Hello again?"))
        assert fake_api.reactions(cached) == fake_api.reactions(uncached) == []
        assert llm.requests == []

    asyncio.run(scenario())


def test_messages_outside_encounter_threads_are_ignored(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    llm = quiet_llm()

    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), llm) as table:
            await table.register(ARIA, "Aria Swiftwind")
            (in_channel,) = await table.say(PLAY_CHANNEL, (ARIA, "hello bot"))
            (elsewhere,) = await table.say(OTHER_CHANNEL, (ARIA, "hello bot"))
            assert fake_api.reactions(in_channel) == fake_api.reactions(elsewhere) == []
            assert fake_api.posted(PLAY_CHANNEL) == fake_api.posted(OTHER_CHANNEL) == []
            assert llm.requests == []

    asyncio.run(scenario())


# ---------------------------------------------------------------- turns


def test_a_burst_from_several_players_is_one_turn(tmp_path: Path, fake_api: FakeDiscord) -> None:
    llm = quiet_llm("Grukk looks from one of you to the other.")

    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), llm) as table:
            await table.register(ARIA, "Aria Swiftwind")
            await table.register(BRAM, "Bram Ironfoot", "fighter")
            thread_id = await table.start()
            opening_posts = len(fake_api.posted(thread_id))
            messages = await table.say(
                thread_id,
                (ARIA, "I wave at the goblin."),
                (BRAM, "I lean on my axe."),
                (ARIA, "Nice helmet, friend."),
            )
            assert len(llm.requests) == 1, "three messages, one turn"
            prompt = "\n".join(m.content for m in llm.requests[0].messages)
            for line in ("I wave at the goblin.", "I lean on my axe.", "Nice helmet, friend."):
                assert line in prompt
            assert "Aria Swiftwind" in prompt and "Bram Ironfoot" in prompt  # the party
            for message in messages:
                assert fake_api.reactions(message) == [TAKEN]
            assert fake_api.typing_in(thread_id) >= 1
            after = fake_api.texts(thread_id)[opening_posts:]
            assert after == ["Grukk looks from one of you to the other."]

    asyncio.run(scenario())


def test_messages_after_the_quiet_window_are_the_next_turn(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    llm = quiet_llm("First answer.", "Second answer.")

    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), llm) as table:
            await table.register(ARIA, "Aria Swiftwind")
            thread_id = await table.start()
            await table.say(thread_id, (ARIA, "I look around."))
            await table.say(thread_id, (ARIA, "I look again."))
            assert len(llm.requests) == 2
            assert fake_api.texts(thread_id)[-2:] == ["First answer.", "Second answer."]
            assert table.bot.desk.running[thread_id].session.turn == 2

    asyncio.run(scenario())


def test_flooding_is_rate_limited(tmp_path: Path, fake_api: FakeDiscord) -> None:
    llm = quiet_llm()

    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), llm, rate_limit=2) as table:
            await table.register(ARIA, "Aria Swiftwind")
            await table.register(BRAM, "Bram Ironfoot", "fighter")
            thread_id = await table.start()
            first, second, third, bram = await table.say(
                thread_id,
                (ARIA, "one"),
                (ARIA, "two"),
                (ARIA, "three"),
                (BRAM, "I am not flooding."),
            )
            assert fake_api.reactions(third) == [SLOW_DOWN]
            assert [fake_api.reactions(m) for m in (first, second, bram)] == [[TAKEN]] * 3
            session = table.bot.desk.running[thread_id].session
            played = [(e.speaker, e.text) for e in session.history if e.role == "player"]
            assert played == [
                (str(ARIA), "one"),
                (str(ARIA), "two"),
                (str(BRAM), "I am not flooding."),
            ]

    asyncio.run(scenario())


def test_unregistered_players_are_asked_to_register_once(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    llm = quiet_llm()

    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), llm) as table:
            thread_id = await table.start()
            first, second = await table.say(thread_id, (BRAM, "Hello?"), (BRAM, "Anyone?"))
            assert fake_api.reactions(first) == fake_api.reactions(second) == [NOT_SEATED]
            reminders = [t for t in fake_api.texts(thread_id) if "/character set" in t]
            assert [r for r in reminders if f"<@{BRAM}>" in r] == [reminders[-1]]
            assert sum(f"<@{BRAM}>" in r for r in reminders) == 1
            assert llm.requests == []

    asyncio.run(scenario())


def test_long_narration_is_split_at_paragraphs(tmp_path: Path, fake_api: FakeDiscord) -> None:
    paragraphs = [f"Paragraph {n}. " + "The mist curls over the planks. " * 40 for n in range(4)]
    narration = "\n\n".join(p.strip() for p in paragraphs)
    assert len(narration) > 4000
    llm = quiet_llm(narration)
    root, data = paths(tmp_path)
    persona = root / "persona.yaml"  # a GM allowed long answers (the shipped one stops at 180)
    persona.write_text(
        persona.read_text(encoding="utf-8").replace("max_words: 180", "max_words: 2000"),
        encoding="utf-8",
    )

    async def scenario() -> None:
        async with open_table(fake_api, root, data, llm) as table:
            await table.register(ARIA, "Aria Swiftwind")
            thread_id = await table.start()
            before = len(fake_api.posted(thread_id))
            await table.say(thread_id, (ARIA, "I listen."))
            sent = fake_api.texts(thread_id)[before:]
            assert len(sent) == 4
            assert all(len(text) <= 2000 for text in sent)
            assert [text.split(".")[0] for text in sent] == [f"Paragraph {n}" for n in range(4)]

    asyncio.run(scenario())


def test_narration_can_ping_the_encounters_players_and_nobody_else(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    """The model's text is posted: `<@id>` of any member used to notify them."""
    llm = quiet_llm(f"<@{STRANGER}>, <@{ARIA}> and @everyone hear Grukk laugh.")

    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), llm) as table:
            await table.register(ARIA, "Aria Swiftwind")
            await table.register(BRAM, "Bram Ironfoot")  # registered, not in this encounter
            thread_id = await table.start()
            opening = fake_api.posted(thread_id)
            await table.say(thread_id, (ARIA, "I listen."))
            (narration,) = [
                body
                for body in fake_api.posted(thread_id)
                if "Grukk laugh" in (body.get("content") or "")
            ]
            assert narration["allowed_mentions"] == {"parse": [], "users": [ARIA]}
            # Before anyone played, nobody at all.
            assert all(body["allowed_mentions"]["parse"] == [] for body in opening)
            assert all(not body["allowed_mentions"].get("users") for body in opening)

    asyncio.run(scenario())


def test_a_turn_waiting_for_the_lock_says_so_in_the_thread_before_it_plays(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    """The wait used to be shown only with the turn's other events, once it was over."""

    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), quiet_llm("Grukk nods.")) as table:
            await table.register(ARIA, "Aria Swiftwind")
            thread_id = await table.start()
            encounter = await table.bot.desk.find(thread_id)
            assert encounter is not None
            async with table.bot.desk.store.turn_lock(encounter.session.id):  # another turn
                table.gateway.message(thread_id, ARIA, "I wait.")
                for _ in range(3000):  # until the bot posts, while the lock is still held
                    if any("waiting for" in text for text in fake_api.texts(thread_id)):
                        break
                    await asyncio.sleep(0.01)
                shown = fake_api.texts(thread_id)
                assert any("waiting for" in text for text in shown), shown
                assert not any("Grukk nods." in text for text in shown)
            await table.settle()
            after = fake_api.texts(thread_id)
            assert any("Grukk nods." in text for text in after)
            assert sum("waiting for" in text for text in after) == 1  # shown once

    asyncio.run(scenario())


def test_the_bot_runs_at_most_max_tool_calls_a_reply(tmp_path: Path, fake_api: FakeDiscord) -> None:
    """MARDONAR_MAX_TOOL_CALLS reaches the bot's engines, not only `mardonar play`'s."""
    flood = ScriptedReply(tool_calls=[("roll", {"expression": "d6", "reason": "x"})] * 5)
    llm = quiet_llm(flood, "Grukk counts the dice.")

    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), llm, max_tool_calls=2) as table:
            await table.register(ARIA, "Aria Swiftwind")
            thread_id = await table.start()
            await table.say(thread_id, (ARIA, "Roll for me."))
            rolls = [text for text in fake_api.texts(thread_id) if "🎲" in text]
            assert rolls and sum(text.count("🎲") for text in rolls) == 2, rolls

    asyncio.run(scenario())


def test_rolls_are_compact_lines(tmp_path: Path, fake_api: FakeDiscord) -> None:
    llm = ScriptedLLM(
        [
            ScriptedReply(
                tool_calls=[("skill_check", {"player": str(ARIA), "check": "deceive-grukk"})]
            ),
            "Grukk blinks, unsure.",
        ]
    )

    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), llm) as table:
            await table.register(ARIA, "Aria Swiftwind")
            thread_id = await table.start()
            await table.say(thread_id, (ARIA, "I tell Grukk I am the bridge inspector."))
            roll, narration = fake_api.texts(thread_id)[-2:]
            assert roll.startswith("🎲 Aria Swiftwind — deception ")
            assert "vs DC 12" in roll
            assert narration == "Grukk blinks, unsure."

    asyncio.run(scenario())


# ---------------------------------------------- /character set, /encounter status|list|end


def test_character_set_registers_the_caller(tmp_path: Path, fake_api: FakeDiscord) -> None:
    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), quiet_llm()) as table:
            interaction = table.gateway.command(
                PLAY_CHANNEL,
                BRAM,
                "character",
                "set",
                {"name": "Bram Ironfoot", "class": "fighter", "level": 4},
            )
            await settle(table.bot)
            assert "Registered **Bram Ironfoot**, a level 4 fighter" in ephemeral_text(
                fake_api, interaction
            )
            stored = await table.bot.desk.store.get_character(str(BRAM))
            assert stored == {"name": "Bram Ironfoot", "class": "fighter", "level": 4}

    asyncio.run(scenario())


def test_status_shows_turn_players_checks_and_xp(tmp_path: Path, fake_api: FakeDiscord) -> None:
    llm = ScriptedLLM(
        [
            ScriptedReply(
                tool_calls=[("skill_check", {"player": str(ARIA), "check": "read-grukk"})]
            ),
            "Grukk fidgets.",
        ]
    )

    async def scenario() -> None:
        async with open_table(fake_api, *paths(tmp_path), llm) as table:
            await table.register(ARIA, "Aria Swiftwind")
            thread_id = await table.start()
            await table.say(thread_id, (ARIA, "I study Grukk's face."))
            interaction = table.gateway.command(thread_id, ARIA, "encounter", "status")
            outside = table.gateway.command(PLAY_CHANNEL, ARIA, "encounter", "status")
            await settle(table.bot)
            (reply,) = fake_api.interaction_replies(interaction)
            text = reply["data"]["content"]
            assert "turn 1 of 24" in text
            assert "Players: Aria Swiftwind" in text
            assert "Aria Swiftwind: read-grukk" in text and "vs DC 12" in text
            assert "XP so far: none" in text
            assert ephemeral_text(fake_api, outside) == NOT_A_THREAD

    asyncio.run(scenario())


def test_end_writes_the_summary_and_archives_the_thread(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    llm = quiet_llm()
    root, data = paths(tmp_path)

    async def scenario() -> None:
        async with open_table(fake_api, root, data, llm) as table:
            await table.register(ARIA, "Aria Swiftwind")
            thread_id = await table.start()
            await table.say(thread_id, (ARIA, "I wait."))
            session_id = table.bot.desk.running[thread_id].session.id
            table.gateway.command(thread_id, ARIA, "encounter", "end")
            await settle(table.bot)
            shown = "\n".join(fake_api.texts(thread_id))
            assert "ended unresolved" in shown
            assert "```" in shown and "Ended unresolved after 1 turn" in shown  # the summary
            assert fake_api.threads[thread_id]["thread_metadata"] == {
                **fake_api.threads[thread_id]["thread_metadata"],
                "archived": True,
                "locked": True,
            }
            stored = await table.bot.desk.store.load_session(session_id)
            assert stored is not None and stored.status == "ended"
            assert (data / "summaries" / f"{session_id}.txt").is_file()
            assert thread_id not in table.bot.desk.running
            assert await table.bot.desk.find(thread_id) is None
            (late,) = await table.say(thread_id, (ARIA, "Hello?"))
            assert fake_api.reactions(late) == []
            assert len(llm.requests) == 1

            listing = table.gateway.command(PLAY_CHANNEL, ARIA, "encounter", "list")
            await settle(table.bot)
            text = ephemeral_text(fake_api, listing)
            assert "**goblin-toll-bridge** — The Goblin Toll Bridge" in text
            assert "(played 1×)" in text and "**haunted-lighthouse**" in text

    asyncio.run(scenario())


# ---------------------------------------------------------------- restarts and reloads


def test_a_restarted_bot_continues_a_running_encounter(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    llm = quiet_llm("First.", "After the restart.")
    root, data = paths(tmp_path)

    async def scenario() -> None:
        async with open_table(fake_api, root, data, llm) as table:
            await table.register(ARIA, "Aria Swiftwind")
            thread_id = await table.start()
            await table.say(thread_id, (ARIA, "I wait."))
        # A new process: the gateway cache does not know the thread, only the store does.
        async with open_table(fake_api, root, data, llm) as table:
            assert thread_id in table.bot.desk.running  # resumed at start-up
            (message,) = await table.say(thread_id, (ARIA, "Still here."))
            assert fake_api.reactions(message) == [TAKEN]
            assert fake_api.texts(thread_id)[-1] == "After the restart."
            assert table.bot.desk.running[thread_id].session.turn == 2

    asyncio.run(scenario())


def test_a_restart_keeps_the_spec_version_a_running_encounter_started_with(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    read = ScriptedReply(tool_calls=[("skill_check", {"player": str(ARIA), "check": "read-grukk"})])
    llm = quiet_llm("First.", read, "Grukk fidgets.")
    root, data = paths(tmp_path)
    spec = root / "specs" / "goblin-toll-bridge.yaml"

    async def scenario() -> None:
        async with open_table(fake_api, root, data, llm) as table:
            await table.register(ARIA, "Aria Swiftwind")
            thread_id = await table.start()
            await table.say(thread_id, (ARIA, "I wait."))
        # The author raises a DC while the bot is down; the running encounter keeps its own.
        text = spec.read_text(encoding="utf-8")
        edited = text.replace("skill: insight\n    dc: 12\n", "skill: insight\n    dc: 18\n")
        assert edited != text
        spec.write_text(edited, encoding="utf-8")
        async with open_table(fake_api, root, data, llm) as table:
            encounter = table.bot.desk.running[thread_id]
            await table.say(thread_id, (ARIA, "I study Grukk's face."))
            (roll,) = encounter.session.checks_rolled
            assert (roll.check, roll.dc) == ("read-grukk", 12)
            # A new encounter plays the version on disk.
            fresh = table.bot.library.get("goblin-toll-bridge").spec.check("read-grukk")
            assert fresh is not None and fresh.dc == 18

    asyncio.run(scenario())


def test_a_turn_cut_off_by_a_crash_is_played_after_the_restart(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    llm = quiet_llm("Grukk waits for you to finish.")
    root, data = paths(tmp_path)

    async def scenario() -> None:
        async with open_table(fake_api, root, data, llm) as table:
            await table.register(ARIA, "Aria Swiftwind")
            thread_id = await table.start()
            session = table.bot.desk.running[thread_id].session
        # What a process killed mid-turn leaves: the line saved as pending, no narration.
        store = SqliteStore(data / "mardonar.db")
        stored = await store.load_session(session.id)
        assert stored is not None
        session.pending = [PlayerLine(player=str(ARIA), text="I was saying something.")]
        await store.save_session(
            session.id,
            spec_id=stored.spec_id,
            status=stored.status,
            turn=stored.turn,
            data=session.model_dump_json(),
            expected_turn=stored.turn,
        )
        await store.close()
        async with open_table(fake_api, root, data, llm) as table:
            await table.settle()
            shown = fake_api.texts(thread_id)
            assert shown[-2:] == [
                "*The game master was interrupted; picking up that turn again.*",
                "Grukk waits for you to finish.",
            ]
            prompt = "\n".join(m.content for m in llm.requests[-1].messages)
            assert "I was saying something." in prompt
            assert table.bot.desk.running[thread_id].session.turn == 1

    asyncio.run(scenario())


def test_sighup_reloads_content_for_new_encounters_only(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    root, data = paths(tmp_path)
    spec = root / "specs" / "goblin-toll-bridge.yaml"

    async def scenario() -> None:
        async with open_table(fake_api, root, data, quiet_llm(), watch_content=True) as table:
            first = await table.start()
            spec.write_text(
                spec.read_text(encoding="utf-8").replace(
                    "title: The Goblin Toll Bridge", "title: The Goblin Toll Bridge, Revised"
                ),
                encoding="utf-8",
            )
            os.kill(os.getpid(), signal.SIGHUP)
            await asyncio.sleep(0)
            await settle(table.bot)
            second = await table.start()
            assert fake_api.threads[second]["name"] == "The Goblin Toll Bridge, Revised"
            running = table.bot.desk.running[first]
            assert running.content.spec.title == "The Goblin Toll Bridge"

            spec.write_text("id: goblin-toll-bridge\ntitle: [broken\n", encoding="utf-8")
            os.kill(os.getpid(), signal.SIGHUP)
            await asyncio.sleep(0)
            await settle(table.bot)
            third = await table.start()
            assert fake_api.threads[third]["name"] == "The Goblin Toll Bridge, Revised"

    asyncio.run(scenario())


def test_a_turn_another_process_played_is_not_played_over(
    tmp_path: Path, fake_api: FakeDiscord
) -> None:
    root, data = paths(tmp_path)
    llm = quiet_llm()

    async def scenario() -> None:
        store = SqliteStore(data / "mardonar.db")
        async with open_table(fake_api, root, data, llm, store=store) as table:
            await table.register(ARIA, "Aria Swiftwind")
            thread_id = await table.start()
            session = table.bot.desk.running[thread_id].session
            # Another process plays a turn first: this one must not play over it.
            other = table.bot.desk.running[thread_id]
            stored = await store.load_session(session.id)
            assert stored is not None
            await store.save_session(
                session.id,
                spec_id=stored.spec_id,
                status=stored.status,
                turn=stored.turn + 1,
                data=stored.data.replace('"turn":0', '"turn":1'),
                expected_turn=stored.turn,
            )
            await table.say(thread_id, (ARIA, "I wait."))
            assert "was not applied" in fake_api.texts(thread_id)[-1]
            assert other.session.turn == 1
            assert llm.requests == []

    asyncio.run(scenario())
