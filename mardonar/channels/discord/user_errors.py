"""The one place that turns errors into what a player reads (Avrae's `dbot.py` pattern).

Cogs never format errors themselves: they let them rise, and the command tree's error handler
and the message listener both call `user_message`. Players get one short sentence; the
operator gets the details in the log. Nothing here ever includes a secret: the texts are
fixed, or come from `UserError`s, whose messages are written never to contain one.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from mardonar.dicenotation import DiceError
from mardonar.errors import UserError
from mardonar.llm.base import LLMError
from mardonar.ops.shutdown import ShuttingDown
from mardonar.store.base import StoreUnavailable, TurnBusy, TurnConflict

log = logging.getLogger(__name__)


class Refusal(app_commands.CheckFailure):
    """A request the bot declines with a reason for the user (not allowed here, unknown
    thread…); shown as is, never logged as a failure."""


STORE_DOWN = "I cannot reach my session store right now; nothing was lost. Try again in a minute."
TURN_BUSY = "The game master is still answering the previous turn; send that again in a moment."
TURN_CONFLICT = "Another turn of this encounter landed first; yours was not applied. Send it again."
RESTARTING = "The bot is restarting; say that again in a minute."
MODEL_DOWN = "The game master lost the thread (the language model failed). Say that again."
NO_PERMISSION = (
    "Discord refused me: in this channel I need View Channel, Send Messages, Create Public "
    "Threads, Send Messages in Threads, Manage Threads, Add Reactions, Embed Links and Read "
    "Message History."
)
UNEXPECTED = "Something went wrong on my side; it has been logged for the operator."


def user_message(error: BaseException) -> str:
    """One short line for the player; unexpected errors are logged with their traceback."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, Refusal):
        return str(error)
    if isinstance(error, StoreUnavailable):
        log.warning("store unavailable: %s", error)
        return STORE_DOWN
    if isinstance(error, TurnBusy):
        return TURN_BUSY
    if isinstance(error, TurnConflict):
        return TURN_CONFLICT
    if isinstance(error, ShuttingDown):
        return RESTARTING
    if isinstance(error, LLMError):
        log.warning("model failed: %s", error)
        return MODEL_DOWN
    if isinstance(error, (UserError, DiceError)):
        # Lint failures of a spec arrive here too, as the UsageError load_bundle raises.
        return str(error)
    if isinstance(error, discord.Forbidden):
        log.warning("discord refused: %s", error.text)
        return NO_PERMISSION
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here."
    log.error("unexpected error", exc_info=error)
    return UNEXPECTED
