"""Engine events as Discord posts: pure functions, so what players see is tested directly.

Narration is split to Discord's limit (splitting.py); consecutive rolls become one message of
compact lines (`🎲 Aria — stealth 14+7 = 21 vs DC 13: success`, the same line as the
terminal); a resolution becomes an embed with XP, skip reasons and items; the end posts the
summary file. Drafts, tool traffic and corrections are for the transcript, not the table.

Every post is made safe on creation (`Post`, mardonar.safetext): what the model or a player
wrote reaches no one's client or terminal log with a control sequence in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import discord

from mardonar.channels.discord.splitting import DISCORD_LIMIT, split_message
from mardonar.engine.events import (
    Ended,
    EngineError,
    Event,
    Narration,
    Notice,
    Resolved,
    Rolled,
)
from mardonar.engine.session import Session, grant_lines
from mardonar.safetext import safe
from mardonar.wording import clip

RESULT_COLOURS = {"success": 0x2E7D32, "partial": 0xF9A825, "failure": 0xC62828}
ENDED_COLOUR = 0x607D8B
_EMBED_FIELD_LIMIT = 1024


@dataclass(frozen=True)
class Post:
    """One Discord message: text, an embed, or both."""

    content: str | None = None
    embed: discord.Embed | None = None

    def __post_init__(self) -> None:
        # The one choke point of this front end: each post is made safe when created.
        if self.content is not None:
            object.__setattr__(self, "content", safe(self.content))
        if self.embed is not None:
            _make_safe(self.embed)


def _make_safe(embed: discord.Embed) -> None:
    """`embed` with every text it shows made safe, in place."""
    if embed.title:
        embed.title = safe(embed.title)
    if embed.description:
        embed.description = safe(embed.description)
    for index, field in enumerate(embed.fields):
        embed.set_field_at(
            index, name=safe(field.name or ""), value=safe(field.value or ""), inline=field.inline
        )
    if embed.footer.text:
        embed.set_footer(text=safe(embed.footer.text), icon_url=embed.footer.icon_url)


def award_lines(
    xp: Mapping[str, int],
    skipped: Mapping[str, str],
    items: Mapping[str, list[str]],
    names: Mapping[str, str],
    item_names: Mapping[str, str],
) -> tuple[str, str]:
    """(XP lines, item lines) for the resolution embed, with a reason for everyone skipped."""
    xp_lines = [f"**{names.get(p, p)}**: {amount} XP" for p, amount in xp.items()]
    xp_lines += [f"**{names.get(p, p)}**: no XP — {why}" for p, why in skipped.items()]
    item_lines = [
        f"**{names.get(p, p)}**: {item_names.get(i, i)}"
        for p, granted in items.items()
        for i in granted
    ]
    return "\n".join(xp_lines) or "nobody", "\n".join(item_lines)


def resolution_embed(
    event: Resolved, names: Mapping[str, str], item_names: Mapping[str, str], title: str
) -> discord.Embed:
    embed = discord.Embed(
        title=f"{title} — {event.outcome} ({event.result})",
        description=clip(event.summary, 4000) or None,
        colour=RESULT_COLOURS.get(event.result, ENDED_COLOUR),
    )
    xp, granted = award_lines(event.xp, event.skipped, event.items, names, item_names)
    embed.add_field(name="XP", value=clip(xp, _EMBED_FIELD_LIMIT), inline=False)
    if granted:
        embed.add_field(name="Items", value=clip(granted, _EMBED_FIELD_LIMIT), inline=False)
    pushed = [line.removeprefix("Foundry: ") for line in grant_lines(event.vtt)]
    if pushed:
        embed.add_field(
            name="Foundry VTT", value=clip("\n".join(pushed), _EMBED_FIELD_LIMIT), inline=False
        )
    return embed


ENDED_WHY = {
    "ended_by_player": "ended with /encounter end",
    "max_turns": "the turn limit was reached",
}


def summary_posts(path: Path | None, limit: int = DISCORD_LIMIT) -> list[Post]:
    """The summary file in code blocks (monospace keeps its columns)."""
    if path is None or not path.is_file():
        return []
    fence = "```"
    body = path.read_text(encoding="utf-8")
    return [
        Post(content=f"{fence}\n{chunk}\n{fence}")
        for chunk in split_message(body, limit - 2 * len(fence) - 2)
    ]


def posts_for(
    events: Iterable[Event],
    *,
    names: Mapping[str, str],
    item_names: Mapping[str, str],
    title: str,
) -> list[Post]:
    """What the table sees of one turn's events, in order."""
    posts: list[Post] = []
    rolls: list[str] = []

    def flush_rolls() -> None:
        if rolls:
            posts.extend(Post(content=chunk) for chunk in split_message("\n".join(rolls)))
            rolls.clear()

    resolved = False
    for event in events:
        if isinstance(event, Rolled):
            rolls.append(event.line())
            continue
        flush_rolls()
        if isinstance(event, Narration):
            # Made safe before it is split, so a sequence cut across two posts leaves nothing.
            posts.extend(Post(content=chunk) for chunk in split_message(safe(event.text)))
        elif isinstance(event, Resolved):
            resolved = True
            posts.append(Post(embed=resolution_embed(event, names, item_names, title)))
        elif isinstance(event, Ended):
            if not resolved:
                why = ENDED_WHY.get(event.reason, event.reason)
                posts.append(
                    Post(
                        embed=discord.Embed(
                            title=f"{title} — ended unresolved",
                            description=f"The encounter {why}: no XP is awarded.",
                            colour=ENDED_COLOUR,
                        )
                    )
                )
            posts.extend(summary_posts(Path(event.summary_path) if event.summary_path else None))
        elif isinstance(event, Notice) and not event.data.get("record"):
            posts.append(Post(content=f"*{clip(event.text, DISCORD_LIMIT - 2)}*"))
        elif isinstance(event, EngineError):
            posts.append(Post(content=f"⚠️ {clip(event.message, DISCORD_LIMIT - 3)}"))
    flush_rolls()
    return posts


def status_text(session: Session, *, title: str, max_turns: int, names: Mapping[str, str]) -> str:
    """`/encounter status`: turn, who plays, checks rolled, XP so far."""
    who = ", ".join(names.get(p, p) for p in session.participants) or "nobody yet"
    lines = [
        f"**{title}** — turn {session.turn} of {max_turns}, {session.status.value}",
        f"Players: {who}",
    ]
    if session.checks_rolled:
        lines.append("Checks rolled:")
        for roll in session.checks_rolled:
            lines.append(
                f"• {names.get(roll.player, roll.player)}: {roll.label} — {roll.total} vs DC "
                f"{roll.dc}, {roll.verdict}"
            )
    else:
        lines.append("Checks rolled: none yet")
    earned = session.xp_awarded or session.xp_bonus
    if earned:
        lines.append(
            "XP so far: " + ", ".join(f"{names.get(p, p)} {xp}" for p, xp in earned.items())
        )
    else:
        lines.append("XP so far: none (XP is awarded when the encounter resolves)")
    return clip(safe("\n".join(lines)), DISCORD_LIMIT)


def spec_list_text(entries: Iterable[tuple[str, str, str, int]]) -> list[str]:
    """`/encounter list`: (id, title, summary, runs) → messages."""
    lines = [
        f"**{spec_id}** — {title}: {summary} *(played {runs}×)*"
        for spec_id, title, summary, runs in entries
    ]
    return split_message(safe("\n".join(lines)) or "No encounters are available.")
