"""The Train pane: start a run, watch it learn, stop it with a checkpoint, resume it.

Training runs in a thread worker; the trainer's events come back as messages (the same events the
CLI's live display draws). A run trained by another process (`seqgan-music train` in another
terminal) is watched by following its metrics.jsonl. The pure parts at the top (the form's
config, a run's history and curves) hold no widgets, so they are tested without a terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static
from textual.worker import Worker

from seqgan_music.config import (
    METHODS,
    PRESET_DESCRIPTIONS,
    PRESETS,
    Config,
    apply_overrides,
    config_to_dict,
    default_preset_name,
    preset,
)
from seqgan_music.corpora.corpus import list_corpora
from seqgan_music.errors import SeqganError
from seqgan_music.formatting import (
    METRIC_HEADINGS,
    format_clock,
    format_duration,
    format_metric,
    format_run_progress,
)
from seqgan_music.paths import check_name
from seqgan_music.phases import phase_label
from seqgan_music.training.events import TrainingEvent
from seqgan_music.training.methods import METHOD_CLASSES, method_class, method_phases
from seqgan_music.training.run_lock import lock_holder, locked_message
from seqgan_music.training.runs import (
    STALE,
    MetricsTail,
    default_run_name,
    listed_status,
    read_run_config,
    read_run_info,
    run_dir,
    survey_runs,
)
from seqgan_music.tui.project import ProjectChanged
from seqgan_music.tui.widgets import FieldLabel, FitColumn, FitTable, FormSelect, LinePlot, PaneForm, damaged_cell

# The settings the form edits, as (setting, label); any other goes in "more settings".
FORM_SETTINGS = (
    ("mle.epochs", "MLE epochs"),
    ("pretrain_d.rounds", "D rounds"),
    ("adversarial.rounds", "adv rounds"),
    ("adversarial.rollouts", "rollouts"),
    ("adversarial.learning_rate", "G lr"),
    ("mle.batch_size", "batch"),
    ("run.seed", "seed"),
)
SHORT_LABELS = {"mle.epochs": "MLE ep.", "adversarial.rounds": "adv rnds"}  # where the form is narrow
DEVICES = ("auto", "cpu", "cuda", "mps")
RUN_COLUMNS = (FitColumn("run", "run", flexible=True), FitColumn("status", "status"), FitColumn("progress", "progress"),
               FitColumn("method", "method", flexible=True), FitColumn("corpus", "corpus", flexible=True),
               FitColumn("time", "time", right=True))
# Curves of the live view: (title, metrics drawn together); a plot shows only what a phase logged.
CURVES = (
    ("generator loss", ("g_loss",)),
    ("discriminator loss", ("d_loss",)),
    ("discriminator accuracy", ("d_acc_real", "d_acc_fake")),
    ("mean reward", ("mean_reward",)),
    ("NLL", ("nll_oracle", "nll_test", "nll_valid")),
    ("goodness (valid grammar windows)", ("goodness",)),
    ("ln gradient variance", ("log_variance_output",)),
)
CURVE_NAMES = {**METRIC_HEADINGS, "d_acc_real": "D on real", "d_acc_fake": "D on fake", "nll_valid": "NLL valid",
               "goodness": "goodness", "log_variance_output": "output layer"}
FOLLOW_SECONDS = 1.0  # how often a run trained elsewhere is polled


# --- the new-run form (pure) -------------------------------------------------------------------


@dataclass(frozen=True)
class RunRequest:
    """What the form asks for: `seqgan-music train CORPUS --preset P --method M --set ...`."""

    corpus: str
    preset: str
    method: str
    name: str
    device: str
    settings: tuple[tuple[str, str], ...]  # (setting, text) of the form's fields
    more: str = ""  # further SECTION.FIELD=VALUE assignments, separated by spaces


def form_values(config: Config) -> dict[str, str]:
    """The form's fields filled from a config (a preset), as the user would type them."""
    values = config_to_dict(config)
    result = {}
    for setting, _ in FORM_SETTINGS:
        section, name = setting.split(".")
        result[setting] = f"{values[section][name]:g}" if isinstance(values[section][name], float) else str(
            values[section][name])
    return result


