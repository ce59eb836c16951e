"""Who may talk to the bot, and where: the one check every command and message goes through.

DISCORD_ALLOWED_CHANNELS lists the channels the bot plays in; a thread counts as its parent
channel, so encounter threads inherit their channel's permission. An empty list means the
bot answers nowhere (the previous bot's behaviour, CONTRACT.md §9). DISCORD_ALLOWED_USERS,
when set, narrows play to those users; empty means everyone in an allowed channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CHANNEL_DENIED = (
    "I only run encounters in the channels this server's operator allowed, and this is not "
    "one of them (DISCORD_ALLOWED_CHANNELS)."
)
USER_DENIED = (
    "You are not on this table's player list (DISCORD_ALLOWED_USERS); ask the bot's operator "
    "to add you."
)


def _ids(values: Iterable[str | int]) -> frozenset[int]:
    return frozenset(int(value) for value in values)


@dataclass(frozen=True)
class AccessPolicy:
    channels: frozenset[int]
    """Allowed channel ids; empty = nowhere."""
    users: frozenset[int]
    """Allowed user ids; empty = everyone in an allowed channel."""

    @classmethod
    def of(cls, channels: Iterable[str | int], users: Iterable[str | int]) -> AccessPolicy:
        return cls(_ids(channels), _ids(users))

    def denial(self, *, channel_id: int | None, user_id: int) -> str | None:
        """Why `user_id` may not use the bot in `channel_id` (a thread's PARENT channel), or
        None when they may. The channel is checked first: in a channel the bot does not
        serve, it should not even reveal who else may play."""
        if channel_id is None or channel_id not in self.channels:
            return CHANNEL_DENIED
        if self.users and user_id not in self.users:
            return USER_DENIED
        return None
