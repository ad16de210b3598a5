"""The Corpora pane: the built corpora, the details of the selected one, and a form to build one.

Loading and building run in thread workers (the interface never waits on disk or parsing); they
hand results back as typed messages. The pure functions at the top (table cells, the details
view, the build) hold no widgets, so they are tested and reused without a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Select, Static
from textual.worker import get_current_worker

from seqgan_music.corpora.corpus import Corpus, load_corpus, read_manifest, survey_corpora
from seqgan_music.corpora.encodings import Grid16, PaperEncoding, music_encoding, pitch_token, token_pitch
from seqgan_music.corpora.building import IngestOptions, build_folk_corpus, ingest_midi_corpus
from seqgan_music.corpora.folk import DEFAULT_COLLECTIONS
from seqgan_music.corpora.melody import Melody, Note
from seqgan_music.corpora.split import SPLITS, SplitPlan, parse_fractions
from seqgan_music.corpora.stats import pitch_class_histogram, token_frequencies
from seqgan_music.errors import SeqganError
from seqgan_music.formatting import describe_value
from seqgan_music.paths import check_name, corpora_dir
from seqgan_music.progress import Reporter
from seqgan_music.tui.project import ProjectChanged
from seqgan_music.tui.widgets import (
    BarChart,
    FieldLabel,
    FitColumn,
    FitTable,
    FormSelect,
    PaneForm,
    PianoRoll,
    TaskProgress,
    damaged_cell,
    histogram_rows,
)

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
TABLE_COLUMNS = (FitColumn("name", "name", flexible=True), FitColumn("source", "source", "src"),
                 FitColumn("encoding", "encoding", "enc"), FitColumn("tunes", "tunes", right=True),
                 FitColumn("windows", "windows", right=True), FitColumn("vocab", "vocab", "voc", right=True),
                 FitColumn("skipped", "skipped", "skip", right=True))
SOURCES = (("MIDI folder", "midi"), ("embedded folk collections", "folk"))
ENCODINGS = (("grid16: sixteenth grid, bar lines", "grid16"), ("paper: SeqGAN's 0.4 s steps", "paper"))
ROLLS, SEQUENCES, SKIPPED_SHOWN = 3, 5, 20


# --- what the pane shows (pure) ----------------------------------------------------------------


def table_cells(manifest: dict) -> tuple[str, ...]:
    """One table row, with the columns of `seqgan-music corpus list`."""
    counts = manifest.get("counts", {})
    windows = counts.get("windows", {})
    encoding = manifest.get("encoding", {})
    return (
        str(manifest.get("name", "?")),
        str(manifest.get("source", {}).get("kind", "?")),
        f"{encoding.get('name', '?')}/{encoding.get('length', '?')}",
        str(counts.get("tunes", "-")),
        "/".join(str(windows.get(s, 0)) for s in SPLITS),
        str(counts.get("vocabulary", "")),
        str(len(manifest.get("skipped", []))),
    )


@dataclass
class RollView:
    """One tune window to draw as a piano roll."""

    title: str
    notes: list[Note]
    bars: list[float]
    step: float  # beats of one encoding step


@dataclass
class CorpusView:
    """Everything the details panel shows about one corpus, computed off the UI thread."""

    name: str
    facts: list[tuple[str, str]]
    is_music: bool
    pitch_classes: list[tuple[str, float]] = field(default_factory=list)
    tune_lengths: list[tuple[str, float]] = field(default_factory=list)
    rolls: list[RollView] = field(default_factory=list)
    frequencies: list[tuple[str, float]] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)


def describe_corpus(corpus: Corpus) -> CorpusView:
    """The details view of a corpus: facts, histograms and examples (tunes or sequences)."""
    view = CorpusView(corpus.name, corpus_facts(corpus), corpus.is_music,
                      skipped=list(corpus.manifest.get("skipped", [])))
    if corpus.is_music:
        view.pitch_classes = list(zip(PITCH_CLASSES, pitch_class_histogram(corpus).tolist()))
        view.tune_lengths = histogram_rows(notes_per_tune(corpus))
        view.rolls = tune_rolls(corpus, ROLLS)
    else:
        view.frequencies = [(t, float(c)) for t, c in token_frequencies(corpus, top=12)]
        windows = corpus.splits["train"]
        for index in _spread(len(windows), SEQUENCES):
            view.sequences.append(str(corpus.decode(windows[index])))
    return view


def corpus_facts(corpus: Corpus) -> list[tuple[str, str]]:
    """Manifest facts as (label, text) rows, like `seqgan-music corpus show`."""
    manifest = corpus.manifest
    facts = [("source", describe_value(manifest.get("source", {}))),
             ("encoding", describe_value(manifest.get("encoding", {}))),
             ("split", describe_value(manifest.get("split", {})))]
    for key, value in manifest.get("counts", {}).items():
        if key == "pitch_range" and isinstance(value, list) and len(value) == 2:
            value = f"{pitch_token(int(value[0]))}-{pitch_token(int(value[1]))}"
        facts.append((key.replace("_", " "), describe_value(value)))
    facts.append(("built", f"{manifest.get('built', '?')} in {manifest.get('build_seconds', '?')} s"))
    if corpus.folder is not None:
        facts.append(("folder", str(corpus.folder)))
    return facts


def notes_per_tune(corpus: Corpus) -> list[int]:
    """Notes of each tune, counted from its windows (a paper-encoded note repeats every step)."""
    if not corpus.tunes:
        return []
    is_pitch = np.array([token_pitch(t) is not None for t in corpus.vocabulary.tokens])
    counts = np.zeros(len(corpus.tunes))
    for split, owners in corpus.tune_of_window.items():
        windows = corpus.splits[split]
        if not len(windows):
            continue
        onsets = is_pitch[windows]
        if not isinstance(corpus.encoding, Grid16):
            onsets[:, 1:] &= windows[:, 1:] != windows[:, :-1]
        counts += np.bincount(owners, weights=onsets.sum(axis=1), minlength=len(corpus.tunes))
    return [int(c) for c in counts]


def tune_rolls(corpus: Corpus, count: int, split: str = "train") -> list[RollView]:
    """The first window of `count` tunes spread over a split, decoded to notes."""
    windows = corpus.splits[split]
    owners = corpus.tune_of_window.get(split)
    step = corpus.encoding.step_seconds * 2 if isinstance(corpus.encoding, PaperEncoding) else 0.25
    rolls: list[RollView] = []
    if owners is None or not len(windows):
        return rolls
    tunes = list(dict.fromkeys(int(owners[i]) for i in _spread(len(windows), count)))
    for tune in tunes:
        positions = np.flatnonzero(owners == tune)
        melody = corpus.decode(windows[positions[0]], tune)
        if not isinstance(melody, Melody):
            continue
        info = corpus.tunes[tune] if tune < len(corpus.tunes) else {}
        key = (info.get("key") or {}).get("name", "?")
        name = info.get("title") or info.get("source") or f"tune {tune}"
        title = f"{name} [{info.get('meter', '?')}, {key}] window 1 of {len(positions)}"
        rolls.append(RollView(title, melody.notes, melody.bars, step))
    return rolls


def _spread(total: int, count: int) -> list[int]:
    """`count` indices spread evenly over range(total)."""
    if total <= 0 or count <= 0:
        return []
    return sorted(set(np.linspace(0, total - 1, num=min(count, total), dtype=int).tolist()))


# --- building (pure: runs in a worker thread) --------------------------------------------------


@dataclass(frozen=True)
class BuildRequest:
    """What the form asks for: `seqgan-music corpus build midi FOLDER` or `... build folk`."""

    source: str  # "midi" or "folk"
    folder: str
    name: str
    encoding: str


def check_request(home: Path, request: BuildRequest) -> None:
    """Refuse bad input before anything runs: SeqganError with the one-line reason.

    The folder itself is searched in the worker (a large tree takes a while), where
    `ingest_midi_corpus` refuses a missing folder or a file with the CLI's own messages.
    """
    if not request.name:
        raise SeqganError("enter a name for the new corpus")
    check_name(request.name)
    check_name_free(home, request.name)
    music_encoding(request.encoding)
    if request.source == "midi" and not request.folder:
        raise SeqganError("enter the folder that holds your MIDI files")
    if request.source not in ("midi", "folk"):
        raise SeqganError(f"unknown source {request.source!r}: choose a MIDI folder or the folk collections")


def check_name_free(home: Path, name: str) -> None:
    """The TUI never replaces a corpus: a taken name is refused."""
    if (corpora_dir(home) / name).exists():
        raise _name_taken(home, name)


def _name_taken(home: Path, name: str) -> SeqganError:
    return SeqganError(f"a corpus named {name!r} already exists in {corpora_dir(home)}: choose another name")


def build_corpus(home: Path, request: BuildRequest, reporter: Reporter) -> dict:
    """Build and save a corpus as the CLI's `corpus build midi|folk` does with default options
    (MIDI files read in parallel, on every core); returns its manifest."""
    check_request(home, request)
    encoding = music_encoding(request.encoding)
    plan = SplitPlan(parse_fractions("80/10/10"), 0)
    if request.source == "midi":
        folder = Path(request.folder).expanduser()
        reporter.note(f"Searching {folder} for MIDI files ...")
        try:
            saved = ingest_midi_corpus(request.name, folder, encoding, plan, reporter, IngestOptions(home),
                                       replace=False)
        except FileExistsError:  # taken while building: still refuse
            raise _name_taken(home, request.name) from None
        return read_manifest(saved)
    reporter.note("Loading music21 ...")
    corpus = build_folk_corpus(request.name, DEFAULT_COLLECTIONS, encoding, plan, reporter, home)
    reporter.note(f"Saving {request.name} ...")
    check_name_free(home, request.name)  # taken while building: still refuse
    corpus.save(home)
    return corpus.manifest


# --- widgets -----------------------------------------------------------------------------------


class CorpusDetails(VerticalScroll):
    """The selected corpus: facts, histograms, piano rolls or decoded sequences, skipped inputs."""

    def compose(self) -> ComposeResult:
        yield Static("", id="details-facts")
        yield BarChart("pitch classes (train)", percent=True, id="pitch-classes")
        yield BarChart("tune lengths (notes per tune)", id="tune-lengths")
        for index in range(ROLLS):
            yield PianoRoll(id=f"roll-{index}", classes="tune-roll")
        yield BarChart("most frequent tokens (train)", id="token-frequencies")
        yield Static("", id="sequences", markup=False)
        yield Static("", id="skipped", markup=False)

    def on_mount(self) -> None:
        self.query_one("#sequences").border_title = "decoded sequences (train)"
        self.show_message("select a corpus")

    def show_message(self, message: str) -> None:
        """Only a line of text (no corpus, loading, an error)."""
        self.border_title = "details"
        self.query_one("#details-facts", Static).update(Text(message))
        for widget in self.children[1:]:
            widget.display = False

    def show(self, view: CorpusView) -> None:
        self.border_title = f"corpus {view.name}"
        facts = Table.grid(padding=(0, 1))
        facts.add_column(style="bold", no_wrap=True, width=max((len(label) for label, _ in view.facts), default=8))
        facts.add_column()
        for label, text in view.facts:
            facts.add_row(label, text)
        self.query_one("#details-facts", Static).update(facts)
        self._set_chart("#pitch-classes", view.pitch_classes, view.is_music)
        self._set_chart("#tune-lengths", view.tune_lengths, view.is_music)
        self._set_chart("#token-frequencies", view.frequencies, not view.is_music)
        for index, roll in enumerate(self.query(PianoRoll)):
            roll.display = index < len(view.rolls)
            if roll.display:
                shown = view.rolls[index]
                roll.set_notes(shown.notes, shown.title, shown.bars, shown.step)
        sequences = self.query_one("#sequences", Static)
        sequences.display = not view.is_music
        sequences.update("\n".join(view.sequences) or "(no sequences)")
        skipped = self.query_one("#skipped", Static)
        skipped.display = bool(view.skipped)
        skipped.border_title = f"skipped inputs ({len(view.skipped)})"
        lines = [f"{s.get('path', '?')}: {s.get('reason', '?')}" for s in view.skipped[:SKIPPED_SHOWN]]
        if len(view.skipped) > SKIPPED_SHOWN:
            lines.append(f"... and {len(view.skipped) - SKIPPED_SHOWN} more (all in manifest.json)")
        skipped.update("\n".join(lines))
        self.scroll_home(animate=False)

    def _set_chart(self, selector: str, rows: Sequence[tuple[str, float]], shown: bool) -> None:
        chart = self.query_one(selector, BarChart)
        chart.display = shown
        chart.set_rows(rows)


class BuildForm(PaneForm):
    """Source, folder, name and encoding of a new corpus."""

    BINDINGS = [Binding("escape", "leave", "Back to table")]

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field"):
            yield FieldLabel("source", classes="field-label")
            yield FormSelect(SOURCES, value="midi", allow_blank=False, compact=True, id="build-source")
        with Horizontal(classes="field"):
            yield FieldLabel("folder", classes="field-label")
            yield Input(placeholder="folder of .mid files, e.g. ~/music/midi", compact=True, id="build-folder")
        with Horizontal(classes="field"):
            yield FieldLabel("name", classes="field-label")
            yield Input(placeholder="new corpus name, e.g. my-tunes", compact=True, id="build-name")
        with Horizontal(classes="field"):
            yield FieldLabel("encoding", classes="field-label")
            yield FormSelect(ENCODINGS, value="grid16", allow_blank=False, compact=True, id="build-encoding")
        with Horizontal(id="build-actions"):
            yield Button("Build", variant="primary", compact=True, id="build-button")
            yield TaskProgress("fill in the form, then Build", id="build-progress")

    def on_mount(self) -> None:
        self.border_title = "build a corpus"

    def request(self) -> BuildRequest:
        """The form's current values."""
        return BuildRequest(
            source=str(self.query_one("#build-source", Select).value),
            folder=self.query_one("#build-folder", Input).value.strip(),
            name=self.query_one("#build-name", Input).value.strip(),
            encoding=str(self.query_one("#build-encoding", Select).value),
        )

    def set_busy(self, busy: bool) -> None:
        """While a build runs the Build button is off (one build at a time)."""
        button = self.query_one("#build-button", Button)
        if busy and button.has_focus:
            self.post_message(self.Left())  # a disabled button would leave nothing focused
        button.disabled = busy
        button.label = "Building" if busy else "Build"

    def focus_first(self) -> None:
        source = self.query_one("#build-source", Select)
        target = "#build-folder" if source.value == "midi" else "#build-name"
        self.query_one(target, Input).focus()

    @on(Select.Changed, "#build-source")
    def _source_changed(self, event: Select.Changed) -> None:
        self.query_one("#build-folder", Input).disabled = event.value != "midi"