def split_assignments(text: str) -> list[str]:
    """SECTION.FIELD=VALUE assignments separated by spaces or commas (values may hold [1, 2])."""
    parts = re.split(r"[\s,]+(?=[A-Za-z_]+\.[A-Za-z_]+\s*=)", text.strip())
    return [part.strip().rstrip(",") for part in parts if part.strip()]


def request_config(request: RunRequest) -> Config:
    """The run's config: the preset, then the form's fields, then the method, device and more
    settings; a bad value gives a SeqganError naming the form field."""
    config = preset(request.preset)
    labels = dict(FORM_SETTINGS)
    for setting, text in request.settings:
        if not text.strip():
            raise SeqganError(f"{labels[setting]}: enter a value ({setting}, e.g. {form_values(config)[setting]})")
        try:
            config = apply_overrides(config, [f"{setting}={text.strip()}"])
        except SeqganError as error:
            raise SeqganError(f"{labels[setting]}: {error}") from None
    if request.method not in METHODS:
        raise SeqganError(f"method: choose one of {', '.join(METHODS)}")
    config = apply_overrides(config, [f"run.method={request.method}", f"run.device={request.device}"])
    try:
        return apply_overrides(config, split_assignments(request.more))
    except SeqganError as error:
        raise SeqganError(f"more settings: {error}") from None


def check_new_run(home: Path, request: RunRequest) -> Config:
    """Refuse bad input before anything runs; returns the config the run will use."""
    if not request.corpus:
        raise SeqganError("choose a corpus to train on (build one in the Corpora tab)")
    if request.preset not in PRESETS:
        raise SeqganError(f"preset: choose one of {', '.join(PRESETS)}")
    if request.name:
        check_name(request.name, "run")
        if run_dir(home, request.name).exists():
            raise SeqganError(f"a run named {request.name!r} already exists: choose another name, or select it "
                              "and resume it")
    return request_config(request)


# --- a run's history (pure) --------------------------------------------------------------------


@dataclass
class RunHistory:
    """What the live view shows of one run: its logged units, where it stands, how fast it goes."""

    name: str
    phases: tuple[str, ...]
    totals: dict[str, int]  # units of each phase
    status: str = "running"
    records: list[dict] = field(default_factory=list)  # metrics.jsonl lines
    phase: str = ""  # the phase being trained (or last trained)
    note: str = ""  # the latest line for the user (a checkpoint saved, an error)

    @staticmethod
    def of_config(name: str, config: Config, status: str = "running") -> RunHistory:
        phases = method_phases(config.run.method)
        return RunHistory(name, tuple(p.name for p in phases), {p.name: p.units(config) for p in phases}, status,
                          phase=phases[0].name)

    def add(self, record: dict) -> None:
        """One logged unit (a metrics.jsonl line, or the record of a "unit" event)."""
        self.records.append(record)
        self.phase = str(record.get("phase", self.phase))

    def apply(self, event: TrainingEvent) -> None:
        """A training event of a run trained here."""
        if event.kind == "phase":
            self.phase = event.phase
            self.totals[event.phase] = event.total
        elif event.kind == "unit":
            self.add(event.metrics)
        elif event.kind in ("checkpoint", "note", "finished"):
            self.note = event.message

    def done(self, phase: str) -> int:
        """Units of `phase` logged so far."""
        steps = [int(r.get("step", 0)) for r in self.records if r.get("phase") == phase]
        return max(steps, default=0)

    def progress_text(self) -> str:
        """Where the run stands, as the runs table writes it: "adv 12/30"."""
        return f"{phase_label(self.phase, short=True)} {self.done(self.phase)}/{self.totals.get(self.phase, 0)}"

    def elapsed(self) -> float:
        return float(self.records[-1].get("elapsed", 0.0)) if self.records else 0.0

    def phase_eta(self) -> float | None:
        """Seconds left in the current phase, from its units so far (None before the first)."""
        done, total = self.done(self.phase), self.totals.get(self.phase, 0)
        own = [r for r in self.records if r.get("phase") == self.phase]
        if not own or done == 0:
            return None
        before = [r for r in self.records[: self.records.index(own[0])]]
        start = float(before[-1].get("elapsed", 0.0)) if before else 0.0
        per_unit = (float(own[-1].get("elapsed", 0.0)) - start) / done
        return max(total - done, 0) * per_unit

    def headline(self) -> str:
        """One line: run, phase and unit, elapsed and the phase's ETA."""
        if self.phase not in self.totals:
            return f"{self.name}: {self.status}"
        index = self.phases.index(self.phase) + 1
        unit = "epoch" if self.phase in ("mle", "ss") else "round"
        line = (f"{self.name} · {self.status} · {phase_label(self.phase)} ({index}/{len(self.phases)}) "
                f"{unit} {self.done(self.phase)}/{self.totals[self.phase]} · {format_clock(self.elapsed())}")
        eta = self.phase_eta()
        if self.status == "running" and eta is not None:
            line += f" · ETA {format_clock(eta)}"
        return line

    def logged_phases(self) -> list[str]:
        """The phases with at least one logged unit, in the run's order."""
        seen = {r.get("phase") for r in self.records}
        return [p for p in self.phases if p in seen]

    def curves(self, phase: str) -> list[tuple[str, dict[str, list[tuple[float, float]]]]]:
        """(title, {series: [(unit, value)]}) of every curve the phase logged."""
        own = [r for r in self.records if r.get("phase") == phase]
        result = []
        for title, metrics in CURVES:
            series = {CURVE_NAMES[m]: [(float(r["step"]), float(r[m])) for r in own if isinstance(r.get(m), (int, float))]
                      for m in metrics}
            series = {name: points for name, points in series.items() if points}
            if series:
                result.append((title, series))
        return result


