"""Setting up a terminal playtest, shared by both front ends (the plain REPL and the TUI).

`open_playtest` does everything a front end needs before the first line is typed —
settings, content, `--as`, the seed, the runtime, start or resume, the transcript writer —
and hands back a `Playtest`; launch.py's `play_plain` and `play_tui` only differ in what
they do with it. This module imports neither front end, so the TUI can name `Playtest`
without an import circle.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mardonar.errors import UsageError

if TYPE_CHECKING:
    from mardonar.content.bundle import Bundle
    from mardonar.engine.events import Event
    from mardonar.engine.loop import Engine
    from mardonar.engine.session import Session
    from mardonar.llm.base import LLM
    from mardonar.llm.turnformat import PlayerLine
    from mardonar.runtime import Runtime
    from mardonar.transcript import TranscriptWriter


@dataclass(frozen=True)
class PlayOptions:
    """What `mardonar play` was asked for (its command-line options)."""

    spec: str
    seed: int | None = None
    party: Path | None = None
    speaker: str | None = None
    transcript: Path | None = None
    model: str | None = None
    resume: bool = False
    fresh_memory: bool = False


@dataclass
class Playtest:
    """An encounter ready to play: the engine, its session, the transcript writer attached
    as an engine subscriber, and what a front end shows before the first line."""

    bundle: Bundle
    runtime: Runtime
    session: Session
    speaker: str
    """The player id who speaks first."""
    writer: TranscriptWriter
    intro: list[Event]
    """Already published: the opening, or the notices of a resume."""
    pending: list[PlayerLine]
    """The lines of a turn interrupted before it finished; the front end re-runs them."""
    resumed: bool = False
    """The session was resumed: what was said before is in `session.history`."""
    transcript: Path | None = None
    """The transcript path the user chose, if any (replays are written beside it)."""
    make_llm: Callable[[Bundle, int], LLM] | None = None
    """A fresh model for the content and a seed (resume, replay); None keeps the current
    one (tests)."""
    restarts: int = field(default=0, init=False)

    @property
    def engine(self) -> Engine:
        return self.runtime.engine

    def banner(self) -> tuple[str, str]:
        """The start-up lines: what is played, how, and where it is written."""
        session = self.session
        return (
            f"{self.bundle.spec.title} — {self.runtime.backend}; seed {session.seed}; "
            f"session {session.id}",
            f"Transcript: {session.transcript}",
        )

    def farewell(self) -> str:
        """What to print on leaving: how to resume an unfinished session, or where the
        finished one was written."""
        session = self.session
        if session.status.value == "active":
            return (
                f"Session {session.id} saved at turn {session.turn}; continue with "
                f"`mardonar play {self.bundle.spec.id} --resume`."
            )
        where = f" Summary: {session.summary_path}." if session.summary_path else ""
        return f"Session {session.id} is over.{where} Transcript: {session.transcript}"

    async def restart(self, bundle: Bundle | None = None) -> Event:
        """A new session with the same seed, a fresh model and a new transcript; returns
        the (published) opening. `bundle` replaces the content (a live reload), else the
        same spec is played again. The old session is left as it is, finished or not;
        `--resume` takes the newest unfinished session, which is now this one."""
        from mardonar.transcript import TranscriptWriter

        seed = self.session.seed
        self._detach_writer()
        if bundle is not None:
            self.bundle = self.runtime.engine.bundle = bundle
        if self.make_llm is not None:
            # Same seed, fresh model state: the offline narrator replays the same way.
            await self.runtime.replace_llm(self.make_llm(self.bundle, seed))
        self.restarts += 1
        path = None
        if self.transcript is not None:
            path = self.transcript.with_name(
                f"{self.transcript.stem}-replay-{self.restarts}{self.transcript.suffix}"
            )
        self.session = await self.engine.start(seed=seed, transcript=path)
        assert self.session.transcript is not None
        self.writer = TranscriptWriter(Path(self.session.transcript))
        self.engine.subscribers.append(self.writer)
        self.writer.header(**self.engine.header(self.session))
        self.pending = []
        self.resumed = False
        self.intro = [self.engine.opening(self.session)]
        return self.intro[0]

    def _detach_writer(self) -> None:
        if self.writer in self.engine.subscribers:
            self.engine.subscribers.remove(self.writer)
        self.writer.close()

    async def close(self) -> None:
        self._detach_writer()
        await self.runtime.close()


def first_speaker(bundle: Bundle, speaker: str | None) -> str:
    if speaker is None:
        return bundle.party.characters[0].player
    found = bundle.party.find(speaker)
    if found is None:
        raise UsageError(
            f"--as {speaker}: no such party member (party: {bundle.party.roster()})",
            exit_code=2,
        )
    return found.player


def last_speaker(session: Session) -> str | None:
    """The player of the session's last line: a pending one, else the last in the story."""
    if session.pending:
        return session.pending[-1].player
    for entry in reversed(session.history):
        if entry.role == "player":
            return entry.speaker
    return None


