"""What a training run reports, through one small observer interface.

The CLI renders these events with a rich live display; the TUI turns them into messages from a
worker thread. Training code never knows which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class TrainingEvent:
    """One report. `kind`: "phase" (a phase starts, or a resumed run goes on with it: `unit` units
    are done already), "unit" (an epoch or round finished, with its metrics), "checkpoint" (state
    saved), "note" (a line for the user), "finished"."""

    kind: str
    phase: str = ""
    unit: int = 0  # units done in this phase
    total: int = 0  # units in this phase
    metrics: dict = field(default_factory=dict)
    elapsed: float = 0.0  # seconds since the run (or the resumed session) started
    message: str = ""


class PhaseTimer:
    """Seconds left in the phase being trained, from the events: the pace of its units so far in
    this session (evaluations and checkpoints included) times the units still to do. Known after
    the first unit of every phase, however long a unit takes."""

    def __init__(self) -> None:
        self._starts: dict[str, tuple[float, int]] = {}  # phase -> (elapsed, units done) when it began here

    def remaining(self, event: TrainingEvent) -> float | None:
        """Take in one event; after a unit, the seconds its phase still needs (None while unknown)."""
        if event.kind == "phase":
            self._starts[event.phase] = (event.elapsed, event.unit)
        if event.kind != "unit":
            return None
        started, done_before = self._starts.setdefault(event.phase, (event.elapsed, event.unit))
        if event.unit <= done_before:
            return None
        return (event.elapsed - started) / (event.unit - done_before) * max(event.total - event.unit, 0)


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
