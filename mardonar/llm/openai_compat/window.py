"""The model's context window, as the server reports it: asked once per process.

No OpenAI-compatible endpoint says how many tokens a model holds, but the servers we meet
say it in their own places, all asked at once (each is a fast 404 elsewhere):

- vLLM: `GET /v1/models`, each entry's `max_model_len`;
- llama.cpp's own server (`llama-server`): `GET /props` at the root (not under /v1),
  `default_generation_settings.n_ctx`, the context it was started with;
- the LiteLLM proxy: `GET /v1/model/info`, the entry whose `model_name` is ours,
  `model_info.max_input_tokens` (else `max_tokens`), from its model table or config.yaml.

llama-cpp-python's server (`python -m llama_cpp.server`) reports none of these: its window
is `--n_ctx` (default 2048), which only MARDONAR_CONTEXT_WINDOW can tell us. Ollama's
`/v1/models` carries none either. Unknown is None: the budget is then MARDONAR_CONTEXT_BUDGET.

The answer is cached per (base URL, model) for the process: a Discord bot makes one backend
per encounter, and every one of them would otherwise ask again. A server that could not be
reached at all is asked again after `RETRY_AFTER` seconds; one that answered is not.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from mardonar.llm.base import ContextWindow
from mardonar.llm.openai_compat.errors import _caught

if TYPE_CHECKING:
    from mardonar.llm.openai_compat.client import OpenAICompatLLM

WINDOW_TIMEOUT = 3.0
"""Most seconds the three requests may take together: they run before a session's first
turn, and a server that does not answer that fast is no help."""
RETRY_AFTER = 60.0
"""Seconds before a server that could not be reached is asked again."""

_known: dict[tuple[str, str], ContextWindow | None] = {}
_unreachable_until: dict[tuple[str, str], float] = {}


def forget() -> None:
    """Drop every cached answer (tests start servers on the same port with other windows)."""
    _known.clear()
    _unreachable_until.clear()


async def reported_window(llm: OpenAICompatLLM) -> ContextWindow | None:
    """The window the server behind `llm` reports, or None; never raises."""
    key = (llm.base_url, llm.model)
    if key in _known:
        return _known[key]
    if _unreachable_until.get(key, 0.0) > time.monotonic():
        return None
    # No lock: two sessions starting at once may both ask, which costs three small GETs;
    # a lock would belong to one event loop, and a backend outlives `asyncio.run`s.
    try:
        found, answered = await asyncio.wait_for(_ask(llm), WINDOW_TIMEOUT + 0.5)
    except TimeoutError:
        found, answered = None, False
    if answered:
        _known[key] = found
    else:
        _unreachable_until[key] = time.monotonic() + RETRY_AFTER
    return found


async def _ask(llm: OpenAICompatLLM) -> tuple[ContextWindow | None, bool]:
    """(the window, whether any of the servers' places answered at all)."""
    root = llm.base_url.removesuffix("/v1")
    asked: list[Awaitable[Any]] = [
        _get(llm, "/models"),
        _get(llm, f"{root}/props"),
        _get(llm, "/model/info"),
    ]
    models, props, info = await asyncio.gather(*asked)
    answered = any(answer is not _NO_ANSWER for answer in (models, props, info))
    for found in (_from_models(llm.model, models), _from_props(props), _from_info(llm, info)):
        if found is not None:
            return found, True
    return None, answered


_NO_ANSWER = object()
"""Not even an HTTP error came back (refused, timed out): the server may come back."""


async def _get(llm: OpenAICompatLLM, path: str) -> Any:
    """The JSON at `path` (relative to the base URL, or absolute); None for an HTTP error
    or a body that is not JSON, `_NO_ANSWER` when nothing answered."""
    import openai

    client = llm._openai(timeout=WINDOW_TIMEOUT)
    try:
        return await client.get(path, cast_to=object)
    except openai.APIStatusError:
        return None
    except (openai.APIConnectionError, openai.APITimeoutError):
        return _NO_ANSWER
    except _caught():
        return None
    except ValueError:  # a 200 that is not JSON (a web page at /props)
        return None


def _tokens(value: Any) -> int | None:
    """A plausible window size: a whole number of tokens from 256 to 100 million."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    tokens = int(value)
    return tokens if 256 <= tokens <= 100_000_000 else None


def _entries(payload: Any) -> list[dict[str, Any]]:
    data = payload.get("data") if isinstance(payload, dict) else None
    return [entry for entry in data if isinstance(entry, dict)] if isinstance(data, list) else []


def _from_models(model: str, payload: Any) -> ContextWindow | None:
    for entry in _entries(payload):
        if entry.get("id") in (model, f"{model}:latest"):
            tokens = _tokens(entry.get("max_model_len"))
            if tokens is not None:
                return ContextWindow(tokens, "vLLM max_model_len")
    return None


def _from_props(payload: Any) -> ContextWindow | None:
    if not isinstance(payload, dict):
        return None
    settings = payload.get("default_generation_settings")
    n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
    tokens = _tokens(n_ctx if n_ctx is not None else payload.get("n_ctx"))
    return ContextWindow(tokens, "llama.cpp /props") if tokens is not None else None


def _from_info(llm: OpenAICompatLLM, payload: Any) -> ContextWindow | None:
    for entry in _entries(payload):
        if entry.get("model_name") != llm.model:
            continue
        info = entry.get("model_info")
        if not isinstance(info, dict):
            continue
        for field in ("max_input_tokens", "max_tokens"):
            tokens = _tokens(info.get(field))
            if tokens is not None:
                return ContextWindow(tokens, f"LiteLLM /model/info {field}")
    return None
