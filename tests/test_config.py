"""Settings: the environment, `.env`, defaults, and one-line errors that never leak secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from mardonar.config import SECRET_NAMES, Settings, load_settings
from mardonar.errors import ConfigError, UserError

SECRET = "sk-do-not-print-me-4242"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory of our own, so `.env` means the file this test writes."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_env(folder: Path, text: str) -> None:
    (folder / ".env").write_text(text, encoding="utf-8")


def test_defaults_with_nothing_set(workdir: Path) -> None:
    settings = load_settings()

    assert settings.graphmcp_score_threshold == 0.68
    assert settings.graphmcp_ingest_stream == "raw.messages"
    assert settings.data_dir == Path("data")
    assert settings.log_level == "info"
    assert settings.mardonar_context_budget == 6000
    assert settings.mardonar_max_tool_rounds == 4
    assert settings.mardonar_llm_timeout == 60.0
    assert settings.discord_allowed_channels == []
    assert settings.discord_allowed_users == []
    assert settings.discord_token is None
    assert settings.redis_url is None
    assert not settings.llm.configured
    assert settings.discord.token is None
    assert settings.incomplete() == []


def test_reads_dotenv_in_the_working_directory(workdir: Path) -> None:
    write_env(
        workdir,
        "LITELLM_BASE_URL=http://localhost:4000/v1\n"
        "LITELLM_MODEL=gpt-4o-mini\n"
        "GRAPHMCP_SCORE_THRESHOLD=0.5\n"
        "DATA_DIR=state\n"
        "LOG_LEVEL=DEBUG\n"
        "MARDONAR_CONTEXT_BUDGET=9000\n",
    )

    settings = load_settings()

    assert settings.litellm_base_url == "http://localhost:4000/v1"
    assert settings.litellm_model == "gpt-4o-mini"
    assert settings.llm.configured and settings.llm.litellm.configured
    assert not settings.llm.ollama.configured
    assert settings.graphmcp_score_threshold == 0.5
    assert settings.data_dir == Path("state")
    assert settings.log_level == "debug" and settings.debug
    assert settings.mardonar_context_budget == 9000


def test_environment_wins_over_dotenv(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_env(workdir, "LITELLM_MODEL=from-dotenv\nOLLAMA_MODEL=llama3\n")
    monkeypatch.setenv("LITELLM_MODEL", "from-environment")

    settings = load_settings()

    assert settings.litellm_model == "from-environment"
    assert settings.ollama_model == "llama3"


def test_env_file_none_ignores_dotenv(workdir: Path) -> None:
    write_env(workdir, "LITELLM_MODEL=from-dotenv\n")

    assert load_settings(None).litellm_model is None
    assert load_settings(workdir / ".env").litellm_model == "from-dotenv"


def test_comma_separated_ids(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_env(workdir, "DISCORD_ALLOWED_CHANNELS=111, 222,,333 ,\n")
    monkeypatch.setenv("DISCORD_ALLOWED_USERS", "444")

    settings = load_settings()

    assert settings.discord_allowed_channels == ["111", "222", "333"]
    assert settings.discord_allowed_users == ["444"]


def test_old_bot_dotenv_empty_values_and_unknown_names(workdir: Path) -> None:
    """The previous bot's .env: `REDIS_URL=` lines, quotes, comments, names we never use."""
    write_env(
        workdir,
        "# production bot\n"
        "NODE_ENV=production\n"
        'DISCORD_TOKEN=""\n'
        "DISCORD_ALLOWED_CHANNELS=\n"
        "REDIS_URL=\n"
        "VTT_RELAY_URL=\n"
        "GRAPHMCP_SCORE_THRESHOLD=\n"
        "LITELLM_API_KEY=\n"
        "OLLAMA_BASE_URL='http://ollama:11434/v1'\n"
        "OLLAMA_MODEL=llama3.1\n",
    )

    settings = load_settings()

    assert settings.discord_token is None
    assert settings.discord_allowed_channels == []
    assert settings.redis_url is None and not settings.store.redis_configured
    assert settings.vtt_relay_url is None and not settings.vtt.configured
    assert settings.graphmcp_score_threshold == 0.68
    assert settings.litellm_api_key is None
    assert settings.ollama_base_url == "http://ollama:11434/v1"
    assert settings.llm.ollama.configured and settings.llm.configured


