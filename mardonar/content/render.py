"""How the author's files read to the model.

One renderer for the persona and one for the spec's GM-only view, shared by the engine's
context builder and by lint's prompt-size warning (M404), so that what lint estimates is
exactly what the model is sent.
"""

from __future__ import annotations

from mardonar.content.models import Npc, Persona, Spec
from mardonar.wording import plural


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: ~4 characters a token for English prose (cl100k and
    Llama tokenizers land within ±15% of this on our specs), never zero for non-empty text."""
    return (len(text) + 3) // 4


def persona_prompt(persona: Persona) -> str:
    lines = [f"You are {persona.name}, the game master of a tabletop role-playing encounter."]
    lines.append(persona.voice.strip())
    if persona.rules:
        lines.append("Rules you never break:")
        lines.extend(f"- {rule}" for rule in persona.rules)
    lines.append(
        "Engine rules: call skill_check (with the spec check id) whenever a check's trigger "
        "happens, and narrate the result the tool returns; never invent a DC or a roll. An "
        "NPC's secrets are not told to you: a successful check on that NPC returns them "
        "(revealed_secrets), and only then may you reveal them. Call resolve when an "
        "outcome's condition is met. Speak to the players; never decide what their characters "
        "do, say or feel."
    )
    lines.append(f"Keep every reply under {persona.filters.max_words} words.")
    lines.append("Skills: " + ", ".join(persona.skills) + ".")
    return "\n".join(lines)


def revealing_checks(spec: Spec, npc: Npc) -> list[str]:
    """The ids of the checks whose success reveals `npc`'s secrets (those naming it)."""
    return [check.id for check in spec.checks if check.npc == npc.id]


def secrets_line(spec: Spec, npc: Npc) -> str:
    """What the model is told of an NPC's secrets: how many, and which checks reveal them.

    Never their text: small models echo their instructions, and a player who asks for the
    prompt ("debug mode") would get every secret. The text arrives in a successful check's
    result (`revealed_secrets`) and stays in the state section from then on."""
    count = plural(len(npc.secrets), "secret")
    checks = revealing_checks(spec, npc)
    if not checks:  # lint's M403 warns the author of this
        return f"has {count} that no check can reveal: never invent or hint at them"
    them = "it" if len(npc.secrets) == 1 else "them"
    which = checks[0] if len(checks) == 1 else ", ".join(checks[:-1]) + " or " + checks[-1]
    return (
        f"has {count}: a successful {which} returns {them} in its result "
        f"(never invent or hint at {them} before then)"
    )


def spec_gm_view(spec: Spec) -> str:
    """Everything the GM must know about the encounter, in a compact form."""
    out: list[str] = [f"# Encounter: {spec.title} ({spec.id})", spec.summary]
    out += ["## Setting (GM only, never read out)", spec.setting.strip()]
    if spec.gm_notes.strip():
        out += ["## GM notes", spec.gm_notes.strip()]
    out.append("## NPCs")
    for npc in spec.npcs:
        head = f"- {npc.id}: {npc.name}"
        if npc.role:
            head += f", {npc.role}"
        head += f"; {npc.disposition.value}"
        if npc.voice:
            head += f"; voice: {npc.voice}"
        out.append(head)
        if npc.knows:
            out.append("  knows: " + " | ".join(npc.knows))
        if npc.secrets:
            out.append("  " + secrets_line(spec, npc))
    if spec.checks:
        out.append(
            "## Checks (call skill_check with the id when the trigger happens; DCs are fixed)"
        )
        for check in spec.checks:
            line = f"- {check.id}: {check.skill} DC {check.dc}"
            if check.npc:
                line += f", npc {check.npc}"
            if check.repeatable:
                line += ", repeatable"
            line += f". When: {check.trigger}"
            if check.keywords:
                line += f" (signals: {', '.join(check.keywords)})"
            out.append(line)
            out.append(f"  success: {check.on_success.strip()}")
            if check.leads_to:
                out.append(f"  success leads to outcome {check.leads_to}")
            out.append(f"  failure: {check.on_failure.strip()}")
            if check.failure_leads_to:
                out.append(f"  failure leads to outcome {check.failure_leads_to}")
    out.append("## Outcomes (call resolve with the id when one happens)")
    for outcome in spec.outcomes:
        line = f"- {outcome.id} ({outcome.result.value}, {outcome.xp} XP"
        if outcome.items:
            line += ", items: " + ", ".join(outcome.items)
        if outcome.requires:
            line += ", only after these checks succeed: " + ", ".join(outcome.requires)
        line += f"): {outcome.when}"
        out.append(line)
    if spec.items:
        out.append("## Items")
        for item in spec.items:
            line = f"- {item.id}: {item.name}"
            if item.description:
                line += f": {item.description}"
            out.append(line)
    out.append(
        f"## Limits: the encounter ends unresolved at turn {spec.limits.max_turns}; "
        f"at most {spec.limits.bonus_xp} bonus XP per character beyond the outcome."
    )
    return "\n".join(out)
