"""The one observer interface through which long work reports progress.

Core code calls a `Reporter`; the CLI renders it with rich, the TUI turns it into messages.
"""

from __future__ import annotations

from typing import Protocol


class Reporter(Protocol):
    """Receives the progress of long work: a task with an optional total, advanced in steps."""

    def begin(self, task: str, total: int | None = None) -> None: ...

    def advance(self, steps: int = 1) -> None: ...

    def end(self) -> None: ...

    def note(self, message: str) -> None: ...


class SilentReporter:
    """A reporter that ignores everything (library use, tests)."""

    def begin(self, task: str, total: int | None = None) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass

    def end(self) -> None:
        pass

    def note(self, message: str) -> None:
        pass
