"""Every lint code, at the exact line and column of the node it is about.

Each test writes a small repository (persona.yaml, party.yaml, lore/, specs/) into tmp_path,
breaks one thing and calls `run_lint` in-process. Positions are computed from the text with
`pos()`, so a test reads as "the finding is at the second `title:`" rather than as magic
numbers, and stays exact.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mardonar.content.lint.findings import CODES, Finding
from mardonar.content.lint.runner import run_lint
from tests.helpers import write

PERSONA = """\
voice: A terse test GM.
skills: [intimidation, persuasion, stealth, sailing]
filters:
  banned:
    - "(?i)as an ai"
    - "(?i)language model"
"""

PARTY = """\
characters:
  - player: aria
    name: Aria Swiftwind
    class: rogue
    skills: {stealth: 5, persuasion: 2}
  - player: bram
    name: Bram Ironfoot
    class: fighter
    skills:
      intimidation: 4
"""

LORE = """\
---
keywords: [goblin, goblins]
---
# Goblins

Small, greedy and fond of tolls.
"""

SPEC = """\
id: toll
title: The Toll
summary: A goblin demands a toll.
setting: A rickety bridge over a gorge.
opening: A goblin blocks the bridge.
npcs:
  - id: grukk
    name: Grukk
    disposition: hostile
    secrets: [He owes the troll a debt]
  - id: troll
    name: The Troll
checks:
  - id: scare
    skill: intimidation
    dc: 13
    npc: grukk
    trigger: A player threatens Grukk
    keywords: [threaten, scare]
    on_success: Grukk steps aside.
    on_failure: Grukk whistles for his cousins.
    leads_to: crossed
  - id: charm
    skill: persuasion
    dc: 12
    npc: troll
    trigger: A player sweet-talks the troll
    keywords: [charm, flatter]
    on_success: The troll laughs.
    on_failure: The troll growls.
    failure_leads_to: turned-back
outcomes:
  - id: crossed
    result: success
    when: The party crosses the bridge
    xp: 100
    items: [brass-key]
  - id: turned-back
    result: failure
    when: The party turns back
  - id: paid
    result: partial
    when: The party pays the toll
    keywords: [pay, coin]
    xp: 50
items:
  - id: brass-key
    name: Grukk's Brass Key
lore: [goblins]
"""

TEST_PLAN = """\
spec: toll
cases:
  - name: scaring Grukk opens the bridge
    as: bram
    lines: [I threaten Grukk]
    expect:
      outcome: crossed
      checks: {scare: success}
      xp: {bram: 100}
      items: {bram: [brass-key]}
