"""docs/lint-rules.md documents every lint code, and its examples tell the truth.

Conventions that make the doc checkable:

* one `## M###` heading per code, in the order of `CODES`, each with a
  `**Severity:** error|warning.` line;
* `<!-- file: PATH [encoding=ENC] -->` right before a fenced block: a complete file the
  example writes into a repository (persona.yaml, party.yaml and lore/goblins.md as the doc
  describes them, unless the example replaces one);
* `<!-- symlink: PATH -> TARGET -->`: a symbolic link the example makes in the repository;
* `<!-- finding [prompt-budget=N] -->` right before a fenced block: lines lint prints for the
  section's files, exactly as `mardonar lint --format text` prints them (only the number in
  M404's "about N tokens" may differ).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mardonar.content.lint.findings import CODES
from mardonar.content.lint.report import render_text
from mardonar.content.lint.runner import default_paths, run_lint

DOC = Path(__file__).resolve().parent.parent / "docs" / "lint-rules.md"

BASE_FILES = {
    "persona.yaml": "voice: You are Mardonar, an old road-warden with a dry wit.\n",
    "party.yaml": (
        "characters:\n  - player: aria\n    name: Aria Swiftwind\n    class: rogue\n"
        "    skills: {stealth: 7}\n"
    ),
    "lore/goblins.md": "---\nkeywords: [goblin]\n---\n# Goblins\nSmall and greedy.\n",
}
"""The repository the doc's examples run in ("How to read the examples")."""

_HEADING = re.compile(r"^## (.+?)\s*$", re.MULTILINE)
_BLOCK = r"[ \t]*\n```[\w-]*[ \t]*\n(.*?)^```[ \t]*$"
_FILE = re.compile(r"<!--\s*file:\s*(.+?)(?:\s+encoding=([\w-]+))?\s*-->" + _BLOCK, re.S | re.M)
_LINK = re.compile(r"<!--\s*symlink:\s*(\S+)\s*->\s*(\S+)\s*-->")
_FINDING = re.compile(r"<!--\s*finding(?:\s+prompt-budget=(\d+))?\s*-->" + _BLOCK, re.S | re.M)
# A token estimate moves whenever the persona prompt's wording does; the doc need not follow.
_ESTIMATE = re.compile(r"about \d+ tokens")
_SEVERITY = re.compile(r"^\*\*Severity:\*\* (error|warning)\.", re.MULTILINE)


def sections() -> dict[str, str]:
    """Heading → the text up to the next heading."""
    text = DOC.read_text(encoding="utf-8")
    found = list(_HEADING.finditer(text))
    ends = [match.start() for match in found[1:]] + [len(text)]
    return {match.group(1): text[match.end() : end] for match, end in zip(found, ends, strict=True)}


def code_sections() -> dict[str, str]:
    return {title: body for title, body in sections().items() if re.fullmatch(r"M\d{3}", title)}


def run_example(body: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Write the section's files over the base repository and lint it as the CLI does."""
    for relative, text in BASE_FILES.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    for match in _FILE.finditer(body):
        path = root / match.group(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(match.group(3).encode(match.group(2) or "utf-8"))
    for match in _LINK.finditer(body):
        link = root / match.group(1)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(match.group(2))
    budget = next((int(m.group(1)) for m in _FINDING.finditer(body) if m.group(1)), None)
    monkeypatch.chdir(root)
    options = {"prompt_budget": budget} if budget else {}
    report = run_lint(default_paths(root), use_cache=False, **options)  # type: ignore[arg-type]
    return render_text(report).splitlines()


def test_every_code_has_a_section_and_every_section_a_code() -> None:
    headings = [title for title in sections() if re.match(r"M\d", title)]
    assert headings == list(CODES)


def test_each_section_states_the_severity_of_its_code() -> None:
    for code, body in code_sections().items():
        severities = _SEVERITY.findall(body)
        assert severities == [CODES[code][0]], code


@pytest.mark.parametrize("code", list(CODES))
def test_the_example_makes_lint_print_the_documented_finding(
    code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = code_sections()[code]
    assert _FILE.search(body) or _LINK.search(body), f"{code}: no `<!-- file: ... -->` example"
    documented = [line for match in _FINDING.finditer(body) for line in match.group(2).splitlines()]
    assert documented, f"{code}: no `<!-- finding -->` block"
    assert any(f"[{code}]" in line for line in documented), code
    printed = [
        _ESTIMATE.sub("about N tokens", line)
        for line in run_example(body, tmp_path / "repo", monkeypatch)
    ]
    for line in documented:
        line = _ESTIMATE.sub("about N tokens", line)
        assert line in printed, f"{code}: lint printed\n" + "\n".join(printed)


def test_the_starting_spec_of_the_examples_lints_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = sections()["How to read the examples"]
    assert _FILE.search(body)
    assert run_example(body, tmp_path / "repo", monkeypatch) == ["0 errors, 0 warnings in 4 files"]
