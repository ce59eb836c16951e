"""The context budget fitted to the model's context window.

MARDONAR_CONTEXT_BUDGET is what the operator wants a turn's context to cost; the model's
window is what it can hold. When the window is known (MARDONAR_CONTEXT_WINDOW, or what the
server reports: `ReportsWindow`), the budget used is the smaller of the two, the window
less what the request needs besides the context: the reply (`max_tokens`), the tool
schemas (~1,000 tokens for our eight, not counted in the budget) and a 10% margin for the
estimate (~4 characters a token; real tokenizers differ by ±15%). A model with no window
(the offline narrator, replay's cassette) keeps the budget as it is.

A spec whose fixed parts (persona, GM view, party, state of play) do not fit even then
cannot be played on that model: `Engine.start` says so in one line naming the setting,
rather than the server refusing every turn (llama-cpp-python cuts the stream without a word).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mardonar.content.render import estimate_tokens
from mardonar.engine.context import build_context
from mardonar.engine.tools import TOOL_SPECS
from mardonar.errors import ConfigError
from mardonar.llm.base import LLM, ContextWindow, ReportsWindow

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.engine.session import Session
    from mardonar.memory.base import Memory

MARGIN = 0.10
"""Share of the window kept free for the estimate's error and the chat template."""
DEFAULT_REPLY = 400
"""Tokens kept for the reply when the persona sets no `max_tokens`."""
FIXED_SECTIONS = ("persona", "spec", "party", "state")
"""The context sections that go in whole every turn (engine/context.py's names)."""


def tool_schema_tokens() -> int:
    """The estimated tokens of the tool schemas sent with every request but the last."""
    schemas = [
        {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
        for tool in TOOL_SPECS
    ]
    return estimate_tokens(json.dumps(schemas))


@dataclass(frozen=True)
class Fitted:
    """The budget a turn's context may use, and how it came about."""

    budget: int
    configured: int
    """MARDONAR_CONTEXT_BUDGET."""
    window: ContextWindow
    reply: int
    tools: int
    margin: int

    @property
    def cut(self) -> bool:
        """The window, not the setting, decides the budget."""
        return self.budget < self.configured


def fit(configured: int, window: ContextWindow, *, reply: int | None) -> Fitted:
    """The budget for `window`: min(configured, window − reply − tool schemas − margin)."""
    reply_tokens = reply if reply is not None else DEFAULT_REPLY
    tools = tool_schema_tokens()
    margin = round(window.tokens * MARGIN)
    room = window.tokens - reply_tokens - tools - margin
    return Fitted(max(min(configured, room), 0), configured, window, reply_tokens, tools, margin)


async def window_of(llm: LLM) -> ContextWindow | None:
    """The model's window, when it has one to tell (never raises: `ReportsWindow`)."""
    return await llm.context_window() if isinstance(llm, ReportsWindow) else None


async def fixed_tokens(bundle: Bundle, session: Session, memory: Memory, budget: int) -> int:
    """The tokens of the context's fixed parts, as the context builder makes them."""
    built = await build_context(bundle, session, memory, [], budget=budget)
    return sum(section.tokens for section in built.sections if section.name in FIXED_SECTIONS)


def check_fits(fitted: Fitted, fixed: int, *, spec: str, model: str) -> None:
    """One `ConfigError` line when the fixed parts do not fit in the fitted budget."""
    if fixed <= fitted.budget:
        return
    window = fitted.window
    raise ConfigError(
        f"{spec}: the fixed part of the prompt (persona, GM view, party, state of play: "
        f"~{fixed:,} tokens) does not fit the {window.tokens:,}-token context window of "
        f"{model} ({window.source}), which leaves {fitted.budget:,} after the reply "
        f"({fitted.reply:,}), the tool schemas (~{fitted.tools:,}) and a 10% margin: start "
        "the server with a larger context and set MARDONAR_CONTEXT_WINDOW to it, or shorten "
        "the persona and the spec"
    )
