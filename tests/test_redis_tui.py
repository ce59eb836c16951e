"""The Textual app on the Redis store: Redis going away costs one line in the story, not the
app (tests/test_tui.py drives the same app on SQLite; here the store is a real redis-server
that the test stops and starts again)."""

# ruff: noqa: F811

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from mardonar.channels.terminal.playtest import begin_playtest
from mardonar.channels.terminal.tui.app import PlayApp
from mardonar.channels.terminal.tui.widgets.input_bar import HistoryInput
from mardonar.channels.terminal.tui.widgets.story import StoryPane
from mardonar.engine.loop import Engine
from mardonar.llm.scripted import ScriptedLLM
from mardonar.memory.sqlite import SqliteMemory
from mardonar.runtime import Runtime
from mardonar.store.redis import RedisStore
from tests.engine_helpers import bundle, run
from tests.redis_server import RestartableRedis, restartable_redis  # noqa: F401


async def send(app: PlayApp, pilot: Pilot[int], line: str) -> None:
    app.query_one("#line", HistoryInput).value = line
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await pilot.pause()


def test_the_tui_shows_one_line_while_redis_is_away_and_plays_on(
    restartable_redis: RestartableRedis, tmp_path: Path
) -> None:
    server = restartable_redis
    llm = ScriptedLLM(["Grukk scratches his ear.", "Grukk names his price: five silver."])

    async def go() -> None:
        content = bundle()
        data = tmp_path / "data"
        store, memory = RedisStore(server.url), SqliteMemory(data / "mardonar.db")
        engine = Engine(content, llm=llm, store=store, memory=memory, data_dir=data)
        runtime = Runtime(engine=engine, store=store, memory=memory, backend="scripted model")
        playtest = await begin_playtest(
            runtime, content, seed=7, speaker="aria", transcript=tmp_path / "t.jsonl"
        )
        try:
            app = PlayApp(playtest)
            async with app.run_test(size=(120, 36)) as pilot:
                await send(app, pilot, "Hello, Grukk.")
                assert "Grukk scratches his ear." in app.query_one(StoryPane).text

                server.stop()
                await send(app, pilot, "What is the toll?")
                await send(app, pilot, "/roll d20")
                text = app.query_one(StoryPane).text
                refusals = [line for line in text.splitlines() if "Redis is unavailable" in line]
                assert len(refusals) == 2, text  # the line and the roll, one line each
                assert all("start Redis or fix REDIS_URL" in line for line in refusals)
                assert "Traceback" not in text and "the engine failed" not in text
                assert playtest.session.turn == 1

                server.start()
                await send(app, pilot, "What is the toll?")
                assert "five silver" in app.query_one(StoryPane).text
                assert playtest.session.turn == 2
                assert app.is_running
        finally:
            await playtest.close()

    run(go())
