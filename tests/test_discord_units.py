"""The small pure parts of the Discord adapter: the rate limit, the allow-list check, error
messages, and how engine events look in a thread."""

from __future__ import annotations

from pathlib import Path

import discord
from discord import app_commands

from mardonar.channels.discord.access import CHANNEL_DENIED, USER_DENIED, AccessPolicy
from mardonar.channels.discord.ratelimit import RateLimiter
from mardonar.channels.discord.render import posts_for, status_text
from mardonar.channels.discord.user_errors import (
    MODEL_DOWN,
    RESTARTING,
    STORE_DOWN,
    TURN_BUSY,
    TURN_CONFLICT,
    UNEXPECTED,
    Refusal,
    user_message,
)
from mardonar.engine.events import (
    Ended,
    Narration,
    NarrationDelta,
    Resolved,
    Rolled,
    ToolCalled,
)
from mardonar.engine.session import CheckRoll, Session
from mardonar.errors import UsageError
from mardonar.llm.base import LLMError
from mardonar.ops.shutdown import ShuttingDown
from mardonar.store.base import StoreUnavailable, TurnBusy, TurnConflict

# ---------------------------------------------------------------- rate limit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_limit_per_user_per_minute() -> None:
    clock = Clock()
    limiter = RateLimiter(3, clock=clock)
    assert [limiter.allow("aria") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("bram"), "one user's flood never limits another"
    assert limiter.retry_after("aria") == 60.0
    clock.now += 59.0
    assert not limiter.allow("aria")
    clock.now += 1.0  # the three messages are a minute old
    assert [limiter.allow("aria") for _ in range(4)] == [True, True, True, False]


def test_refused_messages_do_not_count() -> None:
    clock = Clock()
    limiter = RateLimiter(1, clock=clock)
    assert limiter.allow("aria")
    for _ in range(10):
        clock.now += 5
        assert not limiter.allow("aria")
    clock.now += 10  # 60 s after the one message that counted
    assert limiter.allow("aria")


# ---------------------------------------------------------------- the allow-lists


def test_channel_is_checked_before_user() -> None:
    policy = AccessPolicy.of(["10", "11"], ["501"])
    assert policy.denial(channel_id=10, user_id=501) is None
    assert policy.denial(channel_id=12, user_id=501) == CHANNEL_DENIED
    assert policy.denial(channel_id=12, user_id=777) == CHANNEL_DENIED
    assert policy.denial(channel_id=11, user_id=777) == USER_DENIED
    assert policy.denial(channel_id=None, user_id=501) == CHANNEL_DENIED


def test_empty_lists_mean_nowhere_and_everyone() -> None:
    assert AccessPolicy.of([], []).denial(channel_id=10, user_id=501) == CHANNEL_DENIED
    assert AccessPolicy.of(["10"], []).denial(channel_id=10, user_id=777) is None


# ---------------------------------------------------------------- error messages


def test_domain_errors_become_short_user_lines() -> None:
    assert user_message(StoreUnavailable("REDIS_URL=redis://:hunter2@x: down")) == STORE_DOWN
    assert user_message(TurnBusy("busy")) == TURN_BUSY
    assert user_message(TurnConflict("conflict")) == TURN_CONFLICT
    assert user_message(LLMError("http://key@llm timed out")) == MODEL_DOWN
    assert user_message(ShuttingDown("bye")) == RESTARTING
    lint = UsageError("specs/x.yaml:3:1: unknown key 'tittle' [E001]; run `mardonar lint`")
    assert user_message(lint) == str(lint)
    assert user_message(Refusal("Use this in a thread.")) == "Use this in a thread."
    wrapped = app_commands.CommandInvokeError.__new__(app_commands.CommandInvokeError)
    wrapped.original = TurnBusy("busy")
    assert user_message(wrapped) == TURN_BUSY
    assert user_message(ZeroDivisionError("oops")) == UNEXPECTED


def test_no_secret_reaches_a_player() -> None:
    for error in (
        StoreUnavailable("redis://:hunter2@cache:6379 unreachable"),
        LLMError("401 from https://llm/v1 with key sk-hunter2"),
        RuntimeError("token MTEw.hunter2.x"),
    ):
        assert "hunter2" not in user_message(error)


# ---------------------------------------------------------------- what the thread shows


NAMES = {"501": "Aria Swiftwind", "502": "Bram Ironfoot"}
ITEMS = {"toll-receipt": "Grukk's Toll Receipt"}


def roll(total: int) -> Rolled:
    return Rolled(
        turn=1,
        who="Aria Swiftwind",
        expression="d20+4",
        detail=f"{total - 4}+4",
        total=total,
        skill="persuasion",
        check="persuade-grukk",
        natural=total - 4,
        modifier=4,
        dc=14,
        success=total >= 14,
    )


def test_rolls_are_one_message_of_compact_lines_and_drafts_are_not_shown() -> None:
    posts = posts_for(
        [
            NarrationDelta(turn=1, text="draft"),
            ToolCalled(turn=1, call_id="1", name="skill_check", args={}),
            roll(18),
            roll(9),
            Narration(turn=1, text="Grukk relents."),
        ],
        names=NAMES,
        item_names=ITEMS,
        title="Bridge",
    )
    assert [p.content for p in posts] == [
        "🎲 Aria Swiftwind — persuasion 14+4 = 18 vs DC 14: success\n"
        "🎲 Aria Swiftwind — persuasion 5+4 = 9 vs DC 14: failure",
        "Grukk relents.",
    ]


def test_resolution_announces_xp_skip_reasons_items_and_summary(tmp_path: Path) -> None:
    summary = tmp_path / "s.txt"
    summary.write_text("Bridge (goblin-toll-bridge)\n\nXP:\n  Aria: 40\n", encoding="utf-8")
    posts = posts_for(
        [
            Resolved(
                turn=2,
                outcome="paid-toll",
                result="partial",
                summary="They paid.",
                xp={"501": 40},
                skipped={"502": "never took part"},
                items={"501": ["toll-receipt"]},
                summary_path=str(summary),
            ),
            Ended(turn=2, reason="resolved", summary_path=str(summary)),
        ],
        names=NAMES,
        item_names=ITEMS,
        title="Bridge",
    )
    embed = posts[0].embed
    assert isinstance(embed, discord.Embed)
    assert embed.title == "Bridge — paid-toll (partial)"
    fields = {field.name: field.value for field in embed.fields}
    assert fields["XP"] == "**Aria Swiftwind**: 40 XP\n**Bram Ironfoot**: no XP — never took part"
    assert fields["Items"] == "**Aria Swiftwind**: Grukk's Toll Receipt"
    assert posts[1].content == "```\nBridge (goblin-toll-bridge)\n\nXP:\n  Aria: 40\n```"
    assert "Foundry VTT" not in fields  # no relay configured: nothing pushed, nothing said


def test_resolution_says_what_reached_foundry_and_what_waits() -> None:
    pushed = (
        {"kind": "xp", "player": "501", "character": "Aria Swiftwind", "xp": 40, "done": True,
         "detail": "added"},
        {"kind": "item", "player": "501", "character": "Aria Swiftwind",
         "item_name": "Grukk's Toll Receipt", "done": False, "detail": "the relay is down"},
    )  # fmt: skip
    (post, *_) = posts_for(
        [
            Resolved(
                turn=2,
                outcome="paid-toll",
                result="partial",
                summary="They paid.",
                xp={"501": 40},
                skipped={},
                items={"501": ["toll-receipt"]},
                summary_path="",
                vtt=pushed,
            )
        ],
        names=NAMES,
        item_names=ITEMS,
        title="Bridge",
    )
    assert isinstance(post.embed, discord.Embed)
    fields = {field.name: field.value for field in post.embed.fields}
    assert fields["Foundry VTT"].splitlines() == [
        "✓ Aria Swiftwind: 40 XP — added",
        "✗ Aria Swiftwind: Grukk's Toll Receipt — pending — the relay is down",
        "1 Foundry grant(s) pending: `mardonar vtt retry` pushes them once the relay and the "
        "actors are ready.",
    ]


def test_an_unresolved_end_says_no_xp() -> None:
    (post,) = posts_for(
        [Ended(turn=3, reason="ended_by_player", summary_path=None)],
        names=NAMES,
        item_names=ITEMS,
        title="Bridge",
    )
    assert post.embed is not None and post.embed.title == "Bridge — ended unresolved"
    assert "no XP" in (post.embed.description or "")


def test_status_text() -> None:
    session = Session(
        id="s",
        spec_id="bridge",
        spec_sha256="x",
        persona_sha256="y",
        seed=1,
        started_at="2026-11-27T12:00:00+00:00",
        turn=3,
        participants=["501", "502"],
        checks_rolled=[
            CheckRoll(
                turn=2,
                check="persuade-grukk",
                skill="persuasion",
                player="501",
                natural=15,
                modifier=4,
                total=19,
                dc=14,
                success=True,
            )
        ],
        xp_bonus={"502": 10},
    )
    text = status_text(session, title="Bridge", max_turns=24, names=NAMES)
    assert text.splitlines() == [
        "**Bridge** — turn 3 of 24, active",
        "Players: Aria Swiftwind, Bram Ironfoot",
        "Checks rolled:",
        "• Aria Swiftwind: persuade-grukk — 19 vs DC 14, success",
        "XP so far: Bram Ironfoot 10",
    ]
