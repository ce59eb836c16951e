"""The typed sections of the settings: read-only views of `Settings`' flat fields.

Pydantic-settings groups settings with nested models, whose variables would then be named
`DISCORD__TOKEN`; the names must stay the old bot's, so the fields stay flat (and parsed and
validated there) and each section here is a frozen view of some of them, grouped by who
reads them. `Settings` builds one on each access: a few copies, read at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

ToolMode = Literal["native", "json"]


@dataclass(frozen=True)
class Backend:
    """One OpenAI-compatible LLM backend: LITELLM_* (preferred) or OLLAMA_* (fallback)."""

    prefix: str
    """Its variables' prefix, `LITELLM` or `OLLAMA`: what a line about it names."""
    base_url: str | None
    model: str | None
    api_key: SecretStr | None = None

    @property
    def configured(self) -> bool:
        """It has what it needs: a base URL and a model name."""
        return bool(self.base_url and self.model)


@dataclass(frozen=True)
class LlmSettings:
    """The model backends and how they are called (llm/select.py, doctor)."""

    litellm: Backend
    ollama: Backend
    timeout: float
    tool_mode: ToolMode
    context_window: int | None = None
    """MARDONAR_CONTEXT_WINDOW: the model's context in tokens, over what servers report."""

    @property
    def configured(self) -> bool:
        """Any backend is configured; without one, play uses the offline narrator."""
        return self.litellm.configured or self.ollama.configured


@dataclass(frozen=True)
class DiscordSettings:
    """The bot: its identity, who may play where, and how fast (channels/discord/, doctor)."""

    token: SecretStr | None
    client_id: str | None
    guild_id: str | None
    allowed_channels: tuple[str, ...]
    allowed_users: tuple[str, ...]
    batch_window: float
    rate_limit: int


@dataclass(frozen=True)
class MemorySettings:
    """NPC memory and lore search, and the stream GraphMCP ingests (runtime.py, doctor)."""

    graphmcp_url: str | None
    score_threshold: float
    tools: Mapping[str, str]
    ingest_stream: str
    ingest_maxlen: int

    @property
    def graphmcp_configured(self) -> bool:
        """NPC memory and lore search go to GraphMCP rather than embedded SQLite search."""
        return self.graphmcp_url is not None


@dataclass(frozen=True)
class StoreSettings:
    """Where sessions, registries and files live (runtime.py, the CLI, doctor)."""

    redis_url: str | None
    data_dir: Path
    session_ttl: int
    turn_lock_timeout: float

    @property
    def redis_configured(self) -> bool:
        """Sessions and registries go to Redis rather than the embedded SQLite store."""
        return self.redis_url is not None


@dataclass(frozen=True)
class VttSettings:
    """Foundry VTT (runtime.py, `mardonar vtt`, doctor)."""

    relay_url: str | None

    @property
    def configured(self) -> bool:
        """Granted items are pushed to Foundry VTT through the relay."""
        return self.relay_url is not None
