"""What a training run reports, through one small observer interface.

The CLI renders these events with a rich live display; the TUI turns them into messages from a
worker thread. Training code never knows which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class TrainingEvent:
    """One report. `kind`: "phase" (a phase starts), "unit" (an epoch or round finished, with its
    metrics), "checkpoint" (state saved), "note" (a line for the user), "finished"."""

    kind: str
    phase: str = ""
    unit: int = 0  # units done in this phase
    total: int = 0  # units in this phase
    metrics: dict = field(default_factory=dict)
    elapsed: float = 0.0  # seconds since the run (or the resumed session) started
    message: str = ""


class TrainingObserver(Protocol):
    def on_event(self, event: TrainingEvent) -> None: ...


class SilentObserver:
    """Ignores every event (library use, tests)."""

    def on_event(self, event: TrainingEvent) -> None:
        pass


class RecordingObserver:
    """Keeps every event, for tests and for interfaces that poll."""

    def __init__(self) -> None:
        self.events: list[TrainingEvent] = []

    def on_event(self, event: TrainingEvent) -> None:
        self.events.append(event)
