"""A rich live display of training events: phase, units, ETA and the latest metrics."""

from __future__ import annotations

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from seqgan_music.cli.common import console
from seqgan_music.training.events import TrainingEvent

PHASE_NAMES = {"mle": "MLE pre-training", "pretrain_d": "discriminator pre-training", "adversarial": "adversarial training"}
_SHOWN = ("g_loss", "d_loss", "d_acc_real", "d_acc_fake", "mean_reward", "nll_oracle", "nll_test")


class LiveTrainingView:
    """Observer that keeps a progress bar per phase and a table of the latest values."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console)
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
            self.tasks[event.phase] = self.progress.add_task(PHASE_NAMES.get(event.phase, event.phase), total=event.total)
        if event.kind == "unit":
            self.progress.update(self.tasks[event.phase], completed=event.unit)
            self.latest[event.phase] = {**self.latest.get(event.phase, {}), **event.metrics}
        elif event.kind == "note" or event.kind == "finished":
            self.live.console.print(event.message, highlight=False)
        self.live.update(self._render())

    def _render(self) -> Group:
        table = Table(title="latest", title_justify="left", box=None, padding=(0, 2))
        table.add_column("phase")
        for name in _SHOWN:
            table.add_column(name.replace("_", " "), justify="right")
        for phase, values in self.latest.items():
            table.add_row(PHASE_NAMES.get(phase, phase), *(_format(values.get(name)) for name in _SHOWN))
        return Group(self.progress, table)


def _format(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("" if value is None else str(value))
