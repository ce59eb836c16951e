"""Control sequences from the model, a player or a content file reach no Discord post and
no lint report (issue #12, item 4). The terminal front ends are tested with their own
widgets and REPL (test_plain_streaming.py, test_tui.py); safetext itself in test_safetext.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import discord
import pytest

from mardonar.channels.discord.render import posts_for, spec_list_text, status_text
from mardonar.engine.events import Ended, Narration, Notice, Resolved, Rolled
from mardonar.engine.session import CheckRoll, Session
from tests.engine_helpers import copy_content
from tests.test_plain_streaming import ATTACK, SHOWN
from tests.test_safetext import FORBIDDEN

RunCli = Callable[..., subprocess.CompletedProcess[str]]
TITLE = "\x1b]0;pwned\x07"
NAMES = {"501": "Aria\x1b[2J Swiftwind"}


def texts_of(embed: discord.Embed) -> list[str]:
    return [
        embed.title or "",
        embed.description or "",
        *(f"{field.name}{field.value}" for field in embed.fields),
    ]


def test_discord_posts_carry_no_control_sequence() -> None:
    posts = posts_for(
        [
            Narration(turn=1, text=ATTACK),
            Rolled(turn=1, who=NAMES["501"], expression="d20", detail="12\x9b2J", total=12),
            Notice(turn=1, text=f"the GM {TITLE}paused"),
            Resolved(
                turn=1,
                outcome="debt-settled",
                result="success",
                summary=f"Cyra {TITLE}talks Knuckle round.",
                xp={"501": 100},
                skipped={},
                items={"501": ["token\x1b[?1049h"]},
                summary_path=None,
            ),
            Ended(turn=1, reason="resolved"),
        ],
        names=NAMES,
        item_names={},
        title=f"Bridge{TITLE}",
    )
    shown: list[str] = []
    for post in posts:
        shown.append(post.content or "")
        if post.embed is not None:
            shown += texts_of(post.embed)
    everything = "\n".join(shown)
    assert not FORBIDDEN & set(everything), sorted(FORBIDDEN & set(everything))
    assert "pwned" not in everything and "[2J" not in everything
    assert SHOWN in everything
    assert "🎲 Aria Swiftwind — 12" in everything
    assert "Cyra talks Knuckle round." in everything
    assert "**Aria Swiftwind**: token" in everything


def test_discord_status_and_list_carry_no_control_sequence() -> None:
    session = Session(
        id="s",
        spec_id="bridge",
        spec_sha256="x",
        persona_sha256="y",
        seed=1,
        started_at="2026-11-27T12:00:00+00:00",
        participants=["501"],
        checks_rolled=[
            CheckRoll(
                turn=1,
                check=None,
                skill="lore\x9b2J",
                player="501",
                natural=10,
                modifier=2,
                total=12,
                dc=12,
                success=True,
            )
        ],
    )
    status = status_text(session, title=f"Bridge{TITLE}", max_turns=8, names=NAMES)
    listed = "\n".join(spec_list_text([("bridge", f"Bridge{TITLE}", "A toll \x1b[2J", 3)]))
    for text in (status, listed):
        assert not FORBIDDEN & set(text)
        assert "pwned" not in text
    assert "Aria Swiftwind: improvised lore — 12 vs DC 12" in status


@pytest.mark.parametrize("form", ["text", "json", "github"])
def test_lint_shows_a_quoted_value_escaped(run_cli: RunCli, tmp_path: Path, form: str) -> None:
    repo = copy_content(tmp_path / "repo")
    spec = repo / "specs" / "goblin-toll-bridge.yaml"
    text = spec.read_text(encoding="utf-8")
    # YAML's double quotes can spell ESC (\e), BEL (\a) and C1 (\x9b): the file holds them.
    spec.write_text(
        text.replace("npc: grukk", 'npc: "gr\\e]0;pwned\\aukk\\x9b2J"', 1), encoding="utf-8"
    )
    result = run_cli("lint", "--format", form, "specs/goblin-toll-bridge.yaml", cwd=repo)
    assert result.returncode == 1, result.stderr
    assert not FORBIDDEN & set(result.stdout), sorted(FORBIDDEN & set(result.stdout))
    if form == "json":
        messages = [finding["message"] for finding in json.loads(result.stdout)]
        assert any("gr\x1b]0;pwned\x07ukk\x9b2J" in message for message in messages)
    else:
        # Written as escapes the author can search the file for.
        assert re.search(r"'gr\\x1b\]0;pwned\\x07ukk\\x9b2J'", result.stdout)