def load_history(home: Path, name: str) -> tuple[RunHistory, MetricsTail]:
    """A run on disk as a history, and the tail that follows its metrics from here on."""
    folder = run_dir(home, name)
    info = read_run_info(folder)
    history = RunHistory.of_config(name, read_run_config(folder), str(info.get("status", "?")))
    tail = MetricsTail(folder)
    for record in tail.poll():
        history.add(record)
    refresh_status(history, folder, info)
    return history, tail


def refresh_status(history: RunHistory, folder: Path, info: dict) -> None:
    """The run's status from its run.json as listings show it (STALE when its trainer has ended); its
    phase from run.json or the metrics, whichever is further on (run.json is written at checkpoints,
    the metrics after every unit)."""
    history.status = listed_status(folder, info)
    phase = (info.get("progress") or {}).get("phase")
    if phase in history.phases and history.phases.index(phase) > history.phases.index(history.phase):
        history.phase = phase


# --- training in a thread ----------------------------------------------------------------------


class TrainingSession:
    """The run this pane trains: its trainer once built, and a stop that is never lost (asked
    before the trainer exists, it is passed on when it does)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.trainer = None
        self.stopping = False

    def attach(self, trainer) -> None:
        self.trainer = trainer
        if self.stopping:
            trainer.request_stop()

    def request_stop(self) -> None:
        self.stopping = True
        if self.trainer is not None:
            self.trainer.request_stop()


class PostingObserver:
    """A TrainingObserver that posts each event to the pane (thread-safe)."""

    def __init__(self, pane: TrainPane, name: str) -> None:
        self.pane, self.name = pane, name

    def on_event(self, event: TrainingEvent) -> None:
        self.pane.post_message(TrainPane.Progress(self.name, event))


# --- widgets -----------------------------------------------------------------------------------


class NewRunForm(PaneForm):
    """Corpus, preset, method, name and the main settings of a new run."""

    BINDINGS = [Binding("escape", "leave", "Back to runs")]

    def __init__(self, home: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.home = home
        self.kinds: dict[str, str] = {}  # corpus -> source kind

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field"):
            yield FieldLabel("corpus", classes="field-label")
            yield FormSelect([], prompt="(no corpora)", compact=True, id="train-corpus")
        with Horizontal(classes="field"):
            yield FieldLabel("preset", classes="field-label")
            yield FormSelect([(name, name) for name in PRESETS], value="quick", allow_blank=False, compact=True,
                             id="train-preset")
        yield Static("", id="preset-hint", markup=False)
        with Horizontal(classes="field"):
            yield FieldLabel("method", classes="field-label")
            yield FormSelect([(method.label, name) for name, method in METHOD_CLASSES.items()], value="seqgan",
                             allow_blank=False, compact=True, id="train-method")
        with Horizontal(classes="field"):
            yield FieldLabel("run name", classes="field-label")
            yield Input(placeholder="blank: CORPUS-METHOD-TIME", compact=True, id="train-name")
        pairs = [FORM_SETTINGS[i:i + 2] for i in range(0, len(FORM_SETTINGS), 2)]
        for pair in pairs:
            with Horizontal(classes="field"):
                for setting, label in pair:
                    yield FieldLabel(label, SHORT_LABELS.get(setting, ""), classes="field-label")
                    yield Input(compact=True, id=_field_id(setting), classes="setting")
                if len(pair) == 1:
                    yield FieldLabel("device", classes="field-label")
                    yield FormSelect([(d, d) for d in DEVICES], value="auto", allow_blank=False, compact=True,
                                     id="train-device")
        with Horizontal(classes="field"):
            yield FieldLabel("more", classes="field-label")
            yield Input(placeholder="e.g. adversarial.d_steps=3 rollout.chunk_size=32", compact=True, id="train-more")
        yield Static("", id="method-hint", markup=False)  # below the fields: at 80x24 they stay on screen
        with Horizontal(id="train-actions"):
            yield Button("Start", variant="primary", compact=True, id="start-button")

    def on_mount(self) -> None:
        self.border_title = "new run"
        self.reload_corpora()
        self._fill(preset("quick"))

    def reload_corpora(self) -> None:
        """Offer the corpora of the project folder, keeping the current choice and the settings typed
        (only a corpus chosen anew, when the one chosen is gone or there was none, sets its preset)."""
        manifests = list_corpora(self.home)
        kinds = {str(m.get("name")): str((m.get("source") or {}).get("kind", "")) for m in manifests}
        if kinds == self.kinds:
            return
        self.kinds = kinds
        select = self.query_one("#train-corpus", Select)
        current = select.value
        with select.prevent(Select.Changed):
            select.set_options([(name, name) for name in kinds])
            if current in kinds:
                select.value = current
        if current not in kinds and kinds:
            select.value = next(iter(kinds))

    def request(self) -> RunRequest:
        """The form's current values."""
        corpus = self.query_one("#train-corpus", Select).value
        return RunRequest(
            corpus="" if corpus is Select.NULL else str(corpus),
            preset=str(self.query_one("#train-preset", Select).value),
            method=str(self.query_one("#train-method", Select).value),
            name=self.query_one("#train-name", Input).value.strip(),
            device=str(self.query_one("#train-device", Select).value),
            settings=tuple((s, self.query_one(f"#{_field_id(s)}", Input).value) for s, _ in FORM_SETTINGS),
            more=self.query_one("#train-more", Input).value,
        )

    def _fill(self, config: Config) -> None:
        for setting, text in form_values(config).items():
            self.query_one(f"#{_field_id(setting)}", Input).value = text
        self.query_one("#train-method", Select).value = config.run.method
        self.query_one("#train-device", Select).value = config.run.device if config.run.device in DEVICES else "auto"
        self.query_one("#preset-hint", Static).update(PRESET_DESCRIPTIONS.get(config.preset, ""))
        self.query_one("#method-hint", Static).update(method_class(config.run.method).summary)

    @on(Select.Changed, "#train-corpus")
    def _corpus_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.query_one("#train-preset", Select).value = default_preset_name(self.kinds.get(str(event.value)))

    @on(Select.Changed, "#train-method")
    def _method_changed(self, event: Select.Changed) -> None:
        if event.value in METHOD_CLASSES:
            self.query_one("#method-hint", Static).update(method_class(str(event.value)).summary)

    @on(Select.Changed, "#train-preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        if event.value in PRESETS:
            self._fill(preset(str(event.value)))


def _field_id(setting: str) -> str:
    return "set-" + setting.replace(".", "-").replace("_", "-")


class LiveView(Vertical):
    """The shown run: a headline, the phase's progress bar, and its curves."""

    def compose(self) -> ComposeResult:
        yield Label("", id="live-headline", markup=False)
        with Horizontal(id="live-bar"):
            yield ProgressBar(show_eta=False, id="live-progress")
            yield Button("Stop & save", compact=True, id="stop-button", disabled=True)
            yield Button("Resume", compact=True, id="resume-button", disabled=True)
        yield Label("", id="live-note", markup=False)
        with VerticalScroll(id="live-curves"):
            for index in range(len(CURVES)):
                yield LinePlot(rows=6, id=f"curve-{index}", classes="curve")

    def on_mount(self) -> None:
        self.show(None, "", can_stop=False, can_resume=False)

    def show(self, history: RunHistory | None, phase: str, can_stop: bool, can_resume: bool) -> None:
        """Draw `history` with the curves of `phase` (None: an empty view with a hint)."""
        self.query_one("#stop-button", Button).disabled = not can_stop
        self.query_one("#resume-button", Button).disabled = not can_resume
        headline = self.query_one("#live-headline", Label)
        bar = self.query_one("#live-progress", ProgressBar)
        plots = list(self.query(LinePlot))
        if history is None:
            self.border_title, self.border_subtitle = "live view", ""
            headline.update("select a run, or start one with the form (n)")
            self.query_one("#live-note", Label).update("")
            bar.update(total=None, progress=0)
            for plot in plots:
                plot.display = False
            return
        self.border_title = f"run {history.name}"
        self.border_subtitle = "[ ] other phases" if len(history.logged_phases()) > 1 else ""
        headline.update(history.headline())
        self.query_one("#live-note", Label).update(history.note)
        total = history.totals.get(history.phase) or None
        bar.update(total=total, progress=history.done(history.phase) if total else 0)
        curves = history.curves(phase)
        unit = "epoch" if phase in ("mle", "ss") else "round"
        for index, plot in enumerate(plots):
            plot.display = index < len(curves)
            if plot.display:
                title, series = curves[index]
                plot.set_series(series, unit, f"{title} · {phase_label(phase)}")
                plot.border_subtitle = "last " + ", ".join(f"{format_metric(points[-1][1])}"
                                                           for points in series.values())


class TrainPane(Horizontal):
    """The Train pane: the project's runs across the top, the live view and the form for a new run
    side by side below (a grid, see train.tcss)."""

    TITLE = "Train"
    FOCUS = "#runs-table"
    PANE_ID = "train"
    CSS_FILE = "train.tcss"
    HELP = ("Runs of this project folder (checkpoints/) with their status. Select a run to see its curves: "
            "generator and discriminator loss, D accuracy on real and fake, mean reward, NLL. A run "
            "started here trains in the background and its curves grow live; one started with "
            "`seqgan-music train` elsewhere is followed through its metrics.jsonl. The form starts a "
            "new run from a corpus, a preset and a method, with the main settings editable (any "
            "other as SECTION.FIELD=VALUE under more). Stop saves a checkpoint after the current "
            "epoch or round; Resume continues the selected run from it. One run trains at a time.")
    BINDINGS = [
        Binding("n", "new_run", "New run"),
        Binding("x", "stop", "Stop & save"),
        Binding("u", "resume", "Resume"),
        # Out of the footer (80 columns are short): the live view names them where they apply.
        Binding("left_square_bracket", "phase(-1)", "Phase-", key_display="[", show=False),
        Binding("right_square_bracket", "phase(1)", "Phase+", key_display="]", show=False),
        Binding("t", "focus_runs", "Runs table", show=False),
    ]

    class Progress(Message):
        """A training event of the run trained here."""

        def __init__(self, name: str, event: TrainingEvent) -> None:
            super().__init__()
            self.name, self.event = name, event

    class Ended(Message):
        """The run trained here stopped: `status` finished or interrupted, or `error` (one line)."""

        def __init__(self, name: str, status: str, error: str = "") -> None:
            super().__init__()
            self.name, self.status, self.error = name, status, error

    def __init__(self, home: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.home = home
        self.session: TrainingSession | None = None
        self.histories: dict[str, RunHistory] = {}
        self.shown: str | None = None  # the run in the live view
        self.shown_phase: str | None = None  # None: follow the run's current phase
        self.tail: MetricsTail | None = None  # following a run trained elsewhere
        self.quit_when_stopped = False

    def compose(self) -> ComposeResult:
        yield FitTable(RUN_COLUMNS, id="runs-table")
        yield LiveView(id="live-view")
        yield NewRunForm(self.home, id="new-run")

    def on_mount(self) -> None:
        self.query_one("#runs-table", FitTable).border_title = "runs"
        self.refresh_runs()
        self.set_interval(FOLLOW_SECONDS, self.follow)

    # --- the runs table ---

    def refresh_runs(self, select: str | None = None, reload: bool = True) -> None:
        """Reread the runs; keep the cursor on `select`, else on the run shown. The shown run's
        history is read again when `reload`, else only its status (its metrics are followed)."""
        table = self.query_one("#runs-table", FitTable)
        try:
            survey = survey_runs(self.home)
        except OSError as error:
            self.notify(f"cannot read the runs: {error}", severity="error", markup=False)
            return
        rows, infos = [], {}
        for info, _ in survey.runs:
            name = str(info.get("name", "?"))
            infos[name] = info
            ours = self.session is not None and self.session.name == name and name in self.histories
            progress = self.histories[name].progress_text() if ours else format_run_progress(info)
            rows.append((name, [name, "training here" if ours else survey.statuses.get(name, "?"), progress,
                                str(info.get("method", "?")), str(info.get("corpus", "?")),
                                Text(format_duration(info.get("elapsed")), justify="right")]))
        rows += [(item.name, [damaged_cell(item.name, item.reason), *[""] * (len(RUN_COLUMNS) - 1)])
                 for item in survey.damaged if item.name not in infos]
        keep = select or self.shown
        keep = keep if keep in infos else (next(iter(infos)) if infos and self.shown is None else None)
        table.set_rows(rows, cursor=keep)
        if keep is None:
            if not infos:
                self.shown = None
                self.query_one(LiveView).show(None, "", can_stop=False, can_resume=False)
        elif reload or keep != self.shown or keep not in self.histories:
            self.show_run(keep)
        elif self.session is None or self.session.name != keep:
            refresh_status(self.histories[keep], run_dir(self.home, keep), infos[keep])  # resumed elsewhere: followed
            self.redraw()

    def project_changed(self, change: ProjectChanged) -> None:
        if change.corpora or change.forced:
            self.query_one(NewRunForm).reload_corpora()
        if change.runs or change.forced:
            self.refresh_runs(reload=change.forced)

    @on(DataTable.RowHighlighted, "#runs-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        current = event.cursor_row == event.data_table.cursor_row  # not a stale event of a refresh
        if current and event.row_key.value is not None and event.row_key.value != self.shown:
            self.show_run(str(event.row_key.value))

    def show_run(self, name: str) -> None:
        """Put a run in the live view: the one trained here from its events, another from disk."""
        if name != self.shown:
            self.shown_phase = None
        self.shown = name
        if self.session is None or self.session.name != name:
            try:
                history, self.tail = load_history(self.home, name)
            except (SeqganError, OSError) as error:
                self.tail = None
                self.histories.pop(name, None)
                self.notify(str(error), severity="error", markup=False)
                self.query_one(LiveView).show(None, "", can_stop=False, can_resume=False)
                return
            self.histories[name] = history
        else:
            self.tail = None
        self.redraw()

    def follow(self) -> None:
        """Poll the shown run when another process trains it (every FOLLOW_SECONDS)."""
        if self.tail is None or self.shown is None or self.shown not in self.histories:
            return
        history = self.histories[self.shown]
        if history.status != "running":
            return
        folder = run_dir(self.home, self.shown)
        read = self._read_new(history, folder)
        if history.status != "running":
            # It ended between the two reads: its trainer wrote its last metrics, then its status,
            # then let go of the lock, so one more look finds all of them.
            read = self._read_new(history, folder) or read
        if read:
            self.redraw()
            if history.status != "running":
                self.refresh_runs()

    def _read_new(self, history: RunHistory, folder: Path) -> bool:
        """Add the run's new metrics and take its status; whether anything was read."""
        try:
            info = read_run_info(folder)
            records = self.tail.poll()
        except (SeqganError, OSError):
            return False  # being rewritten this instant: the next poll reads it
        if self.tail.restarted:
            history.records.clear()
        for record in records:
            history.add(record)
        before = history.status
        refresh_status(history, folder, info)
        return bool(records) or history.status != before

    def redraw(self) -> None:
        history = self.histories.get(self.shown or "")
        view = self.query_one(LiveView)
        if history is None:
            view.show(None, "", can_stop=False, can_resume=False)
            return
        phases = history.logged_phases()
        phase = self.shown_phase if self.shown_phase in phases else (history.phase if history.phase in phases else
                                                                    (phases[-1] if phases else history.phase))
        ours = self.session is not None and self.session.name == history.name
        view.show(history, phase, can_stop=ours and not self.session.stopping,
                  can_resume=self.session is None and history.status in ("interrupted", "running", STALE))

    # --- starting, stopping, resuming ---

    @on(NewRunForm.Submitted)
    def _start_requested(self, message: NewRunForm.Submitted) -> None:
        request = message.request
        if self._busy():
            return
        try:
            config = check_new_run(self.home, request)
        except (SeqganError, OSError) as error:
            self.notify(str(error), severity="error", markup=False)
            return
        name = request.name or default_run_name(request.corpus, config.run.method)
        from seqgan_music.training.launch import start_run

        self.begin(name, RunHistory.of_config(name, config),
                   lambda observer: start_run(self.home, request.corpus, config, name, observer))

    def action_resume(self) -> None:
        name = self.shown
        if self._busy() or name is None:
            if name is None:
                self.notify("select a run to resume in the runs table", severity="warning")
            return
        history = self.histories.get(name)
        status = history.status if history else "?"
        if status == "finished":
            self.notify(f"run {name!r} has already finished: start a new run to train more", severity="warning",
                        markup=False)
            return
        folder = run_dir(self.home, name)
        try:
            config = read_run_config(folder)
            holder = lock_holder(folder)  # resume_run refuses it too; asking first keeps the pane as it is
        except (SeqganError, OSError) as error:
            self.notify(str(error), severity="error", markup=False)
            return
        if holder is not None:
            self.notify(locked_message(folder, holder), severity="error", markup=False)
            return
        from seqgan_music.training.launch import resume_run

        history = self.histories.get(name) or RunHistory.of_config(name, config)
        self.begin(name, history, lambda observer: resume_run(self.home, name, None, observer), resumed=True)

    def begin(self, name: str, history: RunHistory, make_trainer: Callable, resumed: bool = False) -> None:
        """Train `name` in a worker, shown live from its events."""
        self.session = TrainingSession(name)
        history.status, history.note = "running", ("resuming from the last checkpoint ..." if resumed else
                                                    "building the models ...")
        if resumed:  # the trainer cuts metrics.jsonl back to its checkpoint and logs again from there
            history.records.clear()
        self.histories[name] = history
        self.shown, self.shown_phase, self.tail = name, None, None
        self.query_one("#start-button", Button).disabled = True
        self.action_focus_runs()
        self.train(self.session, make_trainer)
        self.redraw()
        self.notify(f"{'resumed' if resumed else 'started'} run {name}", markup=False)

    @work(thread=True, group="train")
    def train(self, session: TrainingSession, make_trainer: Callable) -> None:
        """Build the trainer and run it; every event and the outcome come back as messages."""
        from seqgan_music.training.runs import mark_aborted

        trainer = None
        try:
            trainer = make_trainer(PostingObserver(self, session.name))
            session.attach(trainer)
            status = trainer.run()
        except Exception as error:  # noqa: BLE001 - a failing run must never take the app down
            if trainer is not None:
                mark_aborted(trainer.folder)
            reason = str(error) if isinstance(error, (SeqganError, OSError)) else f"{type(error).__name__}: {error}"
            self.post_message(self.Ended(session.name, "interrupted", reason))
            return
        self.post_message(self.Ended(session.name, status))

    def on_train_pane_progress(self, message: Progress) -> None:
        history = self.histories.get(message.name)
        if history is None:
            return
        history.apply(message.event)
        if message.event.kind == "phase" or (message.event.kind == "checkpoint" and message.event.unit == 0):
            self.refresh_runs()
            self.post_message(ProjectChanged(runs=True, origin=self))  # a new run, or its first checkpoint
        elif message.event.kind == "unit":  # run.json lags (it is written at checkpoints): the events do not
            table = self.query_one("#runs-table", DataTable)
            if message.name in table.rows:
                table.update_cell(message.name, "progress", history.progress_text())
        if message.name == self.shown:
            self.redraw()

    def on_train_pane_ended(self, message: Ended) -> None:
        self.session = None
        history = self.histories.get(message.name)
        if history is not None:
            history.status = message.status
        self.query_one("#start-button", Button).disabled = False
        if message.error:
            self.notify(f"run {message.name} failed: {message.error}", severity="error", markup=False)
            if history is not None:
                history.note = f"failed: {message.error}"
        elif message.status == "finished":
            self.notify(f"run {message.name} finished", markup=False)
        else:
            self.notify(f"run {message.name} saved and stopped: select it and press u to resume", markup=False)
            if history is not None:
                history.note = "stopped; the checkpoint is saved (u resumes)"
        self.refresh_runs(select=message.name)
        self.post_message(ProjectChanged(runs=True, origin=self))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Asked to quit mid-run: close the app once the training worker has ended, not when it
        reports the run saved (closing then would cancel the worker while it returns)."""
        if self.quit_when_stopped and event.worker.group == "train" and event.worker.is_finished:
            self.app.exit()

    def action_stop(self) -> None:
        if self.session is None:
            self.notify("no run is training here: start one with the form (n), or resume one (u)",
                        severity="warning")
            return
        if self.session.stopping:
            self.notify(f"run {self.session.name} is already stopping", severity="warning", markup=False)
            return
        self.session.request_stop()
        self.histories[self.session.name].note = "stopping after the current epoch or round, then saving ..."
        self.redraw()

    def stop_before_quit(self) -> bool:
        """Called when the app is asked to quit: a run training here stops and saves first (then
        this pane closes the app). True while that is under way."""
        if self.session is None:
            return False
        self.quit_when_stopped = True
        if not self.session.stopping:
            self.action_stop()
        return True

    def _busy(self) -> bool:
        if self.session is not None:
            self.notify(f"run {self.session.name} is training: stop it (x) before starting or resuming another",
                        severity="warning", markup=False)
            return True
        return False

    # --- other actions ---

    def action_phase(self, step: int) -> None:
        history = self.histories.get(self.shown or "")
        phases = history.logged_phases() if history else []
        if not phases:
            return
        current = self.shown_phase if self.shown_phase in phases else (
            history.phase if history.phase in phases else phases[-1])
        self.shown_phase = phases[(phases.index(current) + step) % len(phases)]
        self.redraw()

    def action_new_run(self) -> None:
        self.query_one("#train-corpus", Select).focus()

    def action_focus_runs(self) -> None:
        self.query_one("#runs-table", DataTable).focus()

    @on(NewRunForm.Left)
    def _form_left(self) -> None:
        self.action_focus_runs()

    @on(Button.Pressed, "#stop-button")
    def _stop_pressed(self) -> None:
        self.action_stop()

    @on(Button.Pressed, "#resume-button")
    def _resume_pressed(self) -> None:
        self.action_resume()

