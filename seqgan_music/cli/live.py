"""How the CLI shows training events: a rich live display on a terminal, plain lines elsewhere."""

from __future__ import annotations

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from seqgan_music.cli.common import console
from seqgan_music.formatting import METRIC_HEADINGS, PHASE_NAMES, format_clock, format_metric
from seqgan_music.training.events import TrainingEvent


class LiveTrainingView:
    """Observer that keeps a progress bar per phase and a table of each phase's latest values."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description:<12}"), BarColumn(bar_width=None), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                                 expand=True)
        self.tasks: dict[str, int] = {}
        self.latest: dict[str, dict] = {}
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveTrainingView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._render())
        self.live.__exit__(*exc)  # type: ignore[arg-type]

    def on_event(self, event: TrainingEvent) -> None:
        if event.kind in ("phase", "unit") and event.phase not in self.tasks:
            self.tasks[event.phase] = self.progress.add_task(PHASE_NAMES.get(event.phase, event.phase),
                                                             total=event.total)
        if event.kind == "unit":
            self.progress.update(self.tasks[event.phase], completed=event.unit)
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
            table.add_row(PHASE_NAMES.get(phase, phase), *(format_metric(values.get(key)) for key in METRIC_HEADINGS))
        return Group(self.progress, table)


class LineTrainingLog:
    """Observer for output that is not a terminal (a pipe, a log file, CI): one line per unit,
    printed as it happens, so a long run's log shows its progress."""

    def __enter__(self) -> LineTrainingLog:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def on_event(self, event: TrainingEvent) -> None:
        if event.kind == "phase":
            unit = "epochs" if event.phase in ("mle", "ss") else "rounds"
            console.print(f"{PHASE_NAMES.get(event.phase, event.phase)}: {event.total} {unit}", highlight=False)
        elif event.kind == "unit":
            values = " ".join(f"{METRIC_HEADINGS[key].replace(' ', '_').lower()}={format_metric(value)}"
                              for key, value in event.metrics.items() if key in METRIC_HEADINGS)
            console.print(f"{PHASE_NAMES.get(event.phase, event.phase)} {event.unit}/{event.total} "
                          f"[{format_clock(event.elapsed)}] {values}", highlight=False, soft_wrap=True)
        elif event.kind in ("note", "finished"):
            console.print(event.message, highlight=False)


def training_view() -> LiveTrainingView | LineTrainingLog:
    """The live display on a terminal, one line per unit otherwise."""
    return LiveTrainingView() if console.is_terminal else LineTrainingLog()
