"""The Evaluate pane: tick runs, score them side by side as `seqgan-music evaluate` does (form
metrics and, when asked, the C2ST included, beside the real data's values), draw their
pitch-class and interval histograms against the real data, and sweep the sampling temperature.

Evaluations and sweeps run in thread workers through the CLI's own functions (`compare_runs` and
`temperature_sweep`, with the same cache in each run folder) and come back as typed messages. The
table is drawn from `comparison_grid`, the grid the CLI prints, so both show the same figures. The
pure functions at the top hold no widgets, so they are tested and reused without a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Select, SelectionList, Static
from textual.widgets.selection_list import Selection
from textual.worker import get_current_worker

from seqgan_music.corpora.split import SPLITS
from seqgan_music.errors import SeqganError
from seqgan_music.evaluation.music_stats import INTERVAL_LIMIT
from seqgan_music.evaluation.scores import parse_groups
from seqgan_music.progress import Reporter
from seqgan_music.run_evaluation.comparison import ComparisonGrid, check_same_corpus, compare_runs, comparison_grid
from seqgan_music.run_evaluation.runs import EvaluationSettings, RunEvaluation
from seqgan_music.run_evaluation.sweep import (
    DEFAULT_TEMPERATURES,
    SweepPoint,
    default_axes,
    parse_temperatures,
    run_corpus,
    sweep_plot,
    temperature_sweep,
)
from seqgan_music.training.device import pick_device
from seqgan_music.training.runs import checkpoints_dir, listed_runs
from seqgan_music.tui.corpora import PITCH_CLASSES
from seqgan_music.tui.project import ProjectChanged
from seqgan_music.tui.widgets import BarChart, FieldLabel, FormSelect, TaskProgress, plot_text

DEFAULTS = EvaluationSettings()  # the CLI's defaults
PERMUTATIONS = 10_000  # the CLI's default, so the p-values are the same
DEVICE = "auto"  # the CLI's default: the samples (and the cache entries) are the CLI's
INTERVALS = tuple(f"{step:+d}" if step else "0" for step in range(-INTERVAL_LIMIT, INTERVAL_LIMIT + 1))
NAME_WIDTH = 14  # longer run names are shortened in the histograms' labels
PLOT_MARGIN = 12  # the sweep plot's y labels and axis, beside its plotting area
MINIMUM_PLOT_WIDTH = 20


# --- what the pane shows (pure) ----------------------------------------------------------------


def run_prompts(runs: Sequence[dict]) -> list[tuple[str, str]]:
    """(prompt, run name) per run.json: name, corpus, method and status in aligned columns."""
    rows = [[str(info.get(key, "?")) for key in ("name", "corpus", "method", "status")] for info in runs]
    widths = [max((len(row[column]) for row in rows), default=0) for column in range(3)]
    return [(" ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " " + row[3], row[0])
            for row in rows]


@dataclass(frozen=True)
class FormValues:
    """The settings fields as typed (text), validated by `read_settings` and `read_sweep`."""

    references: str = DEFAULTS.references
    samples: str = str(DEFAULTS.samples)
    temperature: str = f"{DEFAULTS.temperature:g}"
    seed: str = str(DEFAULTS.seed)
    metrics: str = ""
    temperatures: str = ",".join(f"{t:g}" for t in DEFAULT_TEMPERATURES)


def read_settings(values: FormValues) -> EvaluationSettings:
    """The settings of `seqgan-music evaluate`; SeqganError names the first bad field."""
    settings = EvaluationSettings(values.references, _whole(values.samples, "samples"),
                                  _number(values.temperature, "temperature"), _whole(values.seed, "seed"),
                                  parse_groups(values.metrics))
    settings.check()
    return settings


def read_sweep(values: FormValues) -> tuple[EvaluationSettings, list[float]]:
    """The base settings and temperatures of `seqgan-music sweep` (temperature and metrics unused)."""
    base = EvaluationSettings(references=values.references, samples=_whole(values.samples, "samples"),
                              seed=_whole(values.seed, "seed"))
    base.check()
    return base, parse_temperatures(values.temperatures)


def check_selection(selected: Sequence[str], corpora: Mapping[str, str]) -> None:
    """Refuse an empty selection, and runs of different corpora (named as the CLI names them)."""
    if not selected:
        raise SeqganError("tick one or more runs first (space in the runs list)")
    check_same_corpus([(run, corpora[run]) for run in selected])


def _whole(text: str, name: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise SeqganError(f"{name} must be a whole number, got {text!r}") from None


def _number(text: str, name: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise SeqganError(f"{name} must be a number such as 0.9, got {text!r}") from None


def grouped_rows(bins: Sequence[str], sets: Sequence[tuple[str, Sequence[float]]]) -> list[tuple[str, float]]:
    """Bar-chart rows of several distributions on one scale: per bin, one row per set in percent.

    One chart keeps the sets comparable (separate charts would each scale to their own peak); the
    bin is named on its first row, the set on every row.
    """
    bin_width = max((len(label) for label in bins), default=0)
    names = [_short(name) for name, _ in sets]
    return [(f"{label if position == 0 else '':>{bin_width}} {name}", 100 * float(shares[index]))
            for index, label in enumerate(bins) for position, (name, (_, shares)) in enumerate(zip(names, sets))]


def occupied(bins: Sequence[str],
             sets: Sequence[tuple[str, Sequence[float]]]) -> tuple[list[str], list[tuple[str, list[float]]]]:
    """The bins from the first to the last that any set uses (wide intervals are mostly empty)."""
    used = [index for index in range(len(bins)) if any(shares[index] > 0 for _, shares in sets)]
    if not used:
        return list(bins), [(name, list(shares)) for name, shares in sets]
    chosen = slice(used[0], used[-1] + 1)
    return list(bins[chosen]), [(name, list(shares[chosen])) for name, shares in sets]


def histogram_charts(evaluations: Sequence[RunEvaluation]) -> list[tuple[str, list[tuple[str, float]]]]:
    """(title, rows) of the pitch-class and interval charts: the real set, then each run (music only).

    All twelve pitch classes are shown; intervals only over the range some set uses.
    """
    first = evaluations[0]
    charts = []
    for name, title, bins, trimmed in (("pitch_classes", "pitch classes, % of notes", PITCH_CLASSES, False),
                                       ("intervals", "intervals in semitones, % of steps", INTERVALS, True)):
        runs = [(e.run, e.generated.histograms[name]) for e in evaluations if name in e.generated.histograms]
        if not runs:
            continue
        real = [(f"real ({first.real_split})", first.real.histograms[name])] if name in first.real.histograms else []
        shown_bins, sets = occupied(bins, real + runs) if trimmed else (list(bins), real + runs)
        charts.append((title, grouped_rows(shown_bins, sets)))
    return charts


def _short(name: str) -> str:
    return name if len(name) <= NAME_WIDTH else name[:NAME_WIDTH - 1] + "…"


@dataclass
class EvaluationView:
    """Everything the results show after an evaluation, computed off the UI thread."""

    grid: ComparisonGrid
    summary: str
    charts: list[tuple[str, list[tuple[str, float]]]] = field(default_factory=list)


def describe_evaluations(evaluations: Sequence[RunEvaluation], comparisons: Sequence[Sequence]) -> EvaluationView:
    """The table (the CLI's grid), a line naming the baseline and cached runs, a line naming the runs
    whose results could not be cached (a full disk: they are shown all the same), and the histograms."""
    summary = f"baseline (p-values against): {evaluations[0].run}"
    cached = [e.run for e in evaluations if e.cached]
    if cached:
        summary += f"; cached results reused for {', '.join(cached)}"
    uncached = [f"{e.run}: {e.cache_error}" for e in evaluations if e.cache_error]
    if uncached:
        summary += f"\nnot cached (shown all the same): {'; '.join(uncached)}"
    return EvaluationView(comparison_grid(evaluations, comparisons), summary, histogram_charts(evaluations))


@dataclass
class SweepView:
    """A finished sweep: the axes, the points, and the settings it ran with (for the title)."""

    quality: str
    diversity: str
    points: list[SweepPoint]
    base: EvaluationSettings


class StepProgress:
    """Progress of a loop that announces each step as it starts (`compare_runs`, `temperature_sweep`):
    the bar counts finished steps, the status names the running one."""

    def __init__(self, reporter: Reporter, total: int) -> None:
        self.reporter, self.total, self.started = reporter, total, 0
        reporter.begin("evaluating", total)

    def start(self, text: str) -> None:
        if self.started:
            self.reporter.advance()
        self.started += 1
        self.reporter.note(f"{text} ({self.started}/{self.total})")


def evaluate_runs(home: Path, runs: Sequence[str], settings: EvaluationSettings, reporter: Reporter) -> EvaluationView:
    """Evaluate and compare as `seqgan-music evaluate` does (cache included), reporting each run."""
    steps = StepProgress(reporter, len(runs))
    evaluations, comparisons = compare_runs(home, runs, settings, pick_device(DEVICE), True, PERMUTATIONS,
                                            lambda run: steps.start(f"evaluating {run} ({settings.samples} samples)"))
    reporter.end()
    return describe_evaluations(evaluations, comparisons)


def sweep_runs(home: Path, runs: Sequence[str], base: EvaluationSettings, temperatures: Sequence[float],
               reporter: Reporter) -> SweepView:
    """Sweep as `seqgan-music sweep` does with its default axes, reporting each point."""
    quality, diversity = default_axes(run_corpus(home, runs[0]))
    steps = StepProgress(reporter, len(runs) * len(temperatures))
    points = temperature_sweep(home, runs, temperatures, quality, diversity, base, pick_device(DEVICE),
                               lambda run, t: steps.start(f"evaluating {run} at temperature {t:g}"))
    reporter.end()
    return SweepView(quality, diversity, points, base)


# --- widgets -----------------------------------------------------------------------------------


class SweepPlot(Widget):
    """The sweep's quality-against-diversity curves (the CLI's plot), drawn to the widget's width."""

    DEFAULT_CSS = """
    SweepPlot { height: auto; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: SweepView | None = None

    def set_view(self, view: SweepView) -> None:
        self.view = view
        self.border_title = (f"temperature sweep: {view.quality} against {view.diversity}, "
                             f"{view.base.samples} samples, {view.base.references} split")
        self.refresh(layout=True)

    def plain_lines(self) -> list[str]:
        """The plot as plain text at the current width (what `render` draws)."""
        if self.view is None:
            return []
        width = max((self.content_size.width or 80) - PLOT_MARGIN, MINIMUM_PLOT_WIDTH)
        return sweep_plot(self.view.points, self.view.quality, self.view.diversity, width).splitlines()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(len(self.plain_lines()), 1)

    def render(self) -> Text:
        runs = len({point.run for point in self.view.points}) if self.view else 0
        return plot_text(self.plain_lines(), runs)


class SettingsForm(Vertical):
    """The settings of `seqgan-music evaluate` and the sweep's temperatures, with the two buttons;
    Enter in a field evaluates (sweeps, in the temperatures field)."""

    BINDINGS = [Binding("escape", "leave", "Back to runs")]
    FIELDS = (("samples", "samples drawn from each run"), ("temperature", "sampling temperature"),
              ("seed", "sampling seed"), ("metrics", "all that apply"),
              ("temperatures", "the sweep's temperatures"))

    class Submitted(Message):
        """The user asked to run `action`: "evaluate" or "sweep"."""

        def __init__(self, action: str) -> None:
            super().__init__()
            self.action = action

    class Left(Message):
        """The user left the form (escape), back to the pane's keys."""

    def compose(self) -> ComposeResult:
        defaults = FormValues()
        with Horizontal(classes="field"):
            yield FieldLabel("references", classes="field-label")
            yield FormSelect([(split, split) for split in SPLITS], value=defaults.references, allow_blank=False,
                             compact=True, id="evaluate-references")
        for name, placeholder in self.FIELDS:
            with Horizontal(classes="field"):
                yield FieldLabel(name, classes="field-label")
                yield Input(getattr(defaults, name), placeholder=placeholder, compact=True, id=f"evaluate-{name}")
        with Horizontal(id="evaluate-actions"):
            yield Button("Evaluate", variant="primary", compact=True, id="evaluate-button")
            yield Button("Sweep", compact=True, id="sweep-button")
        yield TaskProgress("ready", id="evaluate-progress")

    def on_mount(self) -> None:
        self.border_title = "settings"

    def values(self) -> FormValues:
        """The fields' current text."""
        texts = {name: self.query_one(f"#evaluate-{name}", Input).value for name, _ in self.FIELDS}
        return FormValues(references=str(self.query_one("#evaluate-references", Select).value), **texts)

    def set_busy(self, busy: bool) -> None:
        """One task at a time: the buttons are off while one runs."""
        for button in self.query(Button):
            button.disabled = busy

    @on(Button.Pressed, "#evaluate-button")
    @on(Button.Pressed, "#sweep-button")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.Submitted("sweep" if event.button.id == "sweep-button" else "evaluate"))

    @on(Input.Submitted)
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Submitted("sweep" if event.input.id == "evaluate-temperatures" else "evaluate"))

    def action_leave(self) -> None:
        self.post_message(self.Left())


