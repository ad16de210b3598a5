"""How the CLI shows training events: a rich live display on a terminal, plain lines elsewhere."""

from __future__ import annotations

import time

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from seqgan_music.cli.common import console
from seqgan_music.training.events import TrainingEvent

PHASE_NAMES = {"mle": "MLE", "ss": "scheduled sampling", "pretrain_d": "D pre-train", "adversarial": "adversarial"}
# metric key -> column heading; short enough that the table fits 80 columns.
_COLUMNS = {"g_loss": "G loss", "d_loss": "D loss", "d_acc_real": "D real", "d_acc_fake": "D fake",
            "mean_reward": "reward", "nll_oracle": "NLL orc", "nll_test": "NLL test"}


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
        for heading in _COLUMNS.values():
            table.add_column(heading, justify="right", no_wrap=True)
        for phase, values in self.latest.items():
            table.add_row(PHASE_NAMES.get(phase, phase), *(_format(values.get(key)) for key in _COLUMNS))
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
            values = " ".join(f"{_COLUMNS[key].replace(' ', '_').lower()}={_format(value)}"
                              for key, value in event.metrics.items() if key in _COLUMNS)
            console.print(f"{PHASE_NAMES.get(event.phase, event.phase)} {event.unit}/{event.total} "
                          f"[{_clock(event.elapsed)}] {values}", highlight=False, soft_wrap=True)
        elif event.kind in ("note", "finished"):
            console.print(event.message, highlight=False)


def training_view() -> LiveTrainingView | LineTrainingLog:
    """The live display on a terminal, one line per unit otherwise."""
    return LiveTrainingView() if console.is_terminal else LineTrainingLog()


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return "" if value is None else str(value)
