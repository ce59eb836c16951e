"""`mardonar play`'s two front ends started on a playtest: the line REPL or the Textual app.

Kept apart from playtest.py, which both front ends' code names: this module imports the
front ends (each only when chosen, so the REPL never loads textual), playtest.py imports
none of them.
"""

from __future__ import annotations

import sys

from mardonar.channels.terminal.playtest import PlayOptions, open_playtest


async def play_plain(options: PlayOptions) -> int:
    """The line REPL: prompt-toolkit on a TTY, plain stdin lines otherwise."""
    from mardonar.channels.terminal.plain import PlainRepl, prompt_lines, stdin_lines

    async with open_playtest(options) as playtest:
        engine, session = playtest.engine, playtest.session
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        repl = PlainRepl(
            playtest.runtime,
            playtest.bundle,
            session,
            speaker=playtest.speaker,
            stream=sys.stdout.isatty(),
            echo=not interactive,
        )
        headline, transcript = playtest.banner()
        repl.say(headline)
        repl.say(f"{transcript}   (/help for commands)")
        for event in playtest.intro:
            repl.show(event)
        if playtest.pending:
            repl.say("  · re-running the interrupted turn")
            async for event in engine.run_turn(session, playtest.pending):
                repl.show(event)
        if session.status.value == "active":
            source = (
                prompt_lines(repl, str(engine.data_dir / ".play-history"))
                if interactive
                else stdin_lines(sys.stdin)
            )
            await repl.run(source)
        return 0


async def play_tui(options: PlayOptions, *, watch: bool = False) -> int:
    """The Textual app; on leaving, the same resume hint the plain REPL gives. `watch`
    reloads the content when its files are edited (live reload)."""
    from mardonar.channels.terminal.tui.app import PlayApp

    async with open_playtest(options) as playtest:
        app = PlayApp(playtest, watch=watch)
        await app.run_async()
        farewell = playtest.farewell()
    print(farewell, flush=True)
    return app.return_code or 0
