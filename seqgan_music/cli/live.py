"""How the CLI shows training events: a rich live display on a terminal, plain lines elsewhere."""

from __future__ import annotations

import time

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from seqgan_music.cli.common import console
from seqgan_music.formatting import METRIC_HEADINGS, format_clock, format_metric
from seqgan_music.phases import PHASES, phase_label
from seqgan_music.training.events import PhaseTimer, TrainingEvent

_UNKNOWN_CLOCK = "-:--:--"


class PhaseEtaColumn(ProgressColumn):
    """The phase's time left, from the pace of its units (PhaseTimer), counting down between units.

    rich's own TimeRemainingColumn needs two updates within 30 s, so phases whose units take
    longer (the oracle's adversarial rounds) never showed one."""

    def render(self, task: Task) -> Text:
        if task.finished:
            return Text(format_clock(0), style="progress.remaining")
        eta, stamp = task.fields.get("eta"), task.fields.get("eta_stamp", 0.0)
        if eta is None:
            return Text(_UNKNOWN_CLOCK, style="progress.remaining")
        return Text(format_clock(max(eta - (time.monotonic() - stamp), 0.0)), style="progress.remaining")


class LiveTrainingView:
    """Observer that keeps a progress bar per phase and a table of each phase's latest values."""

    def __init__(self, output: Console = console) -> None:
        self.progress = Progress(TextColumn("{task.description:<12}"), BarColumn(bar_width=None), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), PhaseEtaColumn(), console=output,
                                 expand=True)
        self.tasks: dict[str, int] = {}
        self.latest: dict[str, dict] = {}
        self.timer = PhaseTimer()
        self.live = Live(self._render(), console=output, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveTrainingView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._render())
        self.live.__exit__(*exc)  # type: ignore[arg-type]

    def on_event(self, event: TrainingEvent) -> None:
        eta = self.timer.remaining(event)
        if event.kind in ("phase", "unit") and event.phase not in self.tasks:
            self.tasks[event.phase] = self.progress.add_task(phase_label(event.phase),
                                                             total=event.total, completed=event.unit, eta=None)
        if event.kind == "unit":
            self.progress.update(self.tasks[event.phase], completed=event.unit, eta=eta, eta_stamp=time.monotonic())
            self.latest[event.phase] = {**self.latest.get(event.phase, {}), **event.metrics}
        elif event.kind in ("note", "finished"):
            self.live.console.print(event.message, highlight=False)
        self.live.update(self._render())

    def _render(self) -> Group:
        table = Table(box=None, padding=(0, 1), show_edge=False)
        table.add_column("latest", no_wrap=True)
        for heading in METRIC_HEADINGS.values():
            table.add_column(heading, justify="right", no_wrap=True)
        for phase, values in self.latest.items():
            table.add_row(phase_label(phase), *(format_metric(values.get(key)) for key in METRIC_HEADINGS))
        return Group(self.progress, table)


class LineTrainingLog:
    """Observer for output that is not a terminal (a pipe, a log file, CI): one line per unit,
    printed as it happens, so a long run's log shows its progress."""

    def __init__(self) -> None:
        self.timer = PhaseTimer()

    def __enter__(self) -> LineTrainingLog:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def on_event(self, event: TrainingEvent) -> None:
        eta = self.timer.remaining(event)
        if event.kind == "phase":
            phase = PHASES.get(event.phase)
            units = phase.count(event.total) if phase else str(event.total)
            done = f", {event.unit} done" if event.unit else ""
            console.print(f"{phase_label(event.phase)}: {units}{done}", highlight=False)
        elif event.kind == "unit":
            values = " ".join(f"{METRIC_HEADINGS[key].replace(' ', '_').lower()}={format_metric(value)}"
                              for key, value in event.metrics.items() if key in METRIC_HEADINGS)
            clock = format_clock(event.elapsed) + ("" if eta is None else f", ETA {format_clock(eta)}")
            console.print(f"{phase_label(event.phase)} {event.unit}/{event.total} "
                          f"[{clock}] {values}", highlight=False, soft_wrap=True)
        elif event.kind in ("note", "finished"):
            console.print(event.message, highlight=False)


def training_view() -> LiveTrainingView | LineTrainingLog:
    """The live display on a terminal, one line per unit otherwise."""
    return LiveTrainingView() if console.is_terminal else LineTrainingLog()