class EvaluationResults(VerticalScroll):
    """The side-by-side table, the histograms of the runs against the real set, the sweep plot."""

    def compose(self) -> ComposeResult:
        yield Static("", id="results-message", markup=False)
        yield DataTable(cursor_type="row", zebra_stripes=True, fixed_columns=1, header_height=2, id="scores-table")
        yield BarChart(id="pitch-class-chart", classes="histogram")
        yield BarChart(id="interval-chart", classes="histogram")
        yield SweepPlot(id="sweep-plot")

    def on_mount(self) -> None:
        self.border_title = "results"
        self.query_one("#results-message", Static).update("tick runs (space), then Evaluate (e) or Sweep (s)")
        for widget in self.children[1:]:
            widget.display = False

    def show_evaluation(self, view: EvaluationView) -> None:
        self.query_one("#results-message", Static).update(view.summary)
        self._fill_table(view.grid)
        for index, chart in enumerate(self.query(".histogram").results(BarChart)):
            chart.display = index < len(view.charts)
            if chart.display:
                title, rows = view.charts[index]
                chart.set_rows(rows, title)
        self.scroll_home(animate=False)

    def show_sweep(self, view: SweepView) -> None:
        plot = self.query_one(SweepPlot)
        plot.display = True
        plot.set_view(view)
        self.call_after_refresh(self.scroll_to_widget, plot, animate=False, top=True)

    def _fill_table(self, grid: ComparisonGrid) -> None:
        table = self.query_one("#scores-table", DataTable)
        table.clear(columns=True)
        table.display = True
        table.border_title = grid.title
        table.add_column("metric")
        for heading in [*grid.runs, *grid.real_headings, *grid.p_headings]:
            table.add_column(Text(heading, justify="right"))
        for row in grid.rows:
            values = [Text(value, justify="right", style="bold" if index == row.best else "")
                      for index, value in enumerate(row.values)]
            table.add_row(row.label, *values, *(Text(real, justify="right", style="dim") for real in row.real),
                          *(Text(p, justify="right") for p in row.p_values))


