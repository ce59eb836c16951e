"""Settings from the environment and `.env`: the names of CONTRACT.md §9, plus Mardonar's own.

The names match the previous bot's `.env`, so an operator can point Mardonar at the file
they already have. The environment wins over `.env`; an empty value (`REDIS_URL=`, common in
the old file) counts as unset. Every attribute is the environment name in lower case
(`LITELLM_MODEL` → `settings.litellm_model`). Code reads them through typed, frozen sections
grouped by who reads them (`settings.llm.litellm.model`, `settings.store.redis_url`): views
built from the flat fields, so the names and their parsing stay the old bot's.

Importing pydantic-settings costs about 0.25 s, so only commands that need settings import
this module, inside their body; `mardonar --help` never does (tests/test_import_hygiene.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from mardonar.config.sections import (
    Backend,
    DiscordSettings,
    LlmSettings,
    MemorySettings,
    StoreSettings,
    ToolMode,
    VttSettings,
)
from mardonar.errors import ConfigError
from mardonar.urls import redact_url

LogLevel = Literal["debug", "info", "warning", "error"]
IdList = Annotated[list[str], NoDecode]

GRAPHMCP_ROLES: frozenset[str] = frozenset({"recall", "remember", "lore", "log", "index"})
"""The memory operations whose GraphMCP tool names MARDONAR_GRAPHMCP_TOOLS can rename."""

SECRET_NAMES: frozenset[str] = frozenset({"DISCORD_TOKEN", "LITELLM_API_KEY"})
"""Variables whose values never appear in an error, a log line or a repr."""

_HTTP = ("http", "https")
_URL_SCHEMES: dict[str, tuple[str, ...]] = {
    "litellm_base_url": _HTTP,
    "ollama_base_url": _HTTP,
    "graphmcp_url": _HTTP,
    "redis_url": ("redis", "rediss", "unix"),
    "vtt_relay_url": (*_HTTP, "ws", "wss"),
}

# How to fix a bad value, per field; the error line ends with it. Fields not listed get a
# generic hint built from the validation error.
_FIXES: dict[str, str] = {
    "discord_client_id": "set it to the application id from the Discord developer portal",
    "discord_guild_id": "set it to the server (guild) id, or leave it empty",
    "discord_allowed_channels": (
        "set it to channel ids separated by commas (right-click a channel, Copy Channel ID)"
    ),
    "discord_allowed_users": (
        "set it to user ids separated by commas (right-click a user, Copy User ID)"
    ),
    "litellm_base_url": "set it to a URL such as http://localhost:4000/v1",
    "ollama_base_url": "set it to a URL such as http://localhost:11434/v1",
    "graphmcp_url": "set it to a URL such as http://localhost:8000/mcp",
    "graphmcp_score_threshold": "set it to a number between 0 and 1",
    "redis_url": "set it to a URL such as redis://localhost:6379/0, or leave it empty",
    "vtt_relay_url": "set it to the relay URL (http, https, ws or wss), or leave it empty",
    "log_level": "set it to debug, info, warning or error",
    "mardonar_context_budget": "set it to a whole number of tokens between 500 and 1000000",
    "mardonar_context_window": (
        "set it to the model's context size in tokens (512 to 100000000), or leave it empty"
    ),
    "mardonar_max_tool_rounds": "set it to a whole number between 0 and 20",
    "mardonar_max_tool_calls": "set it to a whole number between 1 and 50",
    "mardonar_llm_timeout": "set it to a number of seconds between 1 and 3600",
    "mardonar_tool_mode": "set it to native or json",
    "mardonar_session_ttl": "set it to a whole number of seconds between 60 and 2592000",
    "mardonar_turn_lock_timeout": "set it to a number of seconds between 5 and 3600",
    "mardonar_ingest_maxlen": "set it to a whole number between 100 and 10000000",
    "mardonar_graphmcp_tools": (
        "set it to role=tool pairs separated by commas, roles recall, remember, lore, log, index"
    ),
    "mardonar_batch_window": "set it to a number of seconds between 0 and 60",
    "mardonar_rate_limit": "set it to a whole number of messages per minute (1 to 1000)",
    "data_dir": "set it to a directory path",
    "mardonar_health_host": "set it to an address such as 127.0.0.1, or 0.0.0.0 in a container",
}


class Settings(BaseSettings):
    """Mardonar's configuration: environment variables, then `.env` in the working directory."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `REDIS_URL=` in the old bot's .env means "not set"
        case_sensitive=False,
        extra="ignore",  # the old .env holds names we do not use (NODE_ENV, ...)
        use_attribute_docstrings=True,
        validate_default=True,
        frozen=True,
    )

    # ------------------------------------------------------------------ Discord

    discord_token: SecretStr | None = None
    """Bot token for the Discord gateway; `mardonar serve discord` needs it."""
    discord_client_id: str | None = None
    """The Discord application id; `mardonar discord sync` registers commands under it."""
    discord_guild_id: str | None = None
    """A server id to register slash commands in (instant); unset = global commands."""
    discord_allowed_channels: IdList = Field(default_factory=list)
    """Channel ids the bot answers in, comma-separated; empty = it answers nowhere."""
    discord_allowed_users: IdList = Field(default_factory=list)
    """User ids allowed to play, comma-separated; empty = everyone in an allowed channel."""

    # ------------------------------------------------------------------ LLM backends

    litellm_base_url: str | None = None
    """Base URL of the preferred OpenAI-compatible backend (LiteLLM, vLLM, llama.cpp...)."""
    litellm_api_key: SecretStr | None = None
    """API key for the preferred backend; sent as a bearer token."""
    litellm_model: str | None = None
    """Model name asked of the preferred backend."""
    ollama_base_url: str | None = None
    """Base URL of the fallback backend (Ollama's OpenAI-compatible API, ending in /v1)."""
    ollama_model: str | None = None
    """Model name asked of the fallback backend."""

    # ------------------------------------------------------------------ memory and services

    graphmcp_url: str | None = None
    """GraphMCP server for NPC memory and lore search; unset = embedded SQLite search."""
    graphmcp_score_threshold: float = Field(default=0.68, ge=0, le=1)
    """Lowest similarity score (0..1) of a GraphMCP memory or lore hit worth putting in the
    context; keyword-ranked results (`mardonar serve mcp`) are exempt (docs/graphmcp.md)."""
    graphmcp_ingest_stream: str = "raw.messages"
    """Redis stream that GraphMCP ingests encounter logs from."""
    redis_url: str | None = None
    """Redis for sessions and registries; unset = embedded SQLite under DATA_DIR."""
    vtt_relay_url: str | None = None
    """Foundry VTT relay; unset = granted items are recorded, not pushed to Foundry."""
    data_dir: Path = Path("data")
    """Where tally.json, summaries/ and mardonar.db live (relative to the working directory)."""
    log_level: LogLevel = "info"
    """Logging verbosity: debug, info, warning or error; debug also shows tracebacks."""

    # ------------------------------------------------------------------ Mardonar's own

    mardonar_context_budget: int = Field(default=6000, ge=500, le=1_000_000)
    """Token budget of the context built for each turn; older turns are summarised to fit."""
    mardonar_context_window: int | None = Field(default=None, ge=512, le=100_000_000)
    """The model's context window in tokens (prompt and reply together), when the server
    does not report it (llama-cpp-python: its --n_ctx); unset = what the server reports
    (llama.cpp /props, vLLM, LiteLLM's model info), else only the budget counts. The budget
    used is cut to fit: the window less the reply's max_tokens, the tool schemas and 10%."""
    mardonar_max_tool_rounds: int = Field(default=4, ge=0, le=20)
    """Most tool-call rounds in one turn before a final call without tools."""
    mardonar_max_tool_calls: int = Field(default=8, ge=1, le=50)
    """Most tool calls run from one model reply; the next one is refused (the model is told)
    and any after it are dropped, so one reply cannot run hundreds of checks or rolls."""
    mardonar_llm_timeout: float = Field(default=60.0, ge=1, le=3600)
    """Seconds to wait for one LLM call before it counts as failed (then retry/fallback)."""
    mardonar_tool_mode: ToolMode = "native"
    """How tools reach the model: native tool calls, or a prompt-only JSON protocol for
    servers without tool support (small local models behind llama.cpp, older Ollama)."""
    mardonar_session_ttl: int = Field(default=43_200, ge=60, le=30 * 86_400)
    """Seconds a Redis session lives after its last write (sliding; default 12 hours)."""
    mardonar_turn_lock_timeout: float = Field(default=180.0, ge=5, le=3600)
    """Seconds a turn waits for another turn of the same session before giving up; above
    the worst LLM latency. The lock itself lasts 30 s (or this, if shorter), renewed while
    its turn runs, and a lock whose process is gone is taken over at once (docs/redis.md)."""
    mardonar_ingest_maxlen: int = Field(default=10_000, ge=100, le=10_000_000)
    """Approximate cap on the GRAPHMCP_INGEST_STREAM Redis stream (XADD MAXLEN ~)."""
    mardonar_graphmcp_tools: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    """GraphMCP tool names when they differ from ours, as `role=tool` pairs separated by
    commas; roles: recall, remember, lore, log, index (e.g. `recall=memory_search,lore=docs`;
    defaults and shapes in docs/graphmcp.md)."""
    mardonar_batch_window: float = Field(default=2.0, ge=0, le=60)
    """Discord: seconds of quiet that close a burst of player messages into one turn."""
    mardonar_rate_limit: int = Field(default=10, ge=1, le=1000)
    """Discord: most messages one user may send into an encounter per minute."""
    mardonar_health_host: str = Field(default="127.0.0.1", min_length=1)
    """Address the `--health-port` server listens on: loopback by default, since /metrics
    names every spec and session count; a container sets 0.0.0.0 to publish the port."""

    # ------------------------------------------------------------------ validators

    @field_validator("mardonar_graphmcp_tools", mode="before")
    @classmethod
    def _role_pairs(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        pairs: dict[str, str] = {}
        for part in value.split(","):
            if not part.strip():
                continue
            role, sep, tool = part.partition("=")
            role, tool = role.strip(), tool.strip()
            if not sep or not role or not tool:
                raise ValueError(f"{part.strip()!r} is not role=tool")
            if role not in GRAPHMCP_ROLES:
                raise ValueError(f"unknown role {role!r}")
            pairs[role] = tool
        return pairs

    @field_validator("discord_allowed_channels", "discord_allowed_users", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        """`"123, 456,"` → `["123", "456"]`; blanks between commas are dropped."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("discord_allowed_channels", "discord_allowed_users")
    @classmethod
    def _snowflakes(cls, value: list[str]) -> list[str]:
        """Ids, not names: `general` or `bob` would never match a message, and the bot used
        to die on it at the first message with a ValueError from int()."""
        names = [part for part in value if not part.isdigit()]
        if names:
            shown = ", ".join(repr(name) for name in names[:3])
            raise ValueError(f"has {shown}, which is not a Discord id (digits only)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return "warning" if value == "warn" else value
        return value

    @field_validator(
        "discord_client_id",
        "discord_guild_id",
        "litellm_base_url",
        "litellm_model",
        "ollama_base_url",
        "ollama_model",
        "graphmcp_url",
        "redis_url",
        "vtt_relay_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """`KEY="  "` (or `Settings(key="")`) means unset, like an empty line in `.env`."""
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @field_validator("discord_token", "litellm_api_key", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("discord_client_id", "discord_guild_id")
    @classmethod
    def _snowflake(cls, value: str | None) -> str | None:
        if value is not None and not value.isdigit():
            raise ValueError("is not a Discord id (digits only)")
        return value

    @field_validator(*_URL_SCHEMES)
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        schemes = _URL_SCHEMES[str(info.field_name)]
        scheme = urlsplit(value).scheme.lower() if "://" in value else ""
        if scheme not in schemes:
            allowed = ", ".join(f"{s}://" for s in schemes)
            raise ValueError(f"is not a URL starting with {allowed}")
        return value

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    # ------------------------------------------------------------------ sections

    @property
    def llm(self) -> LlmSettings:
        """The LLM backends: LITELLM_*, OLLAMA_*, MARDONAR_LLM_TIMEOUT, MARDONAR_TOOL_MODE."""
        return LlmSettings(
            litellm=Backend(
                "LITELLM", self.litellm_base_url, self.litellm_model, self.litellm_api_key
            ),
            ollama=Backend("OLLAMA", self.ollama_base_url, self.ollama_model),
            timeout=self.mardonar_llm_timeout,
            tool_mode=self.mardonar_tool_mode,
            context_window=self.mardonar_context_window,
        )

    @property
    def discord(self) -> DiscordSettings:
        """The bot: DISCORD_*, MARDONAR_BATCH_WINDOW, MARDONAR_RATE_LIMIT."""
        return DiscordSettings(
            token=self.discord_token,
            client_id=self.discord_client_id,
            guild_id=self.discord_guild_id,
            allowed_channels=tuple(self.discord_allowed_channels),
            allowed_users=tuple(self.discord_allowed_users),
            batch_window=self.mardonar_batch_window,
            rate_limit=self.mardonar_rate_limit,
        )

    @property
    def memory(self) -> MemorySettings:
        """GRAPHMCP_*, MARDONAR_GRAPHMCP_TOOLS, MARDONAR_INGEST_MAXLEN."""
        return MemorySettings(
            graphmcp_url=self.graphmcp_url,
            score_threshold=self.graphmcp_score_threshold,
            tools=dict(self.mardonar_graphmcp_tools),
            ingest_stream=self.graphmcp_ingest_stream,
            ingest_maxlen=self.mardonar_ingest_maxlen,
        )

    @property
    def store(self) -> StoreSettings:
        """REDIS_URL, DATA_DIR, MARDONAR_SESSION_TTL, MARDONAR_TURN_LOCK_TIMEOUT."""
        return StoreSettings(
            redis_url=self.redis_url,
            data_dir=self.data_dir,
            session_ttl=self.mardonar_session_ttl,
            turn_lock_timeout=self.mardonar_turn_lock_timeout,
        )

    @property
    def vtt(self) -> VttSettings:
        """VTT_RELAY_URL."""
        return VttSettings(relay_url=self.vtt_relay_url)

    # ------------------------------------------------------------------ derived

    @property
    def debug(self) -> bool:
        """LOG_LEVEL=debug: show tracebacks and every engine event."""
        return self.log_level == "debug"

    def incomplete(self) -> list[str]:
        """Half-configured parts, one line each, for `mardonar doctor` and start-up warnings.

        These are not load errors: a half-configured LLM backend still leaves the other
        one (or the offline narrator), but the operator almost certainly meant otherwise.
        """
        problems: list[str] = []
        llm = self.llm
        for backend in (llm.litellm, llm.ollama):
            prefix = backend.prefix
            if backend.base_url and not backend.model:
                problems.append(f"{prefix}_BASE_URL is set but {prefix}_MODEL is not: set it")
            elif backend.model and not backend.base_url:
                problems.append(f"{prefix}_MODEL is set but {prefix}_BASE_URL is not: set it")
        if self.litellm_api_key is not None and not self.litellm_base_url:
            problems.append("LITELLM_API_KEY is set but LITELLM_BASE_URL is not: set it")
        return problems

    def secrets(self) -> list[str]:
        """Every secret value in the settings (the tokens, passwords and queries in URLs),
        longest first: what doctor's rows and the JSON logs must never show. Longest first,
        so a secret containing another is masked whole."""
        found: list[str] = []
        for secret in (self.litellm_api_key, self.discord_token):
            if secret is not None:
                found.append(secret.get_secret_value())
        urls = (
            self.litellm_base_url,
            self.ollama_base_url,
            self.graphmcp_url,
            self.redis_url,
            self.vtt_relay_url,
        )
        for url in urls:
            if not url:
                continue
            try:
                parts = urlsplit(url)
                if parts.password:
                    found.append(parts.password)
            except ValueError:
                continue
            if parts.query:
                found.append(parts.query)
        return sorted({s for s in found if s.strip()}, key=len, reverse=True)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Secrets show as `**********` (SecretStr); passwords inside URLs as `***`."""
        for name, value in super().__repr_args__():
            if name in _URL_SCHEMES and isinstance(value, str):
                yield name, redact_url(value)
            else:
                yield name, value


# ---------------------------------------------------------------------- loading


def load_settings(env_file: Path | None = Path(".env")) -> Settings:
    """Read the settings; a bad value becomes one `ConfigError` line naming it and the fix.

    `env_file` is read relative to the working directory (None: the environment only).
    """
    try:
        return Settings(_env_file=env_file)
    except ValidationError as error:
        raise ConfigError(_describe(error, env_file)) from None
    except UnicodeDecodeError as error:
        message = f"{env_file} is not UTF-8 text ({error.reason}): re-save it as UTF-8"
        raise ConfigError(message) from None
    except OSError as error:
        raise ConfigError(f"cannot read {env_file}: {error.strerror or error}") from None
    except SettingsError as error:  # a source failed to parse; keep its first line only
        raise ConfigError(f"cannot read the settings: {str(error).splitlines()[0]}") from None


def _describe(error: ValidationError, env_file: Path | None) -> str:
    """All bad variables on one line, joined by "; "."""
    lines: list[str] = []
    for item in error.errors(include_url=False):
        field = str(item["loc"][0]) if item["loc"] else ""
        name = field.upper()
        shown = "" if name in SECRET_NAMES else f"={_show(item.get('input'), field)}"
        fix = _FIXES.get(field, "fix or remove it")
        where = "in the environment" if _in_environment(name) else f"in {env_file or '.env'}"
        lines.append(f"{name}{shown} {_problem(item)}: {fix} ({where})")
    return "; ".join(dict.fromkeys(lines))  # one line per variable, in field order


def _in_environment(name: str) -> bool:
    wanted = name.casefold()
    return any(key.casefold() == wanted for key in os.environ)


def _show(value: Any, field: str) -> str:
    """The bad value as `'text'`, URL passwords masked, long values cut to 60 characters."""
    text = value if isinstance(value, str) else str(value)
    if field in _URL_SCHEMES:
        text = redact_url(text)
    if len(text) > 60:
        text = text[:57] + "..."
    return repr(text)  # repr escapes newlines, so the message stays one line


_PHRASES: dict[str, str] = {
    "float_parsing": "is not a number",
    "float_type": "is not a number",
    "int_parsing": "is not a whole number",
    "int_type": "is not a whole number",
    "int_from_float": "is not a whole number",
    "finite_number": "is not a finite number",
}
"""Pydantic's error types that always read the same, whatever the value."""


def _problem(item: Any) -> str:
    """What is wrong, in words: pydantic's error type → a short phrase."""
    kind = item["type"]
    ctx = item.get("ctx") or {}
    if kind in _PHRASES:
        return _PHRASES[kind]
    if kind in ("greater_than_equal", "greater_than"):
        return f"is below {ctx.get('ge', ctx.get('gt')):g}"
    if kind in ("less_than_equal", "less_than"):
        return f"is above {ctx.get('le', ctx.get('lt')):g}"
    if kind == "literal_error":
        return f"is not one of {ctx.get('expected', 'the allowed values')}"
    if kind == "value_error":
        return str(ctx.get("error", item["msg"]))
    return str(item["msg"]).splitlines()[0].lower()