def test_empty_environment_value_counts_as_unset(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("LOG_LEVEL", "")
    monkeypatch.setenv("DISCORD_GUILD_ID", "   ")

    settings = load_settings()

    assert settings.redis_url is None
    assert settings.log_level == "info"
    assert settings.discord_guild_id is None


def test_bad_threshold_is_one_line_naming_the_variable(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHMCP_SCORE_THRESHOLD", "abc")

    with pytest.raises(ConfigError) as raised:
        load_settings()

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("GRAPHMCP_SCORE_THRESHOLD='abc' is not a number")
    assert "between 0 and 1" in message
    assert "environment" in message
    assert isinstance(raised.value, UserError) and raised.value.exit_code == 1


def test_out_of_range_value_from_dotenv_says_so(workdir: Path) -> None:
    write_env(workdir, "GRAPHMCP_SCORE_THRESHOLD=1.5\nMARDONAR_MAX_TOOL_ROUNDS=-1\n")

    with pytest.raises(ConfigError) as raised:
        load_settings()

    message = str(raised.value)
    assert "\n" not in message
    assert "GRAPHMCP_SCORE_THRESHOLD='1.5' is above 1" in message
    assert "MARDONAR_MAX_TOOL_ROUNDS='-1' is below 0" in message
    assert "(in .env)" in message
    assert message.count("; ") == 1  # one clause per bad variable


@pytest.mark.parametrize(
    ("name", "value", "phrase"),
    [
        ("LOG_LEVEL", "verbose", "is not one of"),
        ("REDIS_URL", "localhost:6379", "is not a URL starting with redis://"),
        ("LITELLM_BASE_URL", "localhost:4000", "is not a URL starting with http://"),
        ("DISCORD_GUILD_ID", "my-server", "is not a Discord id"),
        ("DISCORD_ALLOWED_CHANNELS", "general", "has 'general', which is not a Discord id"),
        ("DISCORD_ALLOWED_USERS", "123,bob", "has 'bob', which is not a Discord id"),
        ("MARDONAR_CONTEXT_BUDGET", "lots", "is not a whole number"),
        ("MARDONAR_LLM_TIMEOUT", "0", "is below 1"),
    ],
)
def test_each_bad_value_is_named_with_a_fix(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, phrase: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError) as raised:
        load_settings()

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{name}={value!r} {phrase}")
    assert ": set it to" in message


def test_log_level_is_case_insensitive(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "Warning")
    assert load_settings().log_level == "warning"


def test_secrets_never_appear_in_repr_or_str(workdir: Path) -> None:
    write_env(
        workdir,
        f"DISCORD_TOKEN={SECRET}\nLITELLM_API_KEY={SECRET}\n"
        f"REDIS_URL=redis://:{SECRET}@cache:6379/0\n",
    )

    settings = load_settings()

    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == SECRET
    assert settings.redis_url == f"redis://:{SECRET}@cache:6379/0"
    for shown in (repr(settings), str(settings)):
        assert SECRET not in shown
        assert "redis://:***@cache:6379/0" in shown


def test_secrets_never_appear_in_errors(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when the secret itself is what is wrong, the error names it without its value."""
    write_env(workdir, f"LITELLM_API_KEY={SECRET}\n")
    monkeypatch.setenv("REDIS_URL", f"http://:{SECRET}@cache:6379")  # wrong scheme
    monkeypatch.setenv("GRAPHMCP_SCORE_THRESHOLD", "nope")

    with pytest.raises(ConfigError) as raised:
        load_settings()

    message = str(raised.value)
    assert SECRET not in message
    assert "REDIS_URL='http://:***@cache:6379'" in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_secret_names_are_the_two_secrets() -> None:
    assert {"DISCORD_TOKEN", "LITELLM_API_KEY"} == SECRET_NAMES


def test_incomplete_backends_are_reported(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_BASE_URL", "http://localhost:4000")
    monkeypatch.setenv("OLLAMA_MODEL", "llama3")

    settings = load_settings()

    assert not settings.llm.configured
    assert settings.incomplete() == [
        "LITELLM_BASE_URL is set but LITELLM_MODEL is not: set it",
        "OLLAMA_MODEL is set but OLLAMA_BASE_URL is not: set it",
    ]


def test_every_field_is_documented() -> None:
    """Attribute docstrings are the documentation; docs/configuration.md lists every name."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text(
        encoding="utf-8"
    )
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no attribute docstring"
        assert f"`{name.upper()}`" in docs, f"docs/configuration.md does not describe {name}"


def test_the_suite_ignores_a_dotenv_in_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/operations.md tells operators to keep the old bot's `.env` in the clone; with it
    there, tests built Settings against REDIS_URL=redis://localhost:6379/0 and failed."""
    from tests.conftest import CHECKOUT_DOTENV

    created = not CHECKOUT_DOTENV.exists()
    if created:
        CHECKOUT_DOTENV.write_text(
            "REDIS_URL=redis://127.0.0.1:9/0\nGRAPHMCP_URL=http://127.0.0.1:9/mcp\n",
            encoding="utf-8",
        )
    monkeypatch.chdir(CHECKOUT_DOTENV.parent)  # where `make test` runs pytest
    try:
        assert (Settings().redis_url, Settings().graphmcp_url) == (None, None)
        assert load_settings().redis_url is None
    finally:
        if created:
            CHECKOUT_DOTENV.unlink()


OLD_BOT_ENV = (
    "DISCORD_TOKEN=MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.fake-token-for-tests-0123456789abcdef\n"
    "DISCORD_CLIENT_ID=123456789012345678\n"
    "DISCORD_ALLOWED_CHANNELS=234567890123456789,345678901234567890\n"
    "DISCORD_ALLOWED_USERS=\n"
    "LITELLM_BASE_URL=http://localhost:4000/v1\n"
    "LITELLM_API_KEY=sk-your-key-here\n"
    "LITELLM_MODEL=gpt-4o-mini\n"
    "OLLAMA_BASE_URL=http://localhost:11434\n"
    "GRAPHMCP_URL=http://localhost:8000/mcp\n"
    "GRAPHMCP_SCORE_THRESHOLD=0.5\n"
    "REDIS_URL=redis://localhost:6379/0\n"
    "VTT_RELAY_URL=ws://localhost:30000/relay\n"
    "DATA_DIR=./state\n"
    "MARDONAR_MAX_TOOL_CALLS=3\n"
    "MARDONAR_SESSION_TTL=600\n"
    "MARDONAR_GRAPHMCP_TOOLS=recall=memory_search\n"
)


def test_sections_read_the_old_bots_names(workdir: Path) -> None:
    """The old bot's `.env` reaches code through the sections, each name where it belongs."""
    write_env(workdir, OLD_BOT_ENV)

    settings = load_settings()

    discord = settings.discord
    assert discord.token is not None and discord.token.get_secret_value().endswith("abcdef")
    assert discord.client_id == "123456789012345678" and discord.guild_id is None
    assert discord.allowed_channels == ("234567890123456789", "345678901234567890")
    assert discord.allowed_users == ()
    llm = settings.llm
    assert llm.litellm.configured and llm.litellm.model == "gpt-4o-mini"
    assert llm.litellm.api_key is not None
    assert llm.litellm.api_key.get_secret_value() == "sk-your-key-here"
    assert llm.ollama.base_url == "http://localhost:11434" and not llm.ollama.configured
    assert llm.timeout == 60.0 and llm.tool_mode == "native"
    memory = settings.memory
    assert memory.graphmcp_configured and memory.score_threshold == 0.5
    assert memory.tools == {"recall": "memory_search"}
    assert memory.ingest_stream == "raw.messages" and memory.ingest_maxlen == 10_000
    store = settings.store
    assert store.redis_configured and store.redis_url == "redis://localhost:6379/0"
    assert store.data_dir == Path("state") and store.session_ttl == 600
    assert settings.vtt.configured and settings.vtt.relay_url == "ws://localhost:30000/relay"
    assert settings.incomplete() == ["OLLAMA_BASE_URL is set but OLLAMA_MODEL is not: set it"]


def test_sections_are_read_only(workdir: Path) -> None:
    import dataclasses

    settings = load_settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.store.redis_url = "redis://elsewhere"  # type: ignore[misc]


def test_turn_limits_come_from_the_settings(workdir: Path) -> None:
    from mardonar.engine.limits import TurnLimits

    write_env(workdir, "MARDONAR_CONTEXT_BUDGET=9000\nMARDONAR_MAX_TOOL_ROUNDS=2\n")

    limits = TurnLimits.from_settings(load_settings())

    assert limits == TurnLimits(context_budget=9000, max_tool_rounds=2, max_tool_calls=8)
    assert TurnLimits.from_settings(Settings(_env_file=None)) == TurnLimits()
