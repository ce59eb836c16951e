"""Discord players as the engine's party: the character registry, keyed by Discord user id.

On Discord the party of an encounter is not party.yaml but the registered characters of the
people who play in its thread (`/character set`). The engine reads the party from its bundle,
so before each turn the bundle's party is replaced by the characters of this thread's players.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from mardonar.content.models import Character, Party

if TYPE_CHECKING:
    from mardonar.store.base import SessionStore

log = logging.getLogger(__name__)


def registry_record(
    name: str, class_: str, level: int, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """What `/character set` stores; skill modifiers already registered are kept."""
    record: dict[str, Any] = {"name": name.strip(), "class": class_.strip(), "level": level}
    if previous and isinstance(previous.get("skills"), dict):
        record["skills"] = previous["skills"]
    return record


def character_of(player_id: str, record: dict[str, Any]) -> Character | None:
    """The engine's Character for a registry record, or None when the record is unusable."""
    try:
        return Character.model_validate(
            {
                "player": player_id,
                "name": record.get("name"),
                "class": record.get("class"),
                "level": record.get("level", 1),
                "skills": record.get("skills") or {},
            }
        )
    except ValidationError as error:
        log.warning("registry entry of player %s is unusable: %s", player_id, error.errors()[0])
        return None


async def party_of(store: SessionStore, players: Iterable[str]) -> Party:
    """The registered characters of `players`, in order, each once. May be empty (an
    encounter nobody has spoken in yet), which party.yaml may not be: hence model_construct."""
    characters: list[Character] = []
    for player in dict.fromkeys(players):
        record = await store.get_character(player)
        character = character_of(player, record) if record is not None else None
        if character is not None:
            characters.append(character)
    return Party.model_construct(characters=characters)
