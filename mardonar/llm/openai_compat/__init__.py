"""The OpenAI-compatible backend: LiteLLM, Ollama's /v1, vLLM, llama.cpp server, LM Studio.

One class (`OpenAICompatLLM`, client.py) talks to all of them through the `openai` SDK's
async client, streaming. What it adds to the SDK is what the turn loop needs from a backend:

- Tool calls arrive as deltas spread over many chunks; they are assembled (deltas.py) and
  handed on as complete `ToolCall`s at the end of the stream. Text is handed on as it arrives.
- Failures are sorted into the two kinds the fallback chain acts on (errors.py). Down, timed
  out, overloaded (connection errors, 429, 5xx) is `LLMUnavailable` after ONE retry of our
  own (the SDK's retries are off: two layers of retries would multiply the wait before the
  fallback). A failure after text was already handed on is never retried — the players saw
  it — and says so (`partial=True`). The caller's fault (bad key, unknown model, a request
  the server rejects) is `LLMConfigError` naming the setting to fix, never retried.
- Messages never carry the API key: servers that echo it back (LiteLLM does) are redacted.
- `tool_mode="json"` (MARDONAR_TOOL_MODE=json, jsonmode.py) is for servers or models
  without tool support; wire.py is the native wire format.
- `probe()` is `mardonar doctor`'s view: reachable, model served, tool calls work (probe.py).
"""

from mardonar.llm.openai_compat.client import NO_KEY, OpenAICompatLLM
from mardonar.llm.openai_compat.jsonmode import (
    TOOL_RESULT_PREFIX,
    json_mode_instructions,
    json_mode_messages,
    parse_json_calls,
)
from mardonar.llm.openai_compat.probe import PROBE_TIMEOUT, Probe
from mardonar.llm.openai_compat.wire import ToolMode, native_message, tool_param

__all__ = [
    "NO_KEY",
    "PROBE_TIMEOUT",
    "TOOL_RESULT_PREFIX",
    "OpenAICompatLLM",
    "Probe",
    "ToolMode",
    "json_mode_instructions",
    "json_mode_messages",
    "native_message",
    "parse_json_calls",
    "tool_param",
]
