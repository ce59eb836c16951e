"""An NPC's secrets never reach the model before a check reveals them (issue #14, 2a).

Small models echo their instructions, and a player can ask for them ("debug mode"), so
a secret in the prompt is a secret told. These tests play every shipped spec through the
real OpenAI-compatible client against the scripted HTTP server and read what was SENT.
"""

# ruff: noqa: F811
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mardonar.content.models import Spec
from mardonar.content.render import spec_gm_view
from mardonar.llm.openai_compat import OpenAICompatLLM
from tests.engine_helpers import REPO, bundle, open_table, run
from tests.llm_server import (  # noqa: F401
    RecordedRequest,
    Reply,
    ScriptedServer,
    llm_server,
)

SPECS = sorted(
    path.name.removesuffix(".yaml")
    for path in (REPO / "specs").glob("*.yaml")
    if not path.name.endswith(".test.yaml")
)
ALL_SECRETS = {secret for name in SPECS for npc in bundle(name).spec.npcs for secret in npc.secrets}
_TRY = re.compile(r"\[(\S+) as [^\]]*\] I try ([\w-]+)\.")


def _strings(value: Any) -> Iterator[str]:
    """Every string in a request body (message contents, tool calls, tool schemas)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _sent(request: RecordedRequest) -> str:
    return "\n".join(_strings(request.body))


def _contains(text: str, secret: str) -> bool:
    # A tool result is JSON inside the message content: its quotes arrive escaped.
    return secret in text or json.dumps(secret)[1:-1] in text


def _answer(request: RecordedRequest) -> Reply:
    """The model: `I try <check>.` calls that check; a tool result gets plain narration."""
    messages = request.body["messages"]
    last = messages[-1]
    if last["role"] == "user":
        found = _TRY.search(last["content"] or "")
        if found:
            player, check = found.groups()
            return Reply(tool_calls=[("skill_check", {"player": player, "check": check})])
    return Reply("The moment passes. What do you do?")


def _revealed_by(request: RecordedRequest) -> set[str]:
    """Secrets this request hands the model in a successful check's tool result."""
    found: set[str] = set()
    for message in request.body["messages"]:
        if message["role"] != "tool":
            continue
        payload = json.loads(message["content"])
        result = payload.get("result") or {}
        if payload.get("ok") and result.get("success"):
            found.update(result.get("revealed_secrets", ()))
    return found


def _play(tmp_path: Path, server: ScriptedServer, name: str) -> dict[str, list[str]]:
    """Try each check that reveals a secret, player by player, until every NPC has told."""
    loaded = bundle(name)
    spec = loaded.spec
    players = [c.player for c in loaded.party.characters]
    server.default = _answer
    llm = OpenAICompatLLM(base_url=server.base_url, model=server.model, retry_backoff=0.01)

    async def go() -> dict[str, list[str]]:
        table = await open_table(tmp_path, llm, spec=name, seed=3)
        try:
            await table.say(players[0], "We look around.")
            for npc in (n for n in spec.npcs if n.secrets):
                for check in (c for c in spec.checks if c.npc == npc.id):
                    for player in players:
                        if npc.id in table.session.revealed_secrets:
                            break
                        await table.say(player, f"I try {check.id}.")
            await table.say(players[0], "We look around again.")
            return table.session.revealed_secrets
        finally:
            await llm.aclose()
            await table.close()

    return run(go())


@pytest.mark.parametrize("name", SPECS)
def test_no_unrevealed_secret_is_ever_sent_to_the_model(
    tmp_path: Path, llm_server: ScriptedServer, name: str
) -> None:
    revealed = _play(tmp_path, llm_server, name)
    spec = bundle(name).spec
    # The play reached every secret a check can reveal, so the check below means something.
    assert set(revealed) == {n.id for n in spec.npcs if n.secrets}
    told: set[str] = set()
    requests = llm_server.chat_requests
    assert len(requests) > 5 and len(SPECS) >= 3  # the shipped specs were found
    for request in requests:
        told |= _revealed_by(request)
        sent = _sent(request)
        leaked = [s for s in ALL_SECRETS - told if _contains(sent, s)]
        assert not leaked, f"request {request.number} carries unrevealed secrets: {leaked}"
    # Once told, a secret stays in the prompt (the state section) for the turns after.
    last = _sent(requests[-1])
    assert told == {s for secrets in revealed.values() for s in secrets}
    assert all(_contains(last, secret) for secret in told)


def test_the_gm_view_counts_secrets_and_names_the_checks_that_reveal_them() -> None:
    spec = bundle("goblin-toll-bridge").spec
    view = spec_gm_view(spec)
    assert not [s for s in ALL_SECRETS if s in view]
    assert (
        "has 2 secrets: a successful intimidate-grukk, deceive-grukk, persuade-grukk or "
        "read-grukk returns them in its result" in view
    )
    assert "has 1 secret: a successful bargain-with-knuckle returns it" in view


def test_secrets_no_check_can_reveal_are_said_to_be_unrevealable() -> None:
    spec = bundle("goblin-toll-bridge").spec
    data = spec.model_dump(by_alias=True)
    data["checks"] = [c for c in data["checks"] if c.get("npc") != "old-knuckle"]
    view = spec_gm_view(Spec.model_validate(data))
    assert "has 1 secret that no check can reveal: never invent or hint at them" in view
    assert "no intention of eating Grukk" not in view