async def begin_playtest(
    runtime: Runtime,
    bundle: Bundle,
    *,
    seed: int,
    speaker: str,
    resume: bool = False,
    speaker_chosen: bool = True,
    transcript: Path | None = None,
    make_llm: Callable[[Bundle, int], LLM] | None = None,
) -> Playtest:
    """Start (or resume) a session on `runtime` and attach its transcript writer.

    On resume without an explicit `--as` (`speaker_chosen=False`), whoever spoke last in the
    session speaks again, so a `/as` switch survives a restart.
    """
    from mardonar.engine.events import Notice
    from mardonar.memory.base import memory_note
    from mardonar.transcript import TranscriptWriter

    engine = runtime.engine
    if resume:
        found = await engine.resume()
        if found is None:
            raise UsageError(
                f"--resume: no unfinished session of '{bundle.spec.id}' in "
                f"{engine.data_dir}; start one without --resume",
                exit_code=2,
            )
        session = found
        if not speaker_chosen:
            speaker = last_speaker(session) or speaker
        if make_llm is not None:
            # The model is rebuilt with the session's own seed so resumed narration matches.
            await runtime.replace_llm(make_llm(bundle, session.seed))
    else:
        session = await engine.start(seed=seed, transcript=transcript)
    assert session.transcript is not None
    writer = TranscriptWriter(Path(session.transcript))
    engine.subscribers.append(writer)
    intro: list[Event] = []
    if resume:
        if session.spec_sha256 != bundle.spec_sha256:
            intro.append(
                engine.publish(
                    Notice(
                        turn=session.turn,
                        text="the spec changed since this session started; playing its new version",
                    )
                )
            )
        intro.append(
            engine.publish(
                Notice(
                    turn=session.turn,
                    text=f"resumed at turn {session.turn}",
                    data={"record": True},
                )
            )
        )
    else:
        writer.header(**engine.header(session))
        intro.append(engine.opening(session))
    note = await memory_note(engine.memory, scope=bundle.spec.id, session_id=session.id)
    if note is not None:
        intro.append(engine.publish(Notice(turn=session.turn, text=note)))
    return Playtest(
        bundle=bundle,
        runtime=runtime,
        session=session,
        speaker=speaker,
        writer=writer,
        intro=intro,
        pending=list(session.pending),
        resumed=resume,
        transcript=None if resume else transcript,
        make_llm=make_llm,
    )


@asynccontextmanager
async def open_playtest(options: PlayOptions) -> AsyncIterator[Playtest]:
    """Settings, content, runtime and session for `options`; everything is closed on exit."""
    from mardonar.config import load_settings
    from mardonar.content.bundle import load_bundle
    from mardonar.llm.select import select_llm
    from mardonar.runtime import open_runtime

    settings = load_settings()
    bundle = load_bundle(options.spec, cwd=Path.cwd(), party=options.party)
    speaker = first_speaker(bundle, options.speaker)
    seed = options.seed if options.seed is not None else secrets.randbelow(1_000_000)
    runtime = open_runtime(
        bundle, settings, model=options.model, seed=seed, fresh_memory=options.fresh_memory
    )

    def make_llm(content: Bundle, for_seed: int) -> LLM:
        return select_llm(content, settings, model=options.model, seed=for_seed)[0]

    playtest: Playtest | None = None
    try:
        playtest = await begin_playtest(
            runtime,
            bundle,
            seed=seed,
            speaker=speaker,
            resume=options.resume,
            speaker_chosen=options.speaker is not None,
            transcript=options.transcript,
            make_llm=make_llm,
        )
        yield playtest
    finally:
        if playtest is not None:
            await playtest.close()
        else:
            await runtime.close()
