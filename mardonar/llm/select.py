"""Which model backend a session uses, from settings and `--model`.

LITELLM_* is the primary, OLLAMA_* the fallback (through Ollama's OpenAI-compatible /v1),
neither the offline narrator. `--model NAME` overrides the primary's model (the only
configured backend's, when there is one); `--model offline` forces the offline narrator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mardonar.errors import UsageError
from mardonar.urls import shown_url

if TYPE_CHECKING:
    from mardonar.config import Settings
    from mardonar.content.bundle import Bundle
    from mardonar.llm.base import LLM


def ollama_v1(url: str) -> str:
    """Ollama serves the OpenAI-compatible API under /v1; accept the bare server URL too."""
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


def select_llm(
    bundle: Bundle, settings: Settings, *, model: str | None, seed: int
) -> tuple[LLM, str]:
    """The backend and a one-line description of it for the start-up line (never a key)."""
    from mardonar.llm.offline import OfflineNarrator

    if model == "offline":
        return OfflineNarrator(bundle, seed), "offline narrator (--model offline)"
    if not settings.llm_configured:
        if model is not None:
            raise UsageError(
                f"--model {model}: no LLM is configured; set LITELLM_BASE_URL and LITELLM_MODEL "
                "(or OLLAMA_BASE_URL and OLLAMA_MODEL), or drop --model to play offline",
                exit_code=2,
            )
        return OfflineNarrator(bundle, seed), (
            "offline narrator (no LLM configured: set LITELLM_BASE_URL or OLLAMA_BASE_URL)"
        )

    from mardonar.llm.chain import FallbackChain
    from mardonar.llm.openai_compat import OpenAICompatLLM

    backends: list[LLM] = []
    described: list[str] = []
    override = model
    if settings.litellm_configured:
        assert settings.litellm_base_url and settings.litellm_model
        chosen = override or settings.litellm_model
        override = None
        key = settings.litellm_api_key.get_secret_value() if settings.litellm_api_key else None
        backends.append(
            OpenAICompatLLM(
                base_url=settings.litellm_base_url,
                model=chosen,
                api_key=key,
                label="litellm",
                timeout=settings.mardonar_llm_timeout,
                tool_mode=settings.mardonar_tool_mode,
                settings_prefix="LITELLM",
            )
        )
        described.append(f"litellm {chosen} at {shown_url(settings.litellm_base_url)}")
    if settings.ollama_configured:
        assert settings.ollama_base_url and settings.ollama_model
        chosen = override or settings.ollama_model
        url = ollama_v1(settings.ollama_base_url)
        backends.append(
            OpenAICompatLLM(
                base_url=url,
                model=chosen,
                label="ollama",
                timeout=settings.mardonar_llm_timeout,
                tool_mode=settings.mardonar_tool_mode,
                settings_prefix="OLLAMA",
            )
        )
        described.append(f"ollama {chosen} at {shown_url(url)}")
    text = described[0] + (f" (fallback: {described[1]})" if len(described) > 1 else "")
    if settings.mardonar_tool_mode == "json":
        text += ", JSON tool mode"
    return FallbackChain(backends), text
