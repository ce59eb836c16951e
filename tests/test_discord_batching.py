"""The batcher that turns bursts of messages into turns, with a tiny quiet window."""

from __future__ import annotations

import asyncio

from mardonar.channels.discord.batching import Batcher

WINDOW = 0.05


async def until_idle(batcher: Batcher[str, str]) -> None:
    while batcher.busy:
        await asyncio.sleep(WINDOW / 5)


def test_a_burst_is_one_flush_in_order() -> None:
    flushed: list[tuple[str, list[str]]] = []

    async def flush(key: str, items: list[str]) -> None:
        flushed.append((key, items))

    async def scenario() -> None:
        batcher: Batcher[str, str] = Batcher(WINDOW, flush)
        batcher.add("thread", "aria: hello")
        batcher.add("thread", "bram: hi")
        batcher.add("thread", "aria: again")
        assert batcher.pending("thread") == 3
        await until_idle(batcher)

    asyncio.run(scenario())
    assert flushed == [("thread", ["aria: hello", "bram: hi", "aria: again"])]


def test_each_message_restarts_the_quiet_window() -> None:
    flushed: list[list[int]] = []

    async def flush(key: str, items: list[int]) -> None:
        flushed.append(items)

    async def scenario() -> None:
        batcher: Batcher[str, int] = Batcher(WINDOW, flush)
        for n in range(5):  # each gap is shorter than the window: still one burst
            batcher.add("t", n)
            await asyncio.sleep(WINDOW / 5)
        assert flushed == []
        while batcher.busy:
            await asyncio.sleep(WINDOW / 5)

    asyncio.run(scenario())
    assert flushed == [[0, 1, 2, 3, 4]]


def test_threads_are_batched_apart() -> None:
    flushed: dict[str, list[str]] = {}

    async def flush(key: str, items: list[str]) -> None:
        flushed[key] = items

    async def scenario() -> None:
        batcher: Batcher[str, str] = Batcher(WINDOW, flush)
        batcher.add("one", "a")
        batcher.add("two", "b")
        batcher.add("one", "c")
        await until_idle(batcher)

    asyncio.run(scenario())
    assert flushed == {"one": ["a", "c"], "two": ["b"]}


def test_turns_of_one_thread_never_interleave() -> None:
    log: list[str] = []

    async def scenario() -> None:
        gate = asyncio.Event()

        async def flush(key: str, items: list[str]) -> None:
            log.append(f"start {items}")
            if items == ["first"]:
                await gate.wait()  # a slow model answer
            log.append(f"end {items}")

        batcher: Batcher[str, str] = Batcher(WINDOW, flush)
        batcher.add("t", "first")
        while not log:
            await asyncio.sleep(WINDOW / 5)
        batcher.add("t", "second")  # arrives while the first turn is being played
        await asyncio.sleep(WINDOW * 3)
        assert log == ["start ['first']"]
        gate.set()
        while batcher.busy:
            await asyncio.sleep(WINDOW / 5)

    asyncio.run(scenario())
    assert log == ["start ['first']", "end ['first']", "start ['second']", "end ['second']"]


def test_a_full_burst_is_played_at_once() -> None:
    flushed: list[list[int]] = []

    async def flush(key: str, items: list[int]) -> None:
        flushed.append(items)

    async def scenario() -> None:
        batcher: Batcher[str, int] = Batcher(60.0, flush, max_items=3)  # a window never reached
        for n in range(3):
            batcher.add("t", n)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert flushed == [[0, 1, 2]]

    asyncio.run(scenario())


def test_drain_plays_what_is_queued_and_a_failure_does_not_stop_others() -> None:
    flushed: list[str] = []

    async def flush(key: str, items: list[str]) -> None:
        if key == "broken":
            raise RuntimeError("the model exploded")
        flushed.extend(items)

    async def scenario() -> None:
        batcher: Batcher[str, str] = Batcher(60.0, flush)
        batcher.add("broken", "x")
        batcher.add("fine", "queued line")
        await batcher.drain()
        assert not batcher.busy

    asyncio.run(scenario())
    assert flushed == ["queued line"]
