"""Lint never crashes and always points inside the file, whatever the author saved.

A hypothesis property mutates valid files (deleted and swapped lines, broken indentation,
inserted bytes and characters of every kind, truncation) and lints the repository in-process.
A few hand-made nasty files (binary garbage, deep nesting, alias bombs) go through the real CLI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mardonar.content import yamlpos
from mardonar.content.lint.findings import CODES, Finding
from mardonar.content.lint.runner import run_lint

CHECKOUT = Path(__file__).resolve().parent.parent

FILES: dict[str, str] = {
    "persona.yaml": """\
voice: |
  A terse test GM.
skills: [intimidation, persuasion, stealth]
filters:
  banned: ["(?i)as an ai"]
  max_words: 120
""",
    "party.yaml": """\
characters:
  - player: aria
    name: Aria
    class: rogue
    level: 3
    skills: {stealth: 5, persuasion: 2}
""",
    "lore/goblins.md": """\
---
title: Goblins
keywords: [goblin]
---
# Goblins
Small and greedy.
""",
    "specs/toll.yaml": """\
id: toll
title: The Toll
summary: A goblin demands a toll.
tags: [social]
players: {min: 1, max: 4}
setting: |
  A rickety bridge.
opening: A goblin blocks the bridge.
npcs:
  - id: grukk
    name: Grukk
    disposition: hostile
    knows: ["The bridge is old"]
    secrets: ["He owes the troll"]
checks:
  - id: scare
    skill: intimidation
    dc: 13
    npc: grukk
    trigger: A player threatens Grukk
    keywords: [threaten, scare]
    on_success: Grukk steps aside.
    on_failure: Grukk whistles.
    leads_to: crossed
outcomes:
  - id: crossed
    result: success
    when: The party crosses
    xp: 100
    items: [key]
items:
  - id: key
    name: Brass Key
lore: [goblins]
limits: {max_turns: 20, bonus_xp: 10}
""",
    "specs/toll.test.yaml": """\
spec: toll
cases:
  - name: scare works
    as: aria
    lines: [I threaten Grukk]
    expect:
      outcome: crossed
      checks: {scare: success}
      xp: {aria: 100}
      items: {aria: [key]}