class EvaluatePane(Horizontal):
    """The Evaluate pane: runs side by side as `seqgan-music evaluate`, histograms, temperature sweep."""

    TITLE = "Evaluate"
    FOCUS = "#evaluate-runs"
    CSS_FILE = "evaluate.tcss"
    PANE_ID = "evaluate"
    HELP = ("The runs of this project folder (checkpoints/). Tick runs with space (the first ticked is "
            "the baseline every other run's p-values are taken against), set the samples, temperature, "
            "seed and reference split as for `seqgan-music evaluate`, and Evaluate: BLEU, self-BLEU, "
            "NLL_test, NLL_oracle, MSE, the music statistics and the form metrics (bar and phrase repeats, "
            "ending on the tonic, lengths, parts) side by side with the real data and Welch / permutation "
            "p-values, the same numbers the CLI prints (and the same cache in each run folder); metrics "
            "c2st adds the classifier two-sample test (slow). A whole-tune run's form is read on its "
            "tunes and the real tunes, in a real column of its own. Music runs also get their pitch-class "
            "and interval histograms beside the real set's. Sweep samples each run at every listed temperature and plots quality against "
            "diversity, as `seqgan-music sweep` does; on an oracle corpus the plot draws the oracle's own "
            "entropy (the real NLL_oracle) as the floor no honest generator goes below. Both run in the background.")
    BINDINGS = [
        Binding("e", "evaluate", "Evaluate"),
        Binding("s", "sweep", "Sweep"),
        Binding("l", "focus_runs", "Runs", show=False),  # (tab moves too; 80 columns are short)
        Binding("o", "focus_settings", "Settings", show=False),
        Binding("v", "focus_results", "Results", show=False),
        Binding("z", "zoom", "Zoom"),
    ]

    class EvaluationDone(Message):
        """Runs were evaluated and compared: `view` is what the results show."""

        def __init__(self, view: EvaluationView) -> None:
            super().__init__()
            self.view = view

    class SweepDone(Message):
        """A temperature sweep finished: `view` holds its points."""

        def __init__(self, view: SweepView) -> None:
            super().__init__()
            self.view = view

    class TaskFailed(Message):
        """An evaluation or sweep stopped: `reason` is the one-line message."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    def __init__(self, home: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.home = home
        self.corpora: dict[str, str] = {}  # run name -> corpus, as last read
        self.prompts: list[tuple[str, str]] | None = None  # the runs list's (prompt, run), as last read
        self.busy = False

    def compose(self) -> ComposeResult:
        with Vertical(id="evaluate-side"):
            yield SelectionList[str](id="evaluate-runs")
            yield SettingsForm(id="evaluate-settings")
        yield EvaluationResults(id="evaluate-results")

    def on_mount(self) -> None:
        runs = self.query_one("#evaluate-runs", SelectionList)
        runs.border_title = "runs"
        self.reload_runs()

    # --- the runs ---

    def reload_runs(self) -> None:
        """Reread the runs, keeping the ticked ones (in the order they were ticked) and the highlight.
        The list is rebuilt only when a run came, went or changed (its status), and always has a
        highlighted run, so that space ticks one at once."""
        runs = self.query_one("#evaluate-runs", SelectionList)
        try:
            infos = listed_runs(self.home)
        except OSError as error:
            self.notify(f"cannot read {checkpoints_dir(self.home)}: {error}", severity="error", markup=False)
            return
        prompts = run_prompts(infos)
        if prompts != self.prompts:
            self.prompts = prompts
            ticked = runs.selected
            highlighted = runs.get_option_at_index(runs.highlighted).id if runs.highlighted is not None else None
            self.corpora = {str(info.get("name", "?")): str(info.get("corpus", "?")) for info in infos}
            runs.clear_options()
            runs.add_options([Selection(Text(prompt, no_wrap=True, overflow="ellipsis"), name, id=name)
                              for prompt, name in prompts])
            for name in ticked:
                if name in self.corpora:
                    runs.select(name)
            names = [name for _, name in prompts]
            runs.highlighted = names.index(highlighted) if highlighted in names else (0 if names else None)
        self._show_baseline()

    def project_changed(self, change: ProjectChanged) -> None:
        if change.runs or change.forced:
            self.reload_runs()

    @on(SelectionList.SelectedChanged, "#evaluate-runs")
    def _show_baseline(self) -> None:
        runs = self.query_one("#evaluate-runs", SelectionList)
        if not self.corpora:
            runs.border_subtitle = "no runs yet: train one first"
        elif runs.selected:
            runs.border_subtitle = f"baseline: {runs.selected[0]}"
        else:
            runs.border_subtitle = "space ticks; first = baseline"

    # --- evaluating and sweeping ---

    @on(SettingsForm.Submitted)
    def _submitted(self, message: SettingsForm.Submitted) -> None:
        self.run_task(message.action)

    @on(SettingsForm.Left)
    def _form_left(self) -> None:
        self.action_focus_runs()

    def run_task(self, action: str) -> None:
        """Validate the selection and the fields, then evaluate or sweep in a worker."""
        if self.busy:
            self.notify("an evaluation is already running: wait for it to finish", severity="warning")
            return
        selected = list(self.query_one("#evaluate-runs", SelectionList).selected)
        values = self.query_one(SettingsForm).values()
        try:
            check_selection(selected, self.corpora)
            arguments = read_sweep(values) if action == "sweep" else (read_settings(values),)
        except SeqganError as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self._set_busy(True)
        task = self.sweep if action == "sweep" else self.evaluate
        task(selected, *arguments, self._progress())

    @work(thread=True, group="evaluate")
    def evaluate(self, runs: list[str], settings: EvaluationSettings, progress: TaskProgress) -> None:
        """Evaluate in a thread; progress and the outcome come back as messages."""
        worker = get_current_worker()
        try:
            view = evaluate_runs(self.home, runs, settings, progress.reporter(lambda: worker.is_cancelled))
        except (SeqganError, OSError) as error:
            self.post_message(self.TaskFailed(str(error)))
            return
        self.post_message(self.EvaluationDone(view))

    @work(thread=True, group="evaluate")
    def sweep(self, runs: list[str], base: EvaluationSettings, temperatures: list[float],
              progress: TaskProgress) -> None:
        """Sweep in a thread; progress and the outcome come back as messages."""
        worker = get_current_worker()
        try:
            view = sweep_runs(self.home, runs, base, temperatures, progress.reporter(lambda: worker.is_cancelled))
        except (SeqganError, OSError) as error:
            self.post_message(self.TaskFailed(str(error)))
            return
        self.post_message(self.SweepDone(view))

    def on_evaluate_pane_evaluation_done(self, message: EvaluationDone) -> None:
        self._set_busy(False)
        runs = ", ".join(message.view.grid.runs)
        self._progress().set_status(f"evaluated {runs}")
        self.query_one(EvaluationResults).show_evaluation(message.view)
        self.notify(f"evaluated {runs}", markup=False)

    def on_evaluate_pane_sweep_done(self, message: SweepDone) -> None:
        self._set_busy(False)
        self._progress().set_status(f"swept {len(message.view.points)} points")
        self.query_one(EvaluationResults).show_sweep(message.view)
        self.notify(f"swept {len(message.view.points)} points", markup=False)

    def on_evaluate_pane_task_failed(self, message: TaskFailed) -> None:
        self._set_busy(False)
        self._progress().set_status("failed: nothing new to show")
        self.notify(message.reason, severity="error", markup=False)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        form = self.query_one(SettingsForm)
        if busy and any(button.has_focus for button in form.query(Button)):
            self.action_focus_runs()  # a disabled button would leave nothing focused
        form.set_busy(busy)

    def _progress(self) -> TaskProgress:
        return self.query_one("#evaluate-progress", TaskProgress)

    # --- actions ---

    def action_evaluate(self) -> None:
        self.run_task("evaluate")

    def action_sweep(self) -> None:
        self.run_task("sweep")

    def action_focus_runs(self) -> None:
        self.query_one("#evaluate-runs", SelectionList).focus()

    def action_focus_settings(self) -> None:
        self.query_one("#evaluate-samples", Input).focus()

    def action_focus_results(self) -> None:
        self.query_one(EvaluationResults).focus()

    def action_zoom(self) -> None:
        """Give the results the whole width (the table's columns fit 80 columns) or share it again."""
        zoomed = not self.has_class("-zoomed")
        side = self.query_one("#evaluate-side")
        if zoomed and side.has_focus_within:
            self.action_focus_results()
        self.set_class(zoomed, "-zoomed")
