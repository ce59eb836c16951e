"""Which model backend a session uses, from settings and `--model`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mardonar.config import Settings
    from mardonar.content.bundle import Bundle
    from mardonar.llm.base import LLM


def select_llm(
    bundle: Bundle, settings: Settings, *, model: str | None, seed: int
) -> tuple[LLM, str]:
    """The backend and a one-line description of it for the start-up line.

    The OpenAI-compatible backends (LiteLLM, Ollama) arrive with issue #4; until then a
    configured LLM is reported and the offline narrator runs.
    """
    from mardonar.llm.offline import OfflineNarrator

    narrator = OfflineNarrator(bundle, seed)
    if model == "offline":
        return narrator, "offline narrator (--model offline)"
    if settings.llm_configured:
        return narrator, (
            "offline narrator (LITELLM_/OLLAMA_ settings found, but the LLM backends are not "
            "built yet: issue #4)"
        )
    return narrator, "offline narrator (no LLM configured: set LITELLM_BASE_URL or OLLAMA_BASE_URL)"
