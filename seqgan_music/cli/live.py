"""A rich live display of training events: phase, units, ETA and the latest metrics."""

from __future__ import annotations

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from seqgan_music.cli.common import console
from seqgan_music.training.events import TrainingEvent

PHASE_NAMES = {"mle": "MLE", "pretrain_d": "D pre-train", "adversarial": "adversarial"}
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


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return "" if value is None else str(value)
