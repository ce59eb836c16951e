"""The typing indicator: a spinner and the seconds the GM has been thinking, shown only
while a turn runs (the app toggles it from the worker's state)."""

from __future__ import annotations

import time

from textual.timer import Timer
from textual.widgets import Static

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class Thinking(Static):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._started = 0.0
        self._frame = 0
        self._timer: Timer | None = None
        self.label = "the GM is thinking…"

    def on_mount(self) -> None:
        # 12 frames a second reads as motion without costing the terminal anything.
        self._timer = self.set_interval(1 / 12, self._tick, pause=True)

    @property
    def active(self) -> bool:
        return self.has_class("-active")

    def start(self, label: str = "the GM is thinking…") -> None:
        self.label = label
        self._started = time.monotonic()
        self.add_class("-active")
        self._tick()
        if self._timer is not None:
            self._timer.resume()

    def stop(self) -> None:
        self.remove_class("-active")
        if self._timer is not None:
            self._timer.pause()

    def _tick(self) -> None:
        self._frame = (self._frame + 1) % len(FRAMES)
        elapsed = time.monotonic() - self._started
        self.update(f"{FRAMES[self._frame]} {self.label} {elapsed:.1f} s")
