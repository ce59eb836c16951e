"""The LLM rows: LiteLLM then Ollama, each probed by the backend's own `probe()`."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import replace
from typing import TYPE_CHECKING

from mardonar.ops.doctor.rows import Row, Status, guarded, not_configured, ready

if TYPE_CHECKING:
    from mardonar.config import Settings
    from mardonar.config.sections import Backend
    from mardonar.llm.base import ContextWindow
    from mardonar.llm.openai_compat import OpenAICompatLLM

PRIMARY = "LLM primary (LiteLLM)"
FALLBACK = "LLM fallback (Ollama)"


def llm_sections(settings: Settings, timeout: float) -> list[Awaitable[list[Row]]]:
    """LiteLLM then Ollama: probed when configured, ✗ when half-configured, else a note."""
    from mardonar.llm.select import configured_backends

    wanted = settings.llm
    primary_half = _half_configured(wanted.litellm) or _key_without_url(wanted.litellm)
    fallback_half = _half_configured(wanted.ollama)
    if not (wanted.configured or primary_half or fallback_half):
        return [
            ready(
                [
                    Row(
                        "LLM",
                        "backend",
                        "ok",
                        "not configured — the offline narrator plays "
                        "(set LITELLM_BASE_URL and LITELLM_MODEL to use a model)",
                    )
                ]
            )
        ]

    sections: list[Awaitable[list[Row]]] = []
    backends = {llm.label: llm for llm in configured_backends(settings, timeout=timeout)}
    alone = "when the primary fails, the persona's fallback lines are said"
    for label, part, half, instead in (
        ("litellm", PRIMARY, primary_half, "Ollama plays alone"),
        ("ollama", FALLBACK, fallback_half, alone),
    ):
        if label in backends:
            budget = settings.mardonar_context_budget
            sections.append(llm_probe(part, backends[label], timeout=timeout, budget=budget))
        elif half:
            sections.append(ready([half]))
        else:
            sections.append(not_configured(part, "configuration", instead, "skip"))
    return sections


def _half_configured(backend: Backend) -> Row | None:
    """The rows behind `Settings.incomplete()`: a base URL without a model, or the reverse."""
    prefix, url, model = backend.prefix, backend.base_url, backend.model
    part = PRIMARY if prefix == "LITELLM" else FALLBACK
    if url and not model:
        return Row(
            part,
            "configuration",
            "fail",
            f"{prefix}_BASE_URL is set but {prefix}_MODEL is not, so this backend is not used",
            f"set {prefix}_MODEL to a model the server has, or unset {prefix}_BASE_URL",
        )
    if model and not url:
        return Row(
            part,
            "configuration",
            "fail",
            f"{prefix}_MODEL is set but {prefix}_BASE_URL is not, so this backend is not used",
            f"set {prefix}_BASE_URL to the server's URL, or unset {prefix}_MODEL",
        )
    return None


def _key_without_url(litellm: Backend) -> Row | None:
    if litellm.api_key is None or litellm.base_url:
        return None
    return Row(
        PRIMARY,
        "configuration",
        "fail",
        "LITELLM_API_KEY is set but LITELLM_BASE_URL is not, so this backend is not used",
        "set LITELLM_BASE_URL (and LITELLM_MODEL), or unset LITELLM_API_KEY",
    )


async def llm_probe(
    part: str, llm: OpenAICompatLLM, *, timeout: float, budget: int = 6000
) -> list[Row]:
    """The backend's own probe (reachable, model, tool calls, usage, context window), one
    row per check; the window's row says what it does to the context budget (`budget`,
    MARDONAR_CONTEXT_BUDGET)."""
    prefix = llm.settings_prefix

    async def probe() -> list[Row]:
        try:
            probes = await llm.probe(timeout=timeout)
            window = await llm.context_window()  # cached by the probe: no second request
        finally:
            await llm.aclose()
        rows = [Row(part, p.check, _probe_status(p.ok, p.detail), p.detail, p.fix) for p in probes]
        return [_fitted(row, window, budget) for row in rows]

    # The probe makes up to three requests in a row (the model list, a chat asking for a
    # tool, once more with tool_choice "auto"), each limited to `timeout`, and asks for the
    # context window meanwhile; this outer limit only guards against a hang.
    return await guarded(
        probe(),
        part=part,
        name="reachable",
        timeout=timeout,
        limit=3 * timeout + 1,
        fix=f"check that the server at {prefix}_BASE_URL is up, or raise --timeout",
    )


def _fitted(row: Row, window: ContextWindow | None, budget: int) -> Row:
    """The context-window row, with what the window does to the budget (engine/window.py,
    for a persona's default 400-token reply)."""
    if row.check != "context window" or window is None or row.status != "ok":
        return row
    from mardonar.engine.window import fit

    fitted = fit(budget, window, reply=None)
    if fitted.budget <= 0:
        return replace(
            row,
            status="fail",
            detail=f"{row.detail}: too small for the tool schemas (~{fitted.tools:,} tokens) "
            f"and a {fitted.reply}-token reply",
            fix="start the server with a larger context (and set MARDONAR_CONTEXT_WINDOW to it)",
        )
    if fitted.cut:
        note = f"; the context budget is cut from {budget:,} to {fitted.budget:,} to fit"
    else:
        note = f"; the context budget {budget:,} fits"
    return replace(row, detail=row.detail + note)


def _probe_status(ok: bool, detail: str) -> Status:
    """A check the probe skipped because an earlier one failed is –, not a second ✗: one
    server down is one failure to fix."""
    if ok:
        return "ok"
    return "skip" if detail.startswith("not checked") else "fail"
