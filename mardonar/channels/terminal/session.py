"""Setting up a terminal playtest: content, engine, session, transcript, then the REPL."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from mardonar.errors import UsageError


async def play_plain(
    spec: str,
    *,
    seed: int | None,
    party: Path | None,
    speaker: str | None,
    transcript: Path | None,
    model: str | None,
    resume: bool,
) -> int:
    from mardonar.channels.terminal.plain import PlainRepl, prompt_lines, stdin_lines
    from mardonar.config import load_settings
    from mardonar.content.bundle import load_bundle
    from mardonar.engine.events import Notice
    from mardonar.llm.select import select_llm
    from mardonar.runtime import open_runtime
    from mardonar.transcript import TranscriptWriter

    settings = load_settings()
    bundle = load_bundle(spec, cwd=Path.cwd(), party=party)
    first = bundle.party.characters[0].player
    if speaker is not None:
        found = bundle.party.find(speaker)
        if found is None:
            raise UsageError(
                f"--as {speaker}: no such party member (party: {bundle.party.roster()})",
                exit_code=2,
            )
        first = found.player

    chosen_seed = seed if seed is not None else secrets.randbelow(1_000_000)
    runtime = open_runtime(bundle, settings, model=model, seed=chosen_seed)
    engine = runtime.engine
    writer: TranscriptWriter | None = None
    try:
        session = None
        if resume:
            session = await engine.resume()
            if session is None:
                raise UsageError(
                    f"--resume: no unfinished session of '{bundle.spec.id}' in "
                    f"{settings.data_dir}; start one without --resume",
                    exit_code=2,
                )
            # The model is rebuilt with the session's own seed so resumed narration matches.
            await runtime.replace_llm(
                select_llm(bundle, settings, model=model, seed=session.seed)[0]
            )
        else:
            session = await engine.start(seed=chosen_seed, transcript=transcript)
        assert session.transcript is not None
        writer = TranscriptWriter(Path(session.transcript))
        engine.subscribers.append(writer)
        print(
            f"{bundle.spec.title} — {runtime.backend}; seed {session.seed}; session {session.id}",
            flush=True,
        )
        print(f"Transcript: {session.transcript}   (/help for commands)", flush=True)
        repl = PlainRepl(runtime, bundle, session, speaker=first, stream=sys.stdout.isatty())
        if resume:
            if session.spec_sha256 != bundle.spec_sha256:
                repl.show(
                    engine.publish(
                        Notice(
                            turn=session.turn,
                            text="the spec changed since this session started; "
                            "playing its new version",
                        )
                    )
                )
            repl.show(
                engine.publish(
                    Notice(
                        turn=session.turn,
                        text=f"resumed at turn {session.turn}",
                        data={"record": True},
                    )
                )
            )
            if session.pending:
                lines = [(p.player, p.text) for p in session.pending]
                repl.say("  · re-running the interrupted turn")
                async for event in engine.run_turn(session, lines):
                    repl.show(event)
        else:
            writer.header(**engine.header(session))
            repl.show(engine.opening(session))
        if session.status.value == "active":
            interactive = sys.stdin.isatty() and sys.stdout.isatty()
            source = (
                prompt_lines(repl, str(settings.data_dir / ".play-history"))
                if interactive
                else stdin_lines(sys.stdin)
            )
            await repl.run(source)
        return 0
    finally:
        if writer is not None:
            writer.close()
        await runtime.close()