"""


def make_repo(root: Path, *, spec: str = SPEC) -> Path:
    """A valid repository: persona, party, one lore file, one spec and its test plan."""
    root.mkdir(parents=True, exist_ok=True)
    write(root, "persona.yaml", PERSONA)
    write(root, "party.yaml", PARTY)
    write(root, "lore/goblins.md", LORE)
    write(root, "specs/toll.yaml", spec)
    write(root, "specs/toll.test.yaml", TEST_PLAN)
    return root


def swap(text: str, old: str, new: str) -> str:
    """`text` with the one occurrence of `old` replaced (fails loudly if `old` is not unique)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def pos(text: str, needle: str, occurrence: int = 1) -> tuple[int, int]:
    """1-based (line, col) of the start of the n-th occurrence of `needle` in `text`."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    before = text[:index]
    return before.count("\n") + 1, index - before.rfind("\n")


def value_pos(text: str, context: str, value: str) -> tuple[int, int]:
    """Position of `value` inside the unique `context` (e.g. the `0` of `dc: 0`)."""
    assert text.count(context) == 1, f"{context!r} occurs {text.count(context)} times"
    line, col = pos(text, context)
    return line, col + context.index(value)


def lint(*paths: Path, **options: object) -> list[Finding]:
    return run_lint(list(paths), use_cache=False, **options).findings  # type: ignore[arg-type]


def where(findings: list[Finding]) -> list[tuple[str, str, int, int]]:
    """(code, severity, line, col) of each finding, for comparing whole reports."""
    return [(f.code, f.severity, f.line, f.col) for f in findings]


def only(findings: list[Finding], code: str, severity: str, at: tuple[int, int]) -> Finding:
    """Assert the report is exactly one finding with this code, severity and position."""
    assert where(findings) == [(code, severity, *at)], findings
    return findings[0]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def lint_spec_text(repo: Path, text: str, name: str = "toll.yaml") -> list[Finding]:
    return lint(write(repo, f"specs/{name}", text))


# --------------------------------------------------------------------------- clean content


def test_the_valid_repository_has_no_findings(repo: Path) -> None:
    report = run_lint([repo], use_cache=False)
    assert report.findings == []
    assert report.files == 5


def test_a_test_plan_with_valid_references_has_no_findings(repo: Path) -> None:
    assert lint(repo / "specs" / "toll.test.yaml") == []


# --------------------------------------------------------------------------- M100


def test_m100_non_utf8_spec_is_reported_at_the_first_bad_byte(repo: Path) -> None:
    text = swap(SPEC, "title: The Toll", "title: The Caf\xe9 Toll")
    path = write(repo, "specs/toll.yaml", text.encode("latin-1"))
    found = only(lint(path), "M100", "error", pos(text, "\xe9"))
    assert "UTF-8" in found.message
    assert found.path.endswith("toll.yaml")


def test_m100_non_utf8_lore_file(repo: Path) -> None:
    path = write(repo, "lore/goblins.md", b"# Goblins\n\xff\xfe greedy\n")
    only(lint(path), "M100", "error", (2, 1))


# --------------------------------------------------------------------------- M101


def test_m101_syntax_error_is_at_the_problem_not_the_document(repo: Path) -> None:
    text = swap(SPEC, "keywords: [threaten, scare]", "keywords: [threaten, scare")
    # The flow list never closes; the parser gives up at the `:` of the next key.
    found = only(lint_spec_text(repo, text), "M101", "error", pos(text, ": Grukk steps"))
    assert "',' or ']'" in found.message


def test_m101_tab_indentation_names_the_tab(repo: Path) -> None:
    text = swap(SPEC, "    name: Grukk\n", "\tname: Grukk\n")
    found = only(lint_spec_text(repo, text), "M101", "error", pos(text, "\tname"))
    assert "tab" in found.message


def test_m101_tab_before_a_list_dash_names_the_tab(repo: Path) -> None:
    text = swap(SPEC, "  - id: troll", "\t- id: troll")
    found = only(lint_spec_text(repo, text), "M101", "error", pos(text, "\t- id"))
    assert "tab" in found.message


def test_m101_control_character_is_located_by_characters_not_bytes(repo: Path) -> None:
    # Non-ASCII text before the NUL: libyaml counts bytes, the finding must count characters.
    text = swap(SPEC, "title: The Toll", "title: Ünder the Brücke \x00")
    found = only(lint_spec_text(repo, text), "M101", "error", pos(text, "\x00"))
    assert "control characters" in found.message


def test_m101_error_at_the_end_of_a_file_without_a_final_newline_is_on_its_last_line(
    repo: Path,
) -> None:
    text = SPEC + "tags: [social"
    lines = text.split("\n")
    only(lint_spec_text(repo, text), "M101", "error", (len(lines), len(lines[-1]) + 1))


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_lines_are_counted_as_editors_do_despite_unicode_line_separators(
    repo: Path, separator: str
) -> None:
    # YAML ends a line at U+2028, U+2029 and NEL; editors (and authors) do not.
    text = swap(SPEC, "setting: A rickety bridge", f"setting: A rickety{separator}  bridge")
    text = swap(text, "dc: 13", "dc: 31")
    only(lint_spec_text(repo, text), "M203", "error", value_pos(text, "dc: 31", "31"))
    broken = swap(text, "dc: 31", "dc: [31")
    findings = lint_spec_text(repo, broken)
    assert [f.code for f in findings] == ["M101"]
    assert findings[0].line == pos(broken, "    npc: grukk")[0]


def test_m101_two_documents_in_one_file(repo: Path) -> None:
    text = SPEC + "---\nid: other\n"
    found = only(lint_spec_text(repo, text), "M101", "error", pos(text, "---"))
    assert "one document per file" in found.message


def test_m101_unsupported_tag(repo: Path) -> None:
    text = swap(SPEC, "title: The Toll", "title: !!python/name:os.system The Toll")
    found = only(lint_spec_text(repo, text), "M101", "error", pos(text, "!!python"))
    assert "unsupported YAML tag" in found.message


def test_m101_recursive_alias_is_reported_not_followed(repo: Path) -> None:
    text = SPEC + "tags: &t [a, *t]\n"
    findings = lint_spec_text(repo, text)
    # Reported at the anchored node (`&t`): aliases share their node, so that is its position.
    cycle = [f for f in findings if f.code == "M101"]
    assert where(cycle) == [("M101", "error", *pos(text, "&t"))]
    assert "refers to itself" in cycle[0].message


def test_m101_deep_nesting_is_an_error_not_a_crash(repo: Path) -> None:
    depth = 400  # libyaml accepts 1000 levels; building Python data from them would not
    text = SPEC + "tags: " + "[" * depth + "]" * depth + "\n"
    line, col = value_pos(text, "tags: [", "[")  # `tags` is level 1: report level 101
    found = only(lint_spec_text(repo, text), "M101", "error", (line, col + 100))
    assert found.message == "the document nests deeper than 100 levels; simplify it"


def test_m101_aliases_that_multiply_are_one_error_not_a_hang(repo: Path) -> None:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    text = "\n".join(lines) + "\n"  # 10**9 values once expanded
    findings = lint_spec_text(repo, text)
    assert [f.code for f in findings] == ["M101"]
    assert "expands to more than 100000 values" in findings[0].message


def test_m101_in_lore_front_matter_is_at_the_line_in_the_file(repo: Path) -> None:
    text = "---\ntitle: Goblins\nkeywords: [goblin\n---\n# Goblins\n"
    path = write(repo, "lore/goblins.md", text)
    # The parser gives up where the front matter ends: line 4 of the file, not line 3 of it.
    only(lint(path), "M101", "error", (4, 1))


# --------------------------------------------------------------------------- M102


def test_m102_duplicate_key_is_reported_at_the_second_key(repo: Path) -> None:
    text = swap(SPEC, "title: The Toll\n", "title: The Toll\ntitle: The Other Toll\n")
    found = only(lint_spec_text(repo, text), "M102", "error", pos(text, "title:", 2))
    assert "'title'" in found.message
    assert "first at line 2" in found.message


def test_m102_duplicate_key_inside_a_list_entry(repo: Path) -> None:
    text = swap(SPEC, "    dc: 13\n", "    dc: 13\n    dc: 14\n")
    only(lint_spec_text(repo, text), "M102", "error", pos(text, "dc: 14"))


# --------------------------------------------------------------------------- M103


def test_m103_a_file_linked_outside_the_repository_is_reported_and_not_read(
    repo: Path, tmp_path: Path
) -> None:
    outside = write(tmp_path, "elsewhere/goblins.md", "# Goblins\nSecret: sk-not-for-lore\n")
    link = repo / "lore" / "linked.md"
    link.symlink_to(outside)
    found = only(lint(link), "M103", "error", (1, 1))
    assert "resolves outside the repository" in found.message
    assert "sk-not-for-lore" not in found.message


# --------------------------------------------------------------------------- M201


def test_m201_missing_field_is_reported_at_the_mapping_that_lacks_it(repo: Path) -> None:
    text = swap(SPEC, "    name: The Troll\n", "")
    found = only(lint_spec_text(repo, text), "M201", "error", pos(text, "id: troll"))
    assert found.message == "npcs[1]: missing required field 'name'"


def test_m201_missing_top_level_field_is_at_the_top_mapping_after_comments(repo: Path) -> None:
    text = "# a comment first\n" + swap(SPEC, "opening: A goblin blocks the bridge.\n", "")
    found = only(lint_spec_text(repo, text), "M201", "error", pos(text, "id: toll"))
    assert found.message == "spec: missing required field 'opening'"


def test_m201_missing_party_class_uses_the_yaml_name(repo: Path) -> None:
    text = swap(PARTY, "    class: fighter\n", "")
    path = write(repo, "party.yaml", text)
    found = only(lint(path), "M201", "error", pos(text, "player: bram"))
    assert "'class'" in found.message


# --------------------------------------------------------------------------- M202


def test_m202_wrong_type_is_at_the_value(repo: Path) -> None:
    text = swap(SPEC, "dc: 13", "dc: hard")
    found = only(lint_spec_text(repo, text), "M202", "error", pos(text, "hard"))
    assert found.message == "checks[0].dc: expected a whole number, got 'hard'"


def test_m202_a_list_given_as_text(repo: Path) -> None:
    text = swap(SPEC, "lore: [goblins]", "lore: goblins")
    found = only(lint_spec_text(repo, text), "M202", "error", pos(text, "goblins"))
    assert "expected a list" in found.message


def test_m202_a_file_that_is_a_list_not_a_mapping(repo: Path) -> None:
    text = "# header\n- id: toll\n"
    found = only(lint_spec_text(repo, text), "M202", "error", (2, 1))
    assert "must be a mapping" in found.message


def test_m202_an_empty_file(repo: Path) -> None:
    found = only(lint_spec_text(repo, "# nothing yet\n"), "M202", "error", (1, 1))
    assert "empty" in found.message


# --------------------------------------------------------------------------- M203


@pytest.mark.parametrize(
    ("old", "new", "value", "message"),
    [
        ("dc: 13", "dc: 31", "31", "checks[0].dc: must be at most 30, got 31"),
        ("dc: 12", "dc: 0", "0", "checks[1].dc: must be at least 1, got 0"),
        ("xp: 100", "xp: -5", "-5", "outcomes[0].xp: must be at least 0, got -5"),
        ("- id: grukk", "- id: Grukk_1", "Grukk_1", "npcs[0].id: must be a slug"),
        ("id: toll", "id: the toll", "the toll", "id: must be a slug"),
        ("result: success", "result: win", "win", "must be one of success, partial or failure"),
        ("disposition: hostile", "disposition: angry", "angry", "must be one of hostile, wary"),
    ],
)
def test_m203_out_of_range_or_invalid_value_is_at_the_value(
    repo: Path, old: str, new: str, value: str, message: str
) -> None:
    text = swap(SPEC, old, new)
    findings = [f for f in lint_spec_text(repo, text) if f.code == "M203"]
    found = only(findings, "M203", "error", value_pos(text, new, value))
    assert message in found.message


def test_m203_summary_of_two_lines(repo: Path) -> None:
    text = swap(SPEC, "summary: A goblin demands a toll.", "summary: |\n  A goblin\n  a toll")
    found = only(lint_spec_text(repo, text), "M203", "error", pos(text, "|"))
    assert "one line" in found.message


def test_m203_player_bounds_in_the_wrong_order(repo: Path) -> None:
    text = SPEC + "players: {min: 5, max: 2}\n"
    found = only(lint_spec_text(repo, text), "M203", "error", pos(text, "{min"))
    assert found.message == "players: min (5) is larger than max (2)"


def test_m203_test_plan_status_names_the_allowed_values(repo: Path) -> None:
    text = swap(
        TEST_PLAN, "      outcome: crossed\n", "      outcome: crossed\n      status: won\n"
    )
    path = write(repo, "specs/toll.test.yaml", text)
    found = only(lint(path), "M203", "error", pos(text, "won"))
    assert found.message == (
        "cases[0].expect.status: must be one of active, resolved or ended, got 'won'"
    )


# --------------------------------------------------------------------------- M204


def test_m204_unknown_key_is_at_the_key_with_did_you_mean(repo: Path) -> None:
    text = swap(SPEC, "checks:", "chekcs:")
    findings = lint_spec_text(repo, text)
    # The checks were never read, so no reference rule can fire on them either.
    found = next(f for f in findings if f.code == "M204")
    assert (found.severity, found.line, found.col) == ("error", *pos(text, "chekcs"))
    assert found.message == "unknown key 'chekcs' in spec; did you mean 'checks'?"


def test_m204_unknown_key_inside_a_check(repo: Path) -> None:
    text = swap(SPEC, "keywords: [threaten, scare]", "keyword: [threaten, scare]")
    findings = lint_spec_text(repo, text)
    m204 = [f for f in findings if f.code == "M204"]
    assert where(m204) == [("M204", "error", *pos(text, "keyword:"))]
    assert m204[0].message == "unknown key 'keyword' in checks[0]; did you mean 'keywords'?"


def test_m204_unknown_key_without_a_close_match_lists_the_allowed_keys(repo: Path) -> None:
    text = swap(PERSONA, "voice:", "zzz: 1\nvoice:")
    path = write(repo, "persona.yaml", text)
    found = only(lint(path), "M204", "error", (1, 1))
    assert "allowed keys: name, voice, rules, skills" in found.message


# --------------------------------------------------------------------------- M301


SECOND_ITEM = "    name: Grukk's Brass Key\n  - id: brass-key\n    name: Another Key\n"


@pytest.mark.parametrize(
    ("section", "old", "new", "dup", "index"),
    [
        ("npcs", "  - id: troll\n", "  - id: grukk\n", "grukk", 1),
        ("checks", "  - id: charm\n", "  - id: scare\n", "scare", 1),
        ("outcomes", "  - id: paid\n", "  - id: crossed\n", "crossed", 2),
        ("items", "    name: Grukk's Brass Key\n", SECOND_ITEM, "brass-key", 1),
    ],
)
def test_m301_duplicate_id_is_reported_at_the_second_one(
    repo: Path, section: str, old: str, new: str, dup: str, index: int
) -> None:
    text = swap(SPEC, old, new)
    first, second = pos(text, f"- id: {dup}\n", 1), pos(text, f"- id: {dup}\n", 2)
    findings = [f for f in lint_spec_text(repo, text) if f.code == "M301"]
    found = only(findings, "M301", "error", (second[0], second[1] + len("- id: ")))
    assert found.message.startswith(f"{section}[{index}].id: '{dup}' is already used in {section}")
    assert f"(line {first[0]})" in found.message


def test_m301_skill_listed_twice_in_the_persona(repo: Path) -> None:
    text = swap(PERSONA, "stealth, sailing]", "stealth, sailing, stealth]")
    path = write(repo, "persona.yaml", text)
    only(lint(path), "M301", "error", pos(text, "stealth]"))


def test_m301_two_characters_for_one_player(repo: Path) -> None:
    text = swap(PARTY, "player: bram", "player: Aria")
    path = write(repo, "party.yaml", text)
    found = only(lint(path), "M301", "error", pos(text, "Aria\n"))
    assert "one character per player" in found.message


# --------------------------------------------------------------------------- M302


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        ("npc: grukk", "npc: grukkk", "grukkk", "checks[0].npc: no NPC with id 'grukkk'"),
        ("leads_to: crossed", "leads_to: crosed", "crosed", "checks[0].leads_to: no outcome"),
        (
            "failure_leads_to: turned-back",
            "failure_leads_to: gone",
            "gone",
            "checks[1].failure_leads_to: no outcome with id 'gone'",
        ),
        ("items: [brass-key]", "items: [brass-kye]", "brass-kye", "outcomes[0].items[0]: no item"),
        ("lore: [goblins]", "lore: [goblins, trolls]", "trolls", "lore[1]: no file lore/trolls.md"),
    ],
)
def test_m302_dangling_reference_is_at_the_reference(
    repo: Path, old: str, new: str, needle: str, message: str
) -> None:
    text = swap(SPEC, old, new)
    findings = [f for f in lint_spec_text(repo, text) if f.code == "M302"]
    found = only(findings, "M302", "error", pos(text, needle))
    assert message in found.message


def test_m302_suggests_the_close_id(repo: Path) -> None:
    text = swap(SPEC, "leads_to: crossed", "leads_to: crosed")
    found = next(f for f in lint_spec_text(repo, text) if f.code == "M302")
    assert found.message.endswith("did you mean 'crossed'?")


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        ("spec: toll", "spec: tol", "tol\n", "no spec with id 'tol'"),
        ("outcome: crossed", "outcome: crosed", "crosed", "has no outcome 'crosed'"),
        ("{scare: success}", "{scar: success}", "scar:", "has no check 'scar'"),
        ("xp: {bram: 100}", "xp: {zed: 100}", "zed", "no player 'zed' in party.yaml"),
        ("items: {bram: [brass-key]}", "items: {zed: []}", "zed", "no player 'zed'"),
        ("[brass-key]}", "[iron-key]}", "iron-key", "has no item 'iron-key'"),
        ("as: bram", "as: zed", "zed", "cases[0].as: no player 'zed' in party.yaml"),
    ],
)
def test_m302_test_plan_reference_to_unknown_spec_check_outcome_or_player(
    repo: Path, old: str, new: str, needle: str, message: str
) -> None:
    text = swap(TEST_PLAN, old, new)
    path = write(repo, "specs/toll.test.yaml", text)
    found = only(lint(path), "M302", "error", pos(text, needle))
    assert message in found.message


def test_m302_player_names_in_a_test_plan_ignore_case(repo: Path) -> None:
    text = swap(TEST_PLAN, "as: bram", "as: Bram")
    assert lint(write(repo, "specs/toll.test.yaml", text)) == []


def test_m302_lore_references_are_not_checked_outside_a_repository(tmp_path: Path) -> None:
    path = write(tmp_path / "loose", "toll.yaml", swap(SPEC, "[goblins]", "[trolls]"))
    assert [f.code for f in lint(path)] == []


# --------------------------------------------------------------------------- M303, M304


def test_m303_check_skill_not_in_the_persona(repo: Path) -> None:
    text = swap(SPEC, "skill: persuasion", "skill: persausion")
    found = only(lint_spec_text(repo, text), "M303", "error", pos(text, "persausion"))
    assert found.message == (
        "checks[1].skill: 'persausion' is not one of the persona's skills; "
        "did you mean 'persuasion'?"
    )


def test_m303_a_default_skill_is_unknown_when_the_persona_lists_its_own(repo: Path) -> None:
    text = swap(SPEC, "skill: persuasion", "skill: perception")
    found = only(lint_spec_text(repo, text), "M303", "error", pos(text, "perception"))
    assert "not one of the persona's skills" in found.message


def test_m304_party_skill_not_in_the_persona_is_at_the_skill_key(repo: Path) -> None:
    text = swap(PARTY, "      intimidation: 4\n", "      intimidation: 4\n      arcana: 1\n")
    path = write(repo, "party.yaml", text)
    found = only(lint(path), "M304", "error", pos(text, "arcana"))
    assert found.message == "characters[1].skills: 'arcana' is not one of the persona's skills"


def test_m304_follows_the_persona_when_it_changes(repo: Path) -> None:
    text = swap(PARTY, "      intimidation: 4\n", "      intimidation: 4\n      arcana: 1\n")
    path = write(repo, "party.yaml", text)
    write(repo, "persona.yaml", swap(PERSONA, "sailing]", "sailing, arcana]"))
    assert lint(path) == []


# --------------------------------------------------------------------------- M305, M306


def test_m305_same_spec_id_in_two_files_of_one_run(repo: Path) -> None:
    copy = write(repo, "specs/z-toll.yaml", SPEC)  # sorts after toll.yaml: the second one
    findings = lint(repo / "specs")
    m305 = [f for f in findings if f.code == "M305"]
    assert where(m305) == [("M305", "error", *pos(SPEC, "toll"))]
    assert m305[0].path == os.path.relpath(copy)
    assert "toll.yaml:1:5" in m305[0].message


def test_m305_two_repositories_linted_together_may_share_a_spec_id(
    repo: Path, tmp_path: Path
) -> None:
    other = make_repo(tmp_path / "other-repo")
    assert lint(repo / "specs", other / "specs") == []


def test_m306_file_name_differs_from_the_id_is_a_warning(repo: Path) -> None:
    path = write(repo, "specs/bridge.yaml", SPEC)
    (repo / "specs" / "toll.yaml").unlink()
    found = only(lint(path), "M306", "warning", pos(SPEC, "toll"))
    assert "rename the file to toll.yaml" in found.message


# --------------------------------------------------------------------------- M307


def test_m307_invalid_regex_in_banned_is_at_the_entry(repo: Path) -> None:
    text = swap(PERSONA, '"(?i)language model"', '"(?i)language (model"')
    path = write(repo, "persona.yaml", text)
    found = only(lint(path), "M307", "error", pos(text, '"(?i)language (model"'))
    assert found.message.startswith("filters.banned[1]: not a valid regular expression")


# --------------------------------------------------------------------------- M308


def test_m308_requires_an_unknown_check_is_at_the_id_with_a_suggestion(repo: Path) -> None:
    text = swap(SPEC, "    xp: 50\n", "    xp: 50\n    requires: [scare, charmm]\n")
    found = only(lint_spec_text(repo, text), "M308", "error", pos(text, "charmm"))
    assert found.message.startswith("outcomes[2].requires[1]: no check with id 'charmm'")
    assert found.message.endswith("did you mean 'charm'?")


def test_m308_requires_known_checks_is_clean(repo: Path) -> None:
    text = swap(SPEC, "    xp: 50\n", "    xp: 50\n    requires: [scare, charm]\n")
    assert lint_spec_text(repo, text) == []


# --------------------------------------------------------------------------- M401-M405


def test_m401_outcome_no_check_leads_to_and_without_keywords(repo: Path) -> None:
    text = swap(SPEC, "    keywords: [pay, coin]\n", "")
    found = only(lint_spec_text(repo, text), "M401", "warning", pos(text, "paid"))
    assert found.message.startswith("outcome 'paid': no check leads to it")


def test_m401_an_outcome_reached_only_by_failure_leads_to_is_fine(repo: Path) -> None:
    assert "failure_leads_to: turned-back" in SPEC
    assert lint(repo / "specs" / "toll.yaml") == []


def test_m402_check_without_keywords_is_at_the_check_id(repo: Path) -> None:
    text = swap(SPEC, "    keywords: [charm, flatter]\n", "")
    found = only(lint_spec_text(repo, text), "M402", "warning", pos(text, "charm\n"))
    assert found.message.startswith("check 'charm' has no keywords")


def test_m402_check_with_an_empty_keyword_list_is_at_the_list(repo: Path) -> None:
    text = swap(SPEC, "keywords: [charm, flatter]", "keywords: []")
    only(lint_spec_text(repo, text), "M402", "warning", pos(text, "[]"))


def test_m403_npc_secrets_no_check_involves_is_at_the_secrets_key(repo: Path) -> None:
    text = swap(SPEC, "    npc: grukk\n", "")
    found = only(lint_spec_text(repo, text), "M403", "warning", pos(text, "secrets:"))
    assert found.message.startswith("NPC 'grukk' has secrets but no check involves it")


def test_m404_prompt_over_the_budget(repo: Path) -> None:
    text = (repo / "specs" / "toll.yaml").read_text()
    found = only(
        lint(repo / "specs" / "toll.yaml", prompt_budget=100),
        "M404",
        "warning",
        pos(text, "setting:"),
    )
    assert "over the budget of 100" in found.message


def test_m404_a_long_setting_crosses_the_default_budget(repo: Path) -> None:
    text = swap(SPEC, "setting: A rickety bridge over a gorge.", "setting: " + "word " * 3000)
    only(lint_spec_text(repo, text), "M404", "warning", pos(text, "setting:"))


def test_m405_lore_file_name_not_a_slug(repo: Path) -> None:
    path = write(repo, "lore/Old Goblins.md", LORE)
    found = only(lint(path), "M405", "warning", (1, 1))
    assert "'Old Goblins' is not a slug" in found.message


# --------------------------------------------------------------------------- whole runs


def test_every_error_of_a_file_is_reported_in_one_run(repo: Path) -> None:
    text = SPEC
    text = swap(text, "title: The Toll\n", "title: The Toll\ntitle: Again\n")  # M102
    text = swap(text, "dc: 13", "dc: 99")  # M203
    text = swap(text, "npc: grukk", "npc: nobody")  # M302 (and M403: grukk's secrets)
    text = swap(text, "skill: persuasion", "skill: sailling")  # M303
    text = swap(text, "    on_failure: The troll growls.\n", "")  # M201
    text = swap(text, "    xp: 50\n", "    xp: lots\n")  # M202
    text = swap(text, "items:\n  - id: brass-key", "itmes:\n  - id: brass-key")  # M204 (+ M302)
    findings = lint_spec_text(repo, text)
    assert where(findings) == [
        ("M102", "error", *pos(text, "title:", 2)),
        ("M403", "warning", *pos(text, "secrets:")),
        ("M203", "error", *pos(text, "99")),
        ("M302", "error", *pos(text, "nobody")),
        ("M201", "error", *pos(text, "id: charm")),
        ("M303", "error", *pos(text, "sailling")),
        ("M302", "error", *pos(text, "brass-key]")),
        ("M202", "error", *pos(text, "lots")),
        ("M204", "error", *pos(text, "itmes")),
    ]


def test_findings_of_several_files_are_all_reported(repo: Path) -> None:
    write(repo, "persona.yaml", swap(PERSONA, "voice:", "vioce:"))
    write(repo, "party.yaml", swap(PARTY, "class: rogue", "clas: rogue"))
    write(repo, "specs/toll.yaml", swap(SPEC, "dc: 13", "dc: 40"))
    codes = {(Path(f.path).name, f.code) for f in lint(repo)}
    assert {("persona.yaml", "M204"), ("persona.yaml", "M201")} <= codes
    assert {("party.yaml", "M204"), ("party.yaml", "M201")} <= codes
    assert ("toll.yaml", "M203") in codes


def test_a_spec_path_is_checked_against_its_own_repository_from_anywhere(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `sailing` exists only in this repository's persona; `trolls` has no lore file there.
    text = swap(SPEC, "skill: persuasion", "skill: sailing")
    text = swap(text, "lore: [goblins]", "lore: [goblins, trolls]")
    path = write(repo, "specs/toll.yaml", text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(elsewhere, "persona.yaml", "voice: Another GM.\n")  # must not be used
    monkeypatch.chdir(elsewhere)
    findings = lint(Path(os.path.relpath(path)))
    only(findings, "M302", "error", pos(text, "trolls"))
    assert findings[0].path == os.path.relpath(path)


def test_a_spec_deep_inside_the_repository_finds_the_root_upward(repo: Path) -> None:
    text = swap(SPEC, "skill: persuasion", "skill: perception")  # a default, not this persona's
    path = write(repo, "specs/coast/north/toll.yaml", text)
    assert [f.code for f in lint(path)] == ["M303"]


def test_every_code_has_a_test_in_this_file() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    missing = [code for code in CODES if f"def test_{code.lower()}_" not in source]
    assert missing == []