""",
}

CONTROL_AND_UNICODE = ["\x00", "\t", "\r", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff", "é", "😀"]
YAML_SYNTAX = [
    ":",
    "-",
    "[",
    "{",
    "&a",
    "*a",
    "!!",
    "%",
    "#",
    "'",
    '"',
    "|",
    ">",
    "? ",
    "---",
    "\n",
]
NASTY_CHARACTERS = st.sampled_from(CONTROL_AND_UNICODE + YAML_SYNTAX)
INSERTED_TEXT = st.lists(
    st.one_of(NASTY_CHARACTERS, st.characters(exclude_categories=("Cs",))), max_size=6
).map("".join)


@st.composite
def mutated_file(draw: st.DrawFn) -> tuple[str, bytes]:
    """One of the valid files, damaged by one to four mutations."""
    name = draw(st.sampled_from(sorted(FILES)))
    lines = FILES[name].splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            lines = [""]
        at = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["delete", "indent", "swap", "insert", "duplicate"]))
        if kind == "delete":
            del lines[at]
        elif kind == "indent":
            stripped = lines[at].lstrip(" ")
            lines[at] = " " * draw(st.integers(0, 9)) + stripped
        elif kind == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif kind == "duplicate":
            lines.insert(at, lines[at])
        else:
            column = draw(st.integers(0, len(lines[at])))
            lines[at] = lines[at][:column] + draw(INSERTED_TEXT) + lines[at][column:]
    raw = "".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.booleans()):  # raw bytes: invalid UTF-8 too
        offset = draw(st.integers(0, len(raw)))
        raw = raw[:offset] + draw(st.binary(min_size=1, max_size=4)) + raw[offset:]
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    return name, raw


def write_repo(root: Path, replaced: str | None = None, raw: bytes = b"") -> None:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw if name == replaced else text.encode("utf-8"))


EDITOR_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def assert_sane(findings: list[Finding]) -> None:
    """Known code and severity, one-line message, a position inside the file as an editor
    counts lines (at \\n, \\r\\n and \\r; not at U+2028 or NEL, which YAML also counts)."""
    for found in findings:
        assert found.code in CODES, found
        assert found.severity == CODES[found.code][0], found
        assert found.line >= 1, found
        assert found.col >= 1, found
        assert found.message.strip(), found
        assert "\n" not in found.message, found
        raw = Path(found.path).read_bytes()  # the path is shown relative to the cwd
        if found.code == "M100":  # not text: the position counts bytes
            assert found.line <= raw.count(b"\n") + 1, found
            continue
        lines = EDITOR_LINE_BREAK.split(raw.decode("utf-8"))
        assert found.line <= len(lines), (found, raw)
        assert found.col <= len(lines[found.line - 1]) + 1, (found, raw)


def test_the_unmutated_files_are_clean(tmp_path: Path) -> None:
    write_repo(tmp_path)
    assert run_lint([tmp_path], use_cache=False).findings == []


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated_file())
def test_lint_never_crashes_and_every_finding_points_into_the_file(
    mutation: tuple[str, bytes],
) -> None:
    name, raw = mutation
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_repo(root, name, raw)
        report = run_lint([root], use_cache=False)
        assert report.files == len(FILES)
        assert_sane(report.findings)


# --------------------------------------------------------------------------- nasty files


def billion_laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def deep_block(depth: int) -> str:
    return "".join("  " * level + f"k{level}:\n" for level in range(depth)) + "  " * depth + "x\n"


NASTY: dict[str, bytes] = {
    "binary": bytes(range(256)) * 64,
    "nul-only": b"\x00" * 1000,
    "utf16": "id: toll\n".encode("utf-16"),
    "deep-flow": ("id: toll\ntags: " + "[" * 5000 + "]" * 5000 + "\n").encode(),
    "deep-block": deep_block(2000).encode(),
    "deep-just-under-libyaml": ("tags: " + "[" * 999 + "]" * 999 + "\n").encode(),
    "self-alias": b"a: &a [*a, *a]\nb: &b {x: *b}\n",
    "billion-laughs": billion_laughs().encode(),
    "merge-bomb": b"a: &a {x: 1}\nb: &b {<<: [*a, *a, *a]}\nc: {<<: [*b, *b, *b]}\n",
    "huge-flat": ("id: toll\ntags: [" + ", ".join(["x"] * 120_000) + "]\n").encode(),
    "long-line": b"title: " + b"x" * 2_000_000 + b"\n",
    "bad-tags": b"id: !!python/object/apply:os.system [echo hi]\ntitle: !custom x\n",
    "weird-keys": b"? [a, b]\n: 1\n? {c: d}\n: 2\n1: x\nnull: y\n",
}


@pytest.mark.parametrize("name", sorted(NASTY))
def test_nasty_file_gets_a_clean_report_from_the_cli(tmp_path: Path, name: str) -> None:
    write_repo(tmp_path)
    path = tmp_path / "specs" / f"{name}.yaml"
    path.write_bytes(NASTY[name])
    env = dict(os.environ, MARDONAR_CACHE_DIR=str(tmp_path / "cache"), PYTHONIOENCODING="utf-8")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHECKOUT), env.get("PYTHONPATH")]))
    env.pop("MARDONAR_DEBUG", None)
    env.pop("LOG_LEVEL", None)
    result = subprocess.run(
        [sys.executable, "-m", "mardonar", "lint", "--format", "json", f"specs/{name}.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr
    assert stderr == ""
    assert result.returncode == 1  # every one of them is an error
    findings = json.loads(result.stdout)
    assert findings
    assert all(f["code"] in CODES and f["line"] >= 1 and f["col"] >= 1 for f in findings)


@pytest.mark.parametrize("name", sorted(NASTY))
@pytest.mark.parametrize("loader", ["libyaml", "pure-python"])
def test_nasty_file_in_process_with_either_yaml_loader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, loader: str
) -> None:
    if loader == "pure-python":  # what runs where PyYAML has no libyaml
        monkeypatch.setattr(yamlpos, "_Loader", yaml.SafeLoader)
    write_repo(tmp_path)
    path = tmp_path / "specs" / f"{name}.yaml"
    path.write_bytes(NASTY[name])
    report = run_lint([path], use_cache=False)
    assert report.errors >= 1
    assert_sane(report.findings)
