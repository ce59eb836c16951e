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
    from mardonar.llm.openai_compat import OpenAICompatLLM


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
    if not settings.llm.configured:
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

    backends = configured_backends(settings, model=model)
    described = [f"{llm.label} {llm.model} at {shown_url(llm.base_url)}" for llm in backends]
    text = described[0] + (f" (fallback: {described[1]})" if len(described) > 1 else "")
    if settings.llm.tool_mode == "json":
        text += ", JSON tool mode"
    return FallbackChain(list(backends)), text


def configured_backends(
    settings: Settings, *, model: str | None = None, timeout: float | None = None
) -> list[OpenAICompatLLM]:
    """The OpenAI-compatible backends the settings configure, primary first. `play` chains
    them and `doctor` probes them, so both talk to exactly the same servers and models.
    `model` replaces the first one's model (`--model`); `timeout` the per-request timeout."""
    from mardonar.llm.openai_compat import OpenAICompatLLM

    backends: list[OpenAICompatLLM] = []
    wanted = settings.llm
    litellm, ollama = wanted.litellm, wanted.ollama
    limit = timeout if timeout is not None else wanted.timeout
    if litellm.configured:
        assert litellm.base_url and litellm.model
        key = litellm.api_key.get_secret_value() if litellm.api_key else None
        backends.append(
            OpenAICompatLLM(
                base_url=litellm.base_url,
                model=model or litellm.model,
                api_key=key,
                label="litellm",
                timeout=limit,
                tool_mode=wanted.tool_mode,
                context_window=wanted.context_window,
                settings_prefix="LITELLM",
            )
        )
        model = None  # --model belongs to the primary
    if ollama.configured:
        assert ollama.base_url and ollama.model
        backends.append(
            OpenAICompatLLM(
                base_url=ollama_v1(ollama.base_url),
                model=model or ollama.model,
                label="ollama",
                timeout=limit,
                tool_mode=wanted.tool_mode,
                context_window=wanted.context_window,
                settings_prefix="OLLAMA",
            )
        )
    return backends