class CorporaPane(Horizontal):
    """The Corpora pane: list, inspect and build corpora in the project folder.

    A grid (see corpora.tcss): the table and the form on the left of the details, or where the
    terminal is narrow, the table across the top, so that all its columns fit."""

    TITLE = "Corpora"
    FOCUS = "#corpora-table"
    CSS_FILE = "corpora.tcss"
    PANE_ID = "corpora"
    HELP = ("The corpora built in this project folder (corpora/). Move through the table to see a "
            "corpus: its manifest, pitch classes, tune lengths and tunes as piano rolls (music), or "
            "token frequencies and decoded sequences (text, oracle, grammar). The form builds a "
            "new corpus from a folder of MIDI files or the embedded folk collections, in the "
            "background; existing corpora are never overwritten.")
    BINDINGS = [
        Binding("b", "build", "Build"),
        Binding("t", "focus_table", "Table"),
        Binding("d", "focus_details", "Details"),
    ]

    class DetailsReady(Message):
        """A corpus was loaded (`view`) or could not be (`error`, the one-line reason)."""

        def __init__(self, name: str, view: CorpusView | None, error: str = "") -> None:
            super().__init__()
            self.name, self.view, self.error = name, view, error

    class BuildDone(Message):
        def __init__(self, name: str, skipped: int, tunes: int) -> None:
            super().__init__()
            self.name, self.skipped, self.tunes = name, skipped, tunes

    class BuildFailed(Message):
        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    def __init__(self, home: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.home = home
        self._requested: str | None = None  # the corpus whose details were asked for last
        self._manifests: dict[str, dict] | None = None  # as last read, by name
        self._damaged: dict[str, str] = {}  # corpora whose manifest is damaged: name -> why
        self._building = False

    def compose(self) -> ComposeResult:
        yield FitTable(TABLE_COLUMNS, id="corpora-table")
        yield CorpusDetails(id="corpus-details")
        yield BuildForm(id="build-form")

    def on_mount(self) -> None:
        table = self.query_one("#corpora-table", FitTable)
        table.border_title = f"corpora in {corpora_dir(self.home)}"
        table.border_subtitle = "windows: train/valid/test"
        self.refresh_table()

    # --- table and details ---

    def refresh_table(self, select: str | None = None, reload: bool = False) -> None:
        """Reread the corpora; keep the cursor on `select`, else on the corpus shown. The details
        are read again when `reload`, or when the shown corpus was built anew."""
        table = self.query_one("#corpora-table", FitTable)
        try:
            manifests, damaged = survey_corpora(self.home)
        except OSError as error:
            self.notify(f"cannot read {corpora_dir(self.home)}: {error}", severity="error", markup=False)
            return
        by_name: dict[str, dict] = {}
        for manifest in manifests:
            by_name.setdefault(str(manifest.get("name", "?")), manifest)
        broken = {item.name: item.reason for item in damaged if item.name not in by_name}
        before, self._manifests = self._manifests, by_name
        broken_before, self._damaged = self._damaged, broken
        keep = select or self._requested
        if by_name == before and broken == broken_before and not reload and keep == self._requested:
            return
        rows = []
        for manifest in by_name.values():
            cells = table_cells(manifest)
            rows.append((cells[0], [*cells[:3], *(Text(c, justify="right") for c in cells[3:])]))
        rows += [(name, [damaged_cell(name, reason), *[""] * (len(TABLE_COLUMNS) - 1)]) for name, reason in broken.items()]
        keep = keep if keep in by_name or keep in broken else next(iter([*by_name, *broken]), None)
        table.set_rows(rows, cursor=keep)
        if keep is None:
            self._requested = None
            self.query_one(CorpusDetails).show_message(
                f"no corpora in {corpora_dir(self.home)} yet: build one with the form (b)")
            return
        if reload or (before or {}).get(keep) != by_name.get(keep):
            self._requested = None  # read it again
        self._select(keep)

    def project_changed(self, change: ProjectChanged) -> None:
        if change.corpora or change.forced:
            self.refresh_table(reload=change.forced)

    @on(DataTable.RowHighlighted, "#corpora-table")
    @on(DataTable.RowSelected, "#corpora-table")
    def _row_chosen(self, event: DataTable.RowHighlighted | DataTable.RowSelected) -> None:
        current = event.cursor_row == event.data_table.cursor_row  # not a stale event of a refresh
        if current and event.row_key.value is not None:
            self._select(str(event.row_key.value))

    def _select(self, name: str) -> None:
        if name == self._requested:
            return
        self._requested = name
        self.query_one(CorpusDetails).show_message(f"loading {name} ...")
        self.load_details(name)

    @work(thread=True, exclusive=True, group="details")
    def load_details(self, name: str) -> None:
        """Load and summarise a corpus off the UI thread (a large corpus takes a moment)."""
        worker = get_current_worker()
        try:
            ready = self.DetailsReady(name, describe_corpus(load_corpus(self.home, name)))
        except (SeqganError, OSError) as error:
            ready = self.DetailsReady(name, None, str(error))
        if not worker.is_cancelled:
            self.post_message(ready)

    def on_corpora_pane_details_ready(self, message: DetailsReady) -> None:
        if message.name != self._requested:
            return
        details = self.query_one(CorpusDetails)
        if message.view is None:
            details.show_message(f"cannot show {message.name}: {message.error}")
            self.notify(message.error, severity="error", markup=False)
        else:
            details.show(message.view)

    # --- building ---

    @on(BuildForm.Submitted)
    def _build_requested(self, message: BuildForm.Submitted) -> None:
        request = message.request
        if self._building:
            self.notify("a build is already running: wait for it to finish", severity="warning")
            return
        try:
            check_request(self.home, request)
        except (SeqganError, OSError) as error:
            self.notify(str(error), severity="error", markup=False)
            return
        form = self.query_one(BuildForm)
        form.set_busy(True)
        self._building = True
        self.build(request, form.query_one(TaskProgress))

    @work(thread=True, group="build")
    def build(self, request: BuildRequest, progress: TaskProgress) -> None:
        """Build in a thread; progress and the outcome come back as messages."""
        worker = get_current_worker()
        try:
            manifest = build_corpus(self.home, request, progress.reporter(lambda: worker.is_cancelled))
        except (SeqganError, OSError) as error:
            self.post_message(self.BuildFailed(str(error)))
            return
        self.post_message(self.BuildDone(request.name, len(manifest.get("skipped", [])),
                                         int(manifest["counts"].get("tunes", 0))))

    def on_corpora_pane_build_done(self, message: BuildDone) -> None:
        self._building = False
        form = self.query_one(BuildForm)
        form.set_busy(False)
        skipped = f", {message.skipped} file(s) skipped (listed in the details)" if message.skipped else ""
        form.query_one(TaskProgress).set_status(f"built {message.name}: {message.tunes} tunes{skipped}")
        self.notify(f"built corpus {message.name}: {message.tunes} tunes{skipped}", markup=False,
                    severity="warning" if message.skipped else "information")
        self.refresh_table(select=message.name)
        self.post_message(ProjectChanged(corpora=True, origin=self))

    def on_corpora_pane_build_failed(self, message: BuildFailed) -> None:
        self._building = False
        form = self.query_one(BuildForm)
        form.set_busy(False)
        form.query_one(TaskProgress).set_status("build failed: nothing was written")
        self.notify(message.reason, severity="error", markup=False)

    # --- actions ---

    def action_build(self) -> None:
        self.query_one(BuildForm).focus_first()

    def action_focus_table(self) -> None:
        self.query_one("#corpora-table", FitTable).focus()

    def action_focus_details(self) -> None:
        self.query_one(CorpusDetails).focus()

    @on(BuildForm.Left)
    def _form_left(self) -> None:
        self.action_focus_table()
