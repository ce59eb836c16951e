"""The deployment files, checked as far as possible without Docker.

compose.yaml is parsed and its services and volumes checked; every file the Dockerfile
copies exists and survives .dockerignore; the image's HEALTHCHECK command is run for real
against our health server; the CMD's flag exists in the CLI; and every exported metric is
documented for the operator.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mardonar.ops.health import HealthServer
from mardonar.ops.metrics import Metrics
from mardonar.ops.shutdown import DEFAULT_GRACE
from tests.conftest import RunCli
from tests.engine_helpers import run

REPO = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def dockerignored(path: str) -> bool:
    patterns = [
        line.strip().rstrip("/")
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(p, pattern) for p in prefixes for pattern in patterns)


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, duration
    return int(match[1]) * (60 if match[2] == "m" else 1)


def test_compose_runs_the_bot_with_redis_and_a_one_shot_sync() -> None:
    services = compose()["services"]
    assert set(services) == {"bot", "redis", "sync"}
    assert set(compose()["volumes"]) == {"data", "redis"}

    bot = services["bot"]
    assert bot["env_file"] == ".env"
    assert "data:/data" in bot["volumes"]
    assert bot["environment"]["DATA_DIR"] == "/data"
    assert bot["environment"]["REDIS_URL"].startswith("redis://redis:")
    # Inside the container the health server must take the published port's traffic; the
    # host side of the port stays on the host's loopback.
    assert bot["environment"]["MARDONAR_HEALTH_HOST"] == "0.0.0.0"
    assert bot["ports"] == ["127.0.0.1:8080:8080"]
    assert bot["depends_on"]["redis"]["condition"] == "service_healthy"
    assert bot["restart"] == "unless-stopped"
    # Docker's SIGKILL must come after the bot's own wait for running turns.
    assert seconds(bot["stop_grace_period"]) > DEFAULT_GRACE

    redis = services["redis"]
    assert "redis:/data" in redis["volumes"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"

    sync = services["sync"]
    assert sync["command"] == ["mardonar", "discord", "sync"]
    assert sync["restart"] == "no" and sync["profiles"] == ["sync"]
    assert sync["env_file"] == ".env" and sync["image"] == bot["image"]


def test_the_dockerfile_is_multi_stage_slim_non_root_with_data_as_a_volume() -> None:
    steps = instructions()
    args = {rest.split("=")[0]: rest.split("=")[1] for word, rest in steps if word == "ARG"}
    stages = [rest for word, rest in steps if word == "FROM"]
    assert len(stages) == 2
    for stage in stages:
        image = stage.split()[0].replace("${PYTHON_VERSION}", args["PYTHON_VERSION"])
        name, tag = image.split(":")
        assert name == "python" and tag.endswith("-slim")
        assert tuple(int(n) for n in tag.removesuffix("-slim").split(".")) >= (3, 11)

    runtime = steps[[i for i, (word, _) in enumerate(steps) if word == "FROM"][1] :]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("VOLUME", '["/data"]') in runtime
    env = " ".join(rest for word, rest in runtime if word == "ENV")
    assert "DATA_DIR=/data" in env.split()
    (cmd,) = [json.loads(rest) for word, rest in runtime if word == "CMD"]
    assert cmd == ["mardonar", "serve", "discord", "--health-port", "8080"]
    assert ("EXPOSE", "8080") in runtime


def test_every_file_the_dockerfile_copies_exists_and_is_not_dockerignored() -> None:
    copied = []
    for word, rest in instructions():
        if word != "COPY" or "--from" in rest:
            continue
        *sources, _target = shlex.split(rest)
        copied += sources
    needed = {"pyproject.toml", "README.md", "mardonar", "persona.yaml", "party.yaml"}
    assert needed | {"specs", "lore"} <= set(copied)
    for source in copied:
        assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
        assert not dockerignored(source), f"COPY {source}: excluded by .dockerignore"
    for secret_or_data in (".env", "data/mardonar.db", "transcripts/x.jsonl", ".git/config"):
        assert dockerignored(secret_or_data)


def healthcheck_command() -> list[str]:
    (check,) = [rest for word, rest in instructions() if word == "HEALTHCHECK"]
    command = json.loads(check[check.index("CMD") + len("CMD") :].strip())
    assert isinstance(command, list) and command[0] == "python"
    return [sys.executable, *command[1:]]


def test_the_image_healthcheck_passes_against_the_health_server_and_fails_without_it() -> None:
    command = healthcheck_command()

    async def probe() -> tuple[int, int]:
        import asyncio

        async with HealthServer(0, host="127.0.0.1") as server:
            port = server.port
            pointed = [part.replace(":8080/", f":{port}/") for part in command]
            up = await asyncio.create_subprocess_exec(*pointed, stderr=subprocess.DEVNULL)
            up_code = await up.wait()
        down = await asyncio.create_subprocess_exec(*pointed, stderr=subprocess.DEVNULL)
        return up_code, await down.wait()

    up, down = run(probe())
    assert up == 0
    assert down != 0


def test_the_container_command_flag_exists(run_cli: RunCli) -> None:
    result = run_cli("serve", "discord", "--help")
    assert result.returncode == 0, result.stderr
    assert "--health-port" in result.stdout


@pytest.mark.parametrize(
    "name",
    sorted(
        {
            family.name
            for family in Metrics().registry.collect()  # one family per metric
        }
    ),
)
def test_every_metric_is_documented_for_operators(name: str) -> None:
    operations = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    counter_name = f"{name}_total"
    assert f"`{name}`" in operations or f"`{counter_name}`" in operations
