"""The Compose pane: pick a model, fill in the form, compose tunes, see each as a piano roll, play and export them.

Composing, playing and exporting run in thread workers (loading a model, rendering audio and
writing MusicXML take seconds) and hand their outcome back as typed messages. The pure functions
at the top (the model choices, reading the forms, the table cells) hold no widgets, so they are
tested without a terminal. The form goes through `requested_settings` and the files through
`write_pieces`, as with `seqgan-music compose`: the same settings give the same tunes, written
under the same names, and no file is ever overwritten.
"""

from __future__ import annotations

import math
import secrets
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select
from textual.worker import get_current_worker

from seqgan_music.composing.compose import (
    MAX_BARS,
    ComposedTune,
    ComposeSettings,
    compose_tunes,
    requested_settings,
    tune_piece,
)
from seqgan_music.composing.fill import FillSettings, fill_piece, fill_tunes
from seqgan_music.composing.form import DEFAULT_FORM, DEFAULT_PART_BARS, NAMED_FORMS, parse_form
from seqgan_music.composing.header import read_header_key
from seqgan_music.composing.interpolation import MAX_POINTS, interpolate_tunes, interpolation_piece
from seqgan_music.composing.model import DEFAULT_MODEL, default_model_folder, load_model, read_model_info
from seqgan_music.composing.playback import find_player, no_player_error, play_file
from seqgan_music.composing.primer import read_primer_file
from seqgan_music.composing.source_tune import SourceTune, read_source_tune
from seqgan_music.composing.titles import file_stem, tune_form
from seqgan_music.composing.writing import FORMATS, SIDECAR, Piece, sidecar_text, write_pieces
from seqgan_music.corpora.corpus import list_corpora
from seqgan_music.corpora.encodings import MUSIC_ENCODINGS
from seqgan_music.corpora.tunes import MAX_TUNE_BARS, UNKNOWN_TYPE
from seqgan_music.errors import SeqganError
from seqgan_music.export.wav import write_wav
from seqgan_music.progress import Reporter
from seqgan_music.training.runs import STATE_FILE, checkpoints_dir, listed_runs
from seqgan_music.tui.bar_marks import MARK_KEYS, BarSpan, MarkedRoll
from seqgan_music.tui.project import ProjectChanged
from seqgan_music.tui.widgets import FieldLabel, FitColumn, FitTable, FormSelect, PaneForm, TaskProgress

DEFAULT_LABEL = "default (shipped folk model)"
MAX_COUNT, MAX_SEED = 100, 999_999_999
TUNE_COLUMNS = (FitColumn("mark", "✓"), FitColumn("title", "title", flexible=True), FitColumn("key", "key"),
                FitColumn("meter", "meter", "m."), FitColumn("bars", "bars", right=True),
                FitColumn("seed", "seed", right=True))
NO_PLAYER_HINT = "export the tune as WAV (e) and open it in any audio player"
MODEL_TASKS = ("compose", "fill", "interpolate")  # run the chosen model, one at a time, in the form's progress line


class TaskButton(NamedTuple):
    """The button that starts a background task, its label while the task runs, the status after a failure."""

    selector: str
    label: str
    running: str
    failed: str


TASKS = {"compose": TaskButton("#compose-button", "Generate", "Composing", "nothing composed"),
         "fill": TaskButton("#compose-button", "Generate", "Filling", "nothing filled"),
         "interpolate": TaskButton("#compose-button", "Generate", "Walking", "no path written"),
         "export": TaskButton("#export-button", "Export", "Exporting", "nothing was written"),
         "play": TaskButton("#play-button", "Play", "Playing", "not played")}


# --- the model picker (pure) -------------------------------------------------------------------


def model_choices(home: Path) -> list[tuple[str, str]]:
    """(label, model) pairs for the picker: the shipped default first, then each music run with a checkpoint.

    A run is a music model when its corpus has a music encoding, which `load_model` demands; runs
    on text, oracle or grammar corpora, and runs without a checkpoint yet, are not offered.
    """
    encodings = {manifest.get("name"): (manifest.get("encoding") or {}).get("name") for manifest in list_corpora(home)}
    choices = [(DEFAULT_LABEL, DEFAULT_MODEL)]
    for info in listed_runs(home):
        name, corpus = str(info.get("name", "")), info.get("corpus")
        if name and encodings.get(corpus) in MUSIC_ENCODINGS and (checkpoints_dir(home) / name / STATE_FILE).is_file():
            choices.append((f"{name} ({corpus}, {info.get('method', '?')}, {info.get('status', '?')})", name))
    return choices


@dataclass(frozen=True)
class TuneChoices:
    """What the chosen model composes: strings of bars (a window model, the default here), or whole
    tunes with a form, whose tune types are those of its training tunes, most common first."""

    whole_tunes: bool = False
    types: tuple[str, ...] = ()


def tune_choices(home: Path, model: str) -> TuneChoices:
    """The picker's model as the form needs it. The shipped default is read from its model.json alone
    (the pane asks at every start); a run is loaded, as composing loads it."""
    if model == DEFAULT_MODEL:
        info = read_model_info(default_model_folder())
        unit, headers = info.get("unit", "window"), dict(info.get("headers", {}))
    else:
        loaded = load_model(home, model)
        unit, headers = loaded.unit, loaded.headers
    return TuneChoices(unit == "tune", known_types(headers))


def known_types(headers: Mapping[str, int]) -> tuple[str, ...]:
    """The tune types of a whole-tune model's training headers ("6/8 major jig": 40), most common
    first; `unknown` (a tune without a type) is no type to ask for."""
    counts: Counter[str] = Counter()
    for key, count in headers.items():
        counts[read_header_key(key).type] += int(count)
    return tuple(kind for kind, _ in counts.most_common() if kind != UNKNOWN_TYPE)


# --- the forms (pure) --------------------------------------------------------------------------


@dataclass(frozen=True)
class ComposeRequest:
    """The compose form as typed: the model, then each field's text (these defaults fill the form)."""

    model: str = DEFAULT_MODEL
    count: str = "8"
    bars: str = "16"
    temperature: str = ""
    seed: str = ""
    key: str = ""
    meter: str = ""
    primer: str = ""
    steps: str = "5"  # the tunes on an interpolation path (i), A and B included
    # A whole-tune model's form instead of `bars`: the strains, bars a strain, the type ("": any), endings.
    whole_tunes: bool = False
    form: str = DEFAULT_FORM
    part_bars: str = str(DEFAULT_PART_BARS)
    tune_type: str = ""
    endings: bool = False


SHORT_LABELS = {"temperature": "temp.", "part_bars": "bars/A"}  # where the form is narrow
# Fields on another's row: a path (steps) is walked with a window model, which the bars row is shown for.
SHARED_ROWS = {"bars": "steps"}
FIELD_HINTS = {"count": f"tunes to compose, 1-{MAX_COUNT}", "bars": "length in bars, e.g. 16",
               "temperature": "blank: the model's own; lower is plainer", "seed": "blank: a random one",
               "key": "e.g. D, Em, A dorian (blank: as composed)", "meter": "e.g. 6/8 (blank: the corpus's)",
               "primer": "optional .mid file the tunes continue",
               "steps": f"tunes on a path between two marked (i), 2-{MAX_POINTS}"}
TUNE_FIELD_HINTS = {"form": f"{', '.join(NAMED_FORMS[:-1])} or {NAMED_FORMS[-1]}",
                    "part_bars": "bars a strain (free: the tune), e.g. 8"}
ANY_TYPE = ("any", "")  # the type picker's first choice: drawn from the training tunes
WINDOW_HINT = "form, type, endings: whole-tune models only"


def compose_settings(home: Path, request: ComposeRequest) -> ComposeSettings:
    """The form as checked settings with the primer file read; a one-line error naming the first bad field.

    A whole-tune model takes the form, bars a strain, type and endings and no length in bars (the
    form gives it); a window model takes the length and none of those (its form hides them).
    """
    count = whole_number(request.count, "count", 1, MAX_COUNT, "8")
    tune_options = {} if not request.whole_tunes else {
        "form": request.form.strip() or None,
        "part_bars": whole_number(request.part_bars, "part bars", 1, MAX_TUNE_BARS, str(DEFAULT_PART_BARS)),
        "tune_type": request.tune_type or None, "endings": request.endings}
    settings = requested_settings(
        count, None if request.whole_tunes else whole_number(request.bars, "bars", 1, MAX_BARS, "16"),
        temperature=chosen_temperature(request), seed=chosen_seed(request),
        key=request.key.strip() or None, meter=request.meter.strip() or None, **tune_options)
    if not request.primer.strip():
        return settings
    return replace(settings, primer=read_primer_file(project_path(home, request.primer)))


def whole_number(text: str, field: str, low: int, high: int, example: str) -> int:
    """`text` as an integer in low..high, else an error that names the field and shows a good value."""
    try:
        value: int | None = int(text.strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise SeqganError(f"{field} must be a whole number from {low} to {high}, e.g. {example}")
    return value


def positive_number(text: str, field: str, example: str) -> float:
    """`text` as a finite number above 0, else an error that names the field and shows a good value."""
    try:
        value: float | None = float(text.strip())
    except ValueError:
        value = None
    if value is None or not (math.isfinite(value) and value > 0):
        raise SeqganError(f"{field} must be a number above 0, e.g. {example}")
    return value


def project_path(home: Path, text: str) -> Path:
    """A path the user typed: `~` expanded, a relative one taken inside the project folder."""
    path = Path(text.strip()).expanduser()
    return path if path.is_absolute() else home / path


@dataclass(frozen=True)
class ExportRequest:
    """The export form: the formats checked, the folder typed."""

    formats: tuple[str, ...]
    folder: str


def export_folder(home: Path, request: ExportRequest) -> Path:
    """Where to export, refusing a request without a format or a folder before anything is written."""
    if not request.formats:
        raise SeqganError(f"check at least one format to export: {', '.join(FORMATS)}")
    if not request.folder.strip():
        raise SeqganError("enter the folder to export to, e.g. tunes (inside the project folder) or ~/tunes")
    return project_path(home, request.folder)


def chosen_seed(request: ComposeRequest) -> int | None:
    """The seed field (None: blank, a random one)."""
    seed = request.seed.strip()
    return whole_number(seed, "seed", 0, MAX_SEED, "42, or blank for a random one") if seed else None


def chosen_temperature(request: ComposeRequest) -> float | None:
    """The temperature field (None: blank, the model's own)."""
    text = request.temperature
    return positive_number(text, "temperature", "0.9") if text.strip() else None


def fill_settings(request: ComposeRequest) -> FillSettings:
    """The form's count, seed and temperature as in-filling takes them (the versions of the tune, the
    first one's seed, blank: a random one); the tune keeps its own key, meter and length, so the
    other fields do not apply."""
    seed = chosen_seed(request)
    return FillSettings(count=whole_number(request.count, "count", 1, MAX_COUNT, "8"),
                        seed=secrets.randbelow(1_000_000) if seed is None else seed,
                        temperature=chosen_temperature(request))


def interpolation_settings(request: ComposeRequest) -> tuple[int, ComposeSettings]:
    """The tunes on the path (the steps field) and how each is decoded: greedily with a blank
    temperature, else sampled with the seed, as `compose --interpolate` takes them."""
    points = whole_number(request.steps, "steps", 2, MAX_POINTS, "5")
    return points, requested_settings(1, temperature=chosen_temperature(request), seed=chosen_seed(request))


# --- composing, playing, exporting (pure: they run in worker threads) --------------------------


def compose_with(home: Path, model: str, settings: ComposeSettings, reporter: Reporter) -> list[ComposedTune]:
    """Load the model and compose, reporting each tune."""
    reporter.note(f"Loading model {model} ...")
    return compose_tunes(load_model(home, model), settings, reporter)


def fill_with(home: Path, model: str, source: SourceTune, span: BarSpan, settings: FillSettings,
              reporter: Reporter) -> list[ComposedTune]:
    """Load the model and write the span's bars of `source` again, reporting each version."""
    reporter.note(f"Loading model {model} ...")
    return fill_tunes(load_model(home, model), source, span.first, span.last, settings, reporter)


def interpolate_with(home: Path, model: str, ends: tuple[SourceTune, SourceTune], points: int,
                     settings: ComposeSettings, reporter: Reporter) -> list[ComposedTune]:
    """Load the model and write the `points` tunes on the path between the two tunes."""
    reporter.note(f"Loading model {model} ...")
    loaded = load_model(home, model)
    reporter.note(f"Walking {points} tunes from {ends[0].name} to {ends[1].name} ...")
    return interpolate_tunes(loaded, *ends, points, settings)


def tune_file_piece(number: int, tune: ComposedTune) -> Piece:
    """The files of the pane's tune `number` as the command that made it writes them: a filled tune's and
    a path's tune's names and notes, else a composed tune's."""
    if "fill" in tune.provenance:
        return fill_piece(number, tune)
    if "interpolation" in tune.provenance:
        return interpolation_piece(tune)
    return tune_piece(number, tune)


def pane_source(number: int, tune: ComposedTune, folder: Path) -> SourceTune:
    """The pane's tune `number` as the tune to fill or walk from: read from the sidecar that exporting
    it writes, as `--from` reads it (so the pane writes what the recorded command writes), and named
    by that sidecar in `folder`, where the recorded command finds it once the tune is exported."""
    piece = tune_file_piece(number, tune)
    name = f"{piece.stem}{SIDECAR}"
    with tempfile.TemporaryDirectory(prefix="seqgan-source-") as staging:
        written = Path(staging) / name
        written.write_text(sidecar_text(piece.sidecar or {}), encoding="utf-8")
        source = read_source_tune(written)
    return replace(source, path=(folder / name).expanduser().resolve())


def play_tune(number: int, tune: ComposedTune) -> str:
    """Render the tune to a temporary WAV and play it to the end; the player's name."""
    with tempfile.TemporaryDirectory(prefix="seqgan-play-") as folder:
        wav = Path(folder) / f"{file_stem(number, tune.seed, tune.title)}.wav"
        return play_file(write_wav(tune.melody, wav, chords=tune.chords))


def export_tunes(chosen: Sequence[tuple[int, ComposedTune]], out: Path, formats: Sequence[str]) -> list[Piece]:
    """Write the (number, tune) pairs with the names and sidecars `seqgan-music compose` gives them."""
    return write_pieces([tune_file_piece(number, tune) for number, tune in chosen], out, formats)


def export_summary(pieces: Sequence[Piece], out: Path) -> str:
    """'wrote 4 files (.abc, .json, .mid) for 2 tunes to /home/me/tunes'."""
    files = [file for piece in pieces for file in piece.files]
    suffixes = ", ".join(sorted({file.suffix for file in files}))
    return f"wrote {len(files)} files ({suffixes}) for {len(pieces)} tune{'s' * (len(pieces) != 1)} to {out}"


# --- what the pane shows (pure) ----------------------------------------------------------------


def key_name(tune: ComposedTune) -> str:
    """The written key, as `seqgan-music compose` prints it ('-' for a tune without one)."""
    return tune.melody.key.name if tune.melody.key else "-"


def tune_cells(tune: ComposedTune) -> tuple[str, ...]:
    """A table row after the mark: title, key, meter, bars, seed. What a filled tune's and a path's
    tune's titles end with (the bars written again, the place on the path) leads their cell, where a
    narrow table does not cut it off."""
    fill, path, title = tune.provenance.get("fill"), tune.provenance.get("interpolation"), tune.title
    if fill:
        first, last = fill["bars"]
        title = f"↳ bars {first}-{last} new: {title.removesuffix(f' (bars {first}-{last} new, seed {tune.seed})')}"
    elif path:
        title = f"path {path['point']}/{path['points']}: {title}"
    return title, key_name(tune), tune.melody.meter, str(len(tune.melody.bars)), str(tune.seed)


def roll_title(tune: ComposedTune) -> str:
    """'2/2 reel in C major: The Rolling Harvest', the piano roll's title (key and meter first: a narrow
    border cuts the end, and the table shows the title). A whole tune names the type it was composed as,
    a filled one its source's."""
    whole = tune.provenance.get("tune")
    kind = whole["type"]["written"] if whole else tune.melody.rhythm
    kind = kind if kind and kind != UNKNOWN_TYPE else None
    return f"{tune.melody.meter} {kind or tune_form(tune.melody.meter)} in {key_name(tune)}: {tune.title}"


def strain_spans(whole: dict) -> list[tuple[str, int, int, bool]]:
    """(letter, first bar, last bar, played twice) of each strain of a whole tune's provenance, in
    notated bars from 1: every strain has its part bars, and one more (the second ending) when it is
    repeated with endings."""
    spans, first = [], 1
    for strain in parse_form(whole["form"]):
        bars = whole["part_bars"] + (1 if strain.repeated and whole["endings"] else 0)
        spans.append((strain.letter, first, first + bars - 1, strain.repeated))
        first += bars
    return spans


def strain_starts(tune: ComposedTune) -> list[float]:
    """The beats where a whole tune's strains after the first start (the piano roll marks them); none
    for a string of bars, or where the notated bar lines do not match the strains (a primer's pickup)."""
    whole = tune.provenance.get("tune")
    bars = tune.melody.bars
    if not whole or len(bars) != whole["notated_bars"]:
        return []
    return [bars[first - 1] for _, first, _, _ in strain_spans(whole)[1:]]


def parts_line(tune: ComposedTune) -> str:
    """'jig AABB · A: bars 1-8 ×2 · B: bars 9-16 ×2 · 16 bars notated, 32 played' for a whole tune;
    how a filled tune's bars and a path's tune were written; '' for a string of bars (a window
    model's tune has no parts)."""
    fill, path = tune.provenance.get("fill"), tune.provenance.get("interpolation")
    if fill:
        first, last = fill["bars"]
        return f"bars {first}-{last} new ({fill['how']}); every other bar, the key and the meter kept"
    if path:
        return (f"tune {path['point']} of {path['points']} on the {path['path']} path between the marked tunes "
                f"(t {path['t']:g}): {path['decoding']}")
    whole = tune.provenance.get("tune")
    if not whole:
        return ""
    kind = whole["type"]["written"]
    shape = f"{kind} {whole['form']}" if kind != UNKNOWN_TYPE else whole["form"]
    strains = [f"{letter}: bars {first}-{last}" + (" ×2" if twice else "")
               for letter, first, last, twice in strain_spans(whole)]
    return " · ".join([shape + (" with endings" if whole["endings"] else ""), *strains,
                       f"{whole['notated_bars']} bars notated, {whole['played_bars']} played"])


def composed_summary(tunes: Sequence[ComposedTune], model: str) -> str:
    """'seeds 42-49: 8 tunes from default', the seeds first (they recompose the tunes, and a narrow status
    line keeps them)."""
    seeds = f"seed {tunes[0].seed}" if len(tunes) == 1 else f"seeds {tunes[0].seed}-{tunes[-1].seed}"
    return f"{seeds}: {len(tunes)} tune{'s' * (len(tunes) != 1)} from {model}"


def marks_text(marked: int, total: int) -> str:
    """The status beside the tunes: how many are marked, and what export does without marks."""
    if not total:
        return "no tunes yet: g composes"
    if not marked:
        return f"none of {total} marked: e exports the highlighted tune"
    return f"{marked} of {total} marked for export" + ("; i walks between the two" if marked == 2 else "")


def bars_text(span: BarSpan | None) -> str:
    """The line over the piano roll: the bars marked and what n does with them, else how to mark them."""
    if span is None:
        return f"{MARK_KEYS}; n writes them again"
    return f"{span.describe()}: n writes them again · {MARK_KEYS}"


# --- widgets -----------------------------------------------------------------------------------


class ComposeForm(PaneForm):
    """The model and the settings of `seqgan-music compose`: a length in bars for a window model, a
    form, bars a strain, a tune type and endings for a whole-tune one (`show_choices`)."""

    BINDINGS = [Binding("escape", "leave", "Back to tunes")]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.choices = TuneChoices()  # of the chosen model, once the pane has read it

    def compose(self) -> ComposeResult:
        defaults = ComposeRequest()
        with Horizontal(classes="field"):
            yield FieldLabel("model", classes="field-label")
            yield FormSelect([(DEFAULT_LABEL, DEFAULT_MODEL)], value=DEFAULT_MODEL, allow_blank=False, compact=True,
                             id="compose-model")
        for name in FIELD_HINTS:
            if name in SHARED_ROWS.values():
                continue
            with Horizontal(classes="field", id=f"{name}-field"):
                for shown in (name, SHARED_ROWS.get(name)):
                    if shown is not None:
                        yield FieldLabel(shown, SHORT_LABELS.get(shown, ""), classes="field-label")
                        yield Input(getattr(defaults, shown), placeholder=FIELD_HINTS[shown], compact=True,
                                    id=f"compose-{shown}")
            if name == "bars":
                yield from self._tune_fields(defaults)
        with Horizontal(id="compose-actions", classes="actions"):
            yield Button("Generate", variant="primary", compact=True, id="compose-button")
            yield TaskProgress("g composes with these settings", id="compose-progress")

    def _tune_fields(self, defaults: ComposeRequest) -> ComposeResult:
        """A whole-tune model's fields (hidden until one is chosen), and the hint that says why a window
        model has none."""
        yield Label(WINDOW_HINT, id="tune-hint", markup=False)
        with Vertical(id="tune-fields"):
            for name, hint in TUNE_FIELD_HINTS.items():
                with Horizontal(classes="field"):
                    yield FieldLabel(name.replace("_", " "), SHORT_LABELS.get(name, ""), classes="field-label")
                    yield Input(getattr(defaults, name), placeholder=hint, compact=True,
                                suggester=SuggestFromList(NAMED_FORMS) if name == "form" else None,
                                id=f"tune-{name.replace('_', '-')}")
            with Horizontal(classes="field"):
                yield FieldLabel("type", classes="field-label")
                yield FormSelect([ANY_TYPE], value="", allow_blank=False, compact=True, id="tune-type")
                yield Checkbox("endings", defaults.endings, compact=True, id="tune-endings")

    def on_mount(self) -> None:
        self.border_title = "compose"
        self.show_choices(self.choices)

    def show_choices(self, choices: TuneChoices) -> None:
        """Offer what the chosen model composes: its form fields and tune types, or its length in bars."""
        self.choices = choices
        whole = choices.whole_tunes
        self.query_one("#tune-fields").display = whole
        self.query_one("#bars-field").display = self.query_one("#tune-hint").display = not whole
        select = self.query_one("#tune-type", Select)
        chosen = select.value
        select.set_options([ANY_TYPE, *((kind, kind) for kind in choices.types)])
        select.value = chosen if chosen in choices.types else ANY_TYPE[1]

    def request(self) -> ComposeRequest:
        """The form's current values."""
        texts = {name: self.query_one(f"#compose-{name}", Input).value for name in FIELD_HINTS}
        return ComposeRequest(
            str(self.query_one("#compose-model", Select).value), **texts, whole_tunes=self.choices.whole_tunes,
            form=self.query_one("#tune-form", Input).value, part_bars=self.query_one("#tune-part-bars", Input).value,
            tune_type=str(self.query_one("#tune-type", Select).value),
            endings=self.query_one("#tune-endings", Checkbox).value)


class ExportForm(PaneForm):
    """Formats and output folder for the marked tunes."""

    BINDINGS = [Binding("escape", "leave", "Back to tunes")]

    def __init__(self, folder: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.folder = folder

    def compose(self) -> ComposeResult:
        with Grid(id="export-formats"):
            for name in FORMATS:
                yield Checkbox(name, value=name == "mid", compact=True, id=f"format-{name}")
        with Horizontal(classes="field"):
            yield FieldLabel("folder", classes="field-label")
            yield Input(str(self.folder), placeholder="output folder, e.g. ~/tunes", compact=True, id="export-folder")
        with Horizontal(id="export-actions", classes="actions"):
            yield Button("Export", compact=True, id="export-button")
            yield Label("never overwrites: NAME-2 ...", id="export-status", markup=False)

    def on_mount(self) -> None:
        self.border_title = "export marked tunes"

    def request(self) -> ExportRequest:
        """The formats checked, in the order of FORMATS, and the folder typed."""
        formats = tuple(name for name in FORMATS if self.query_one(f"#format-{name}", Checkbox).value)
        return ExportRequest(formats, self.query_one("#export-folder", Input).value)


def mark_cell(marked: bool) -> Text | str:
    """The mark column's cell: a green ✓ on a marked tune."""
    return Text("✓", style="bold green") if marked else ""


class TuneTable(FitTable):
    """The composed tunes; a mark (✓) chooses a tune for export. Space, Enter or a second click marks.
    Where the table is narrow the titles are shortened, never the key, meter, bars or seed. The
    arrow keys left and right mark bars of the highlighted tune (the pane draws them on its roll)."""

    BINDINGS = [Binding("space", "toggle_mark", "Mark"),
                Binding("right", "move_bars(1, False)", "Mark the next bar", key_display="→", show=False),
                Binding("left", "move_bars(-1, False)", "Mark the bar before", key_display="←", show=False),
                Binding("shift+right", "move_bars(1, True)", "Mark one bar more", key_display="shift+→", show=False),
                Binding("shift+left", "move_bars(-1, True)", "Mark one bar less (or before)", key_display="shift+←",
                        show=False)]

    class MarksChanged(Message):
        """The marks changed (the pane shows how many)."""

    class BarsMoved(Message):
        """An arrow key moved the bar cursor `step` bars, growing the marked span when `extend`."""

        def __init__(self, step: int, extend: bool) -> None:
            super().__init__()
            self.step, self.extend = step, extend

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(TUNE_COLUMNS, id=id)
        self.marked: set[int] = set()

    def show_tunes(self, tunes: Sequence[ComposedTune], cursor: int = 0, marked: frozenset[int] = frozenset()) -> None:
        """Replace the rows with these tunes, the cursor on row `cursor` and the rows `marked` marked."""
        self.marked = set(marked)
        cells = [tune_cells(tune) for tune in tunes]
        self.set_rows([(str(index), [mark_cell(index in marked), row[0],
                                     *(Text(c, justify="right") if c.isdigit() else c for c in row[1:])])
                       for index, row in enumerate(cells)], cursor=str(cursor))
        self.post_message(self.MarksChanged())

    def set_marks(self, rows: set[int]) -> None:
        """Mark exactly these rows, redrawing only the marks that change."""
        for row in self.marked ^ rows:
            self.update_cell(str(row), "mark", mark_cell(row in rows))
        self.marked = rows
        self.post_message(self.MarksChanged())

    def toggle_all(self) -> None:
        """Mark every tune, or none when all are marked already."""
        self.set_marks(set() if len(self.marked) == self.row_count else set(range(self.row_count)))

    def action_toggle_mark(self) -> None:
        if self.row_count:
            self.set_marks(self.marked ^ {self.cursor_row})

    def action_move_bars(self, step: int, extend: bool) -> None:
        self.post_message(self.BarsMoved(step, extend))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_toggle_mark()


class ComposePane(Horizontal):
    """The Compose pane: compose tunes with any music model, see, play and export them."""

    TITLE = "Compose"
    FOCUS = "#tunes-table"  # g composes from here at once; f goes to the form
    CSS_FILE = "compose.tcss"
    PANE_ID = "compose"
    HELP = ("Compose folk tunes as `seqgan-music compose` does. Pick the shipped default model or a music run "
            "of this project (the list follows the project folder), set how many tunes, their length in bars, the temperature "
            "(lower is plainer) and the seed (blank: a random one, shown afterwards; tune i gets seed+i), and "
            "optionally a key, a meter and a MIDI file whose opening the tunes continue (relative paths are "
            "inside the project folder), then Generate. A whole-tune model (a run trained with data.unit = \"tune\") "
            "composes whole tunes in a form instead of a length in bars: the strains (AABB, AB, AABA, AABBCC, any "
            "such letters, or free), the bars of a strain, the tune type (of those its training tunes have, or any) "
            "and first and second endings; each tune's parts are shown above its piano roll. The highlighted tune "
            "is drawn as a piano roll with its key and meter (and the start of each strain, ║), and played when "
            "the machine has an audio player (aplay, paplay, afplay or ffplay). "
            "Mark tunes (none marked: the highlighted one) and export them as MIDI, ABC, WAV or MusicXML with "
            "a JSON sidecar of how each was made; files already there are never overwritten (NAME-2, ...). "
            "Write bars again: on the tunes, → and ← mark a bar of the highlighted tune (lit on its piano roll), "
            "shift+→ and shift+← mark more or fewer bars from there; n writes the marked bars again with the "
            "chosen model (count versions, from the seed, at the temperature), keeping every other bar, the key and "
            "the meter, as `seqgan-music compose --fill 5-8 --from TUNE` does: the new tunes appear below their "
            "source, titled \"(bars 5-8 new, seed N)\". Walk between two tunes: mark two and press i with a vae or "
            "arae model: the steps field's tunes on the path from the upper one to the lower, both ends included "
            "(greedy with a blank temperature, else sampled with the seed), appear below the lower, as "
            "`seqgan-music compose --interpolate A B` writes them. New tunes play and export as any other; their "
            "sidecars name their source tunes as the files exporting those to the export folder writes.")
    BINDINGS = [
        Binding("g", "generate", "Generate"),
        Binding("p", "play", "Play"),
        Binding("e", "export", "Export"),
        Binding("a", "mark_all", "Mark all"),
        Binding("n", "fill", "Fill"),
        Binding("i", "interpolate", "Path", show=False),  # an 80-column footer has room for one; the status says i
        Binding("t", "focus_tunes", "To the tunes", show=False),
        Binding("escape", "focus_tunes", "To the tunes", show=False),
        Binding("f", "focus_form", "Form", show=False),
    ]

    class Composed(Message):
        def __init__(self, tunes: list[ComposedTune], model: str) -> None:
            super().__init__()
            self.tunes, self.model = tunes, model

    class Exported(Message):
        def __init__(self, summary: str) -> None:
            super().__init__()
            self.summary = summary

    class Played(Message):
        def __init__(self, title: str, player: str) -> None:
            super().__init__()
            self.title, self.player = title, player

    class Filled(Message):
        """New versions of tune `source` (a row) with the bars of `span` written again."""

        def __init__(self, source: int, span: BarSpan, tunes: list[ComposedTune], model: str) -> None:
            super().__init__()
            self.source, self.span, self.tunes, self.model = source, span, tunes, model

    class Interpolated(Message):
        """The tunes on the path between rows `ends`."""

        def __init__(self, ends: tuple[int, int], tunes: list[ComposedTune], model: str) -> None:
            super().__init__()
            self.ends, self.tunes, self.model = ends, tunes, model

    class ModelRead(Message):
        """What `model` composes, read in a worker (loading a run takes a moment)."""

        def __init__(self, model: str, choices: TuneChoices) -> None:
            super().__init__()
            self.model, self.choices = model, choices

    class TaskFailed(Message):
        """Composing, filling, interpolating, exporting or playing (`task`) failed for a one-line `reason`."""

        def __init__(self, task: str, reason: str) -> None:
            super().__init__()
            self.task, self.reason = task, reason

    def __init__(self, home: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.home = home
        self.tunes: list[ComposedTune] = []
        self.choices: list[tuple[str, str]] = []  # the model picker's, as last read
        self._busy: set[str] = set()
        self._shown: ComposedTune | None = None  # the tune on the piano roll

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="compose-side"):
            yield ComposeForm(id="compose-form")
            yield ExportForm(self.home / "tunes", id="export-form")
        with Vertical(id="compose-main"):
            yield TuneTable(id="tunes-table")
            with Horizontal(id="tune-actions", classes="actions"):
                yield Button("Play", compact=True, id="play-button")
                yield Button("Mark all", compact=True, id="mark-all-button")
                yield Label(marks_text(0, 0), id="tune-status", markup=False)
            yield Label("", id="tune-parts", markup=False)
            yield Label(bars_text(None), id="bar-status", markup=False)
            with VerticalScroll(id="roll-box"):
                yield MarkedRoll("piano roll: compose tunes (g) to see them here", id="tune-roll")

    def on_mount(self) -> None:
        self.query_one(TuneTable).border_title = "tunes"
        self.refresh_models()

    # --- the model picker ---

    def refresh_models(self) -> None:
        """Reread the runs; keep the chosen model when it is still there, else the default. The
        picker is rebuilt only when the choices changed (it may be open)."""
        select = self.query_one("#compose-model", Select)
        try:
            choices = model_choices(self.home)
        except (SeqganError, OSError) as error:
            self.notify(f"cannot read the runs of {self.home}: {error}", severity="error", markup=False)
            return
        if choices == self.choices:
            return
        self.choices = choices
        chosen = select.value
        select.set_options(choices)
        select.value = chosen if chosen in [value for _, value in choices] else DEFAULT_MODEL
        self.query_one(ComposeForm).border_subtitle = f"{len(choices) - 1} music run{'s' * (len(choices) != 2)}"

    def project_changed(self, change: ProjectChanged) -> None:
        self.refresh_models()  # the models depend on the runs and on their corpora's encodings

    @on(Select.Changed, "#compose-model")
    def _model_chosen(self, event: Select.Changed) -> None:
        self.read_model(str(event.value))

    @work(thread=True, group="read-model", exclusive=True)
    def read_model(self, model: str) -> None:
        """Read what the model composes in a thread; a model that cannot be read is offered a length in
        bars, and composing with it says why it cannot be read."""
        try:
            choices = tune_choices(self.home, model)
        except (SeqganError, OSError, ValueError):
            choices = TuneChoices()
        self.post_message(self.ModelRead(model, choices))

    def on_compose_pane_model_read(self, message: ModelRead) -> None:
        if message.model == self.query_one("#compose-model", Select).value:  # else another was chosen since
            self.query_one(ComposeForm).show_choices(message.choices)

    # --- composing ---

    @on(PaneForm.Submitted, "#compose-form")
    def _compose_requested(self, message: PaneForm.Submitted) -> None:
        if self._model_busy():
            return
        try:
            settings = compose_settings(self.home, message.request)
        except (SeqganError, OSError) as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self._set_busy("compose", True)
        self.run_compose(message.request.model, settings, self.query_one("#compose-progress", TaskProgress))

    @work(thread=True, group="compose")
    def run_compose(self, model: str, settings: ComposeSettings, progress: TaskProgress) -> None:
        """Load the model and compose in a thread; progress and the outcome come back as messages."""
        worker = get_current_worker()
        try:
            tunes = compose_with(self.home, model, settings, progress.reporter(lambda: worker.is_cancelled))
        except (SeqganError, OSError) as error:
            self.post_message(self.TaskFailed("compose", str(error)))
            return
        self.post_message(self.Composed(tunes, model))

    def on_compose_pane_composed(self, message: Composed) -> None:
        self._set_busy("compose", False)
        self.tunes = message.tunes
        summary = composed_summary(message.tunes, message.model)
        self.query_one("#compose-progress", TaskProgress).set_status(summary)
        self.notify(f"composed {summary}", markup=False)
        self.query_one(TuneTable).show_tunes(message.tunes)
        self._show_tune(0)

    # --- the tunes ---

    @on(DataTable.RowHighlighted, "#tunes-table")
    def _tune_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_tune(event.cursor_row)

    def _show_tune(self, index: int) -> None:
        """Draw tune `index` (a tune drawn already keeps its marked bars; a filled one is drawn with its
        new bars marked)."""
        if 0 <= index < len(self.tunes) and self.tunes[index] is not self._shown:
            tune = self._shown = self.tunes[index]
            self.query_one("#tune-roll", MarkedRoll).set_notes(tune.melody.notes, roll_title(tune), tune.melody.bars,
                                                               strains=strain_starts(tune))
            fill = tune.provenance.get("fill")
            self._mark_bars(BarSpan(len(tune.melody.bars), fill["bars"][1], fill["bars"][0]) if fill else None)
            parts, line = self.query_one("#tune-parts", Label), parts_line(tune)
            parts.update(line)
            parts.display = bool(line)

    @on(TuneTable.MarksChanged)
    def _marks_changed(self) -> None:
        if "play" not in self._busy:
            self._set_status("play", marks_text(len(self.query_one(TuneTable).marked), len(self.tunes)))

    def _highlighted(self) -> int | None:
        table = self.query_one(TuneTable)
        return table.cursor_row if 0 <= table.cursor_row < min(table.row_count, len(self.tunes)) else None

    def _insert_tunes(self, at: int, tunes: list[ComposedTune]) -> None:
        """New tunes as rows from row `at` on, highlighted from the first; the marks stay on their tunes."""
        table = self.query_one(TuneTable)
        marked = frozenset(row if row < at else row + len(tunes) for row in table.marked)
        self.tunes[at:at] = tunes
        table.show_tunes(self.tunes, cursor=at, marked=marked)
        self._show_tune(at)

    def _model_busy(self) -> bool:
        """Whether the chosen model is composing, filling or walking already (saying so when it is)."""
        running = next((task for task in MODEL_TASKS if task in self._busy), None)
        if running is not None:
            self.notify(f"already {TASKS[running].running.lower()}: wait for it to finish", severity="warning")
        return running is not None

    def _source_folder(self) -> Path:
        """Where exporting puts the pane's tunes: the folder their sidecars are named by as sources."""
        text = self.query_one("#export-folder", Input).value
        return project_path(self.home, text) if text.strip() else self.home / "tunes"

    # --- writing marked bars again ---

    @on(TuneTable.BarsMoved)
    def _bars_moved(self, message: TuneTable.BarsMoved) -> None:
        index = self._highlighted()
        if index is None:
            return
        span = self.query_one("#tune-roll", MarkedRoll).span
        count = len(self.tunes[index].melody.bars)
        self._mark_bars(span.moved(message.step, message.extend) if span is not None
                        else BarSpan.first_move(count, message.step))

    def _mark_bars(self, span: BarSpan | None) -> None:
        self.query_one("#tune-roll", MarkedRoll).mark(span)
        self.query_one("#bar-status", Label).update(bars_text(span))

    def action_fill(self) -> None:
        index = self._highlighted()
        span = self.query_one("#tune-roll", MarkedRoll).span
        if index is None:
            self.notify("compose tunes first (g), then mark bars (→) and write them again (n)", severity="warning")
        elif span is None:
            self.notify(f"mark the bars to write again first: {MARK_KEYS}", severity="error")
        elif not self._model_busy():
            request = self.query_one(ComposeForm).request()
            try:
                settings = fill_settings(request)
                source = pane_source(index + 1, self.tunes[index], self._source_folder())
            except (SeqganError, OSError) as error:
                self.notify(str(error), severity="error", markup=False)
                return
            self._set_busy("fill", True)
            self.run_fill(request.model, index, source, span, settings,
                          self.query_one("#compose-progress", TaskProgress))

    @work(thread=True, group="compose")
    def run_fill(self, model: str, index: int, source: SourceTune, span: BarSpan, settings: FillSettings,
                 progress: TaskProgress) -> None:
        """Load the model and fill in a thread; progress and the outcome come back as messages."""
        worker = get_current_worker()
        try:
            tunes = fill_with(self.home, model, source, span, settings, progress.reporter(lambda: worker.is_cancelled))
        except (SeqganError, OSError) as error:
            self.post_message(self.TaskFailed("fill", str(error)))
            return
        self.post_message(self.Filled(index, span, tunes, model))

    def on_compose_pane_filled(self, message: Filled) -> None:
        self._set_busy("fill", False)
        source, count = self.tunes[message.source].title, len(message.tunes)
        summary = (f"{count} version{'s' * (count != 1)} of {source} with {message.span.bars} new, "
                   f"from {message.model}")
        self._set_status("fill", summary)
        self.notify(f"wrote {summary}", markup=False)
        self._insert_tunes(message.source + 1, message.tunes)

    # --- walking between two tunes ---

    def action_interpolate(self) -> None:
        marked = sorted(self.query_one(TuneTable).marked)
        if len(marked) != 2:
            self.notify(f"mark two tunes to walk between (space), then press i: {len(marked)} marked",
                        severity="error")
        elif not self._model_busy():
            request = self.query_one(ComposeForm).request()
            folder = self._source_folder()
            try:
                points, settings = interpolation_settings(request)
                ends = (pane_source(marked[0] + 1, self.tunes[marked[0]], folder),
                        pane_source(marked[1] + 1, self.tunes[marked[1]], folder))
            except (SeqganError, OSError) as error:
                self.notify(str(error), severity="error", markup=False)
                return
            self._set_busy("interpolate", True)
            self.run_interpolate(request.model, (marked[0], marked[1]), ends, points, settings,
                                 self.query_one("#compose-progress", TaskProgress))

    @work(thread=True, group="compose")
    def run_interpolate(self, model: str, rows: tuple[int, int], ends: tuple[SourceTune, SourceTune], points: int,
                        settings: ComposeSettings, progress: TaskProgress) -> None:
        """Load the model and walk the path in a thread; the outcome comes back as a message."""
        worker = get_current_worker()
        try:
            tunes = interpolate_with(self.home, model, ends, points, settings,
                                     progress.reporter(lambda: worker.is_cancelled))
        except (SeqganError, OSError) as error:
            self.post_message(self.TaskFailed("interpolate", str(error)))
            return
        self.post_message(self.Interpolated(rows, tunes, model))

    def on_compose_pane_interpolated(self, message: Interpolated) -> None:
        self._set_busy("interpolate", False)
        first, second = (self.tunes[row].title for row in message.ends)
        summary = f"{len(message.tunes)} tunes from {first} to {second} through {message.model}"
        self._set_status("interpolate", summary)
        self.notify(f"wrote {summary}", markup=False)
        self._insert_tunes(message.ends[1] + 1, message.tunes)

    # --- playing ---

    def action_play(self) -> None:
        index = self._highlighted()
        if index is None:
            self.notify("compose tunes first (g), then play the highlighted one (p)", severity="warning")
        elif "play" in self._busy:
            self.notify("a tune is still playing: wait for it to end", severity="warning")
        elif find_player() is None:
            self.notify(str(no_player_error(NO_PLAYER_HINT)), severity="warning", markup=False)
        else:
            self._set_busy("play", True)
            self._set_status("play", f"playing {self.tunes[index].title} ...")
            self.run_play(index + 1, self.tunes[index])

    @work(thread=True, group="play")
    def run_play(self, number: int, tune: ComposedTune) -> None:
        """Render and play in a thread: the player runs to the end of the tune."""
        try:
            player = play_tune(number, tune)
        except (SeqganError, OSError) as error:
            self.post_message(self.TaskFailed("play", str(error)))
            return
        self.post_message(self.Played(tune.title, player))

    def on_compose_pane_played(self, message: Played) -> None:
        self._set_busy("play", False)
        self._marks_changed()
        self.notify(f"played {message.title} with {message.player}", markup=False)

    # --- exporting ---

    @on(PaneForm.Submitted, "#export-form")
    def _export_requested(self, message: PaneForm.Submitted) -> None:
        table = self.query_one(TuneTable)
        highlighted = self._highlighted()
        rows = sorted(table.marked) or ([] if highlighted is None else [highlighted])
        if not rows:
            self.notify("compose tunes first (g), then mark the ones to export (space, or a for all)",
                        severity="error")
            return
        if "export" in self._busy:
            self.notify("already exporting: wait for it to finish", severity="warning")
            return
        try:
            out = export_folder(self.home, message.request)
        except (SeqganError, OSError) as error:
            self.notify(str(error), severity="error", markup=False)
            return
        self._set_busy("export", True)
        self._set_status("export", f"exporting {len(rows)} tune{'s' * (len(rows) != 1)} ...")
        self.run_export([(row + 1, self.tunes[row]) for row in rows], out, message.request.formats)

    @work(thread=True, group="export")
    def run_export(self, chosen: list[tuple[int, ComposedTune]], out: Path, formats: tuple[str, ...]) -> None:
        """Write the files in a thread (WAV and MusicXML take a while)."""
        try:
            pieces = export_tunes(chosen, out, formats)
        except (SeqganError, OSError) as error:
            self.post_message(self.TaskFailed("export", str(error)))
            return
        self.post_message(self.Exported(export_summary(pieces, out)))

    def on_compose_pane_exported(self, message: Exported) -> None:
        self._set_busy("export", False)
        self._set_status("export", message.summary)
        self.notify(message.summary, markup=False)

    # --- shared by the three tasks ---

    def on_compose_pane_task_failed(self, message: TaskFailed) -> None:
        self._set_busy(message.task, False)
        self._set_status(message.task, TASKS[message.task].failed)
        self.notify(message.reason, severity="error", markup=False)
        if message.task == "fill":
            self.query_one("#bar-status", Label).update(message.reason)
        elif message.task == "interpolate":
            self.query_one("#tune-status", Label).update(message.reason)

    def _set_busy(self, task: str, busy: bool) -> None:
        """One task of the model (composing, filling, walking), one export and one playback at a time: the
        task's button is off while it runs."""
        (self._busy.add if busy else self._busy.discard)(task)
        task_button = TASKS[task]
        button = self.query_one(task_button.selector, Button)
        if busy and button.has_focus:
            self.action_focus_tunes()  # a disabled button would leave nothing focused
        button.disabled = busy
        button.label = task_button.running if busy else task_button.label

    def _set_status(self, task: str, text: str) -> None:
        if task in MODEL_TASKS:
            self.query_one("#compose-progress", TaskProgress).set_status(text)
        else:
            self.query_one("#export-status" if task == "export" else "#tune-status", Label).update(text)

    # --- actions ---

    def action_generate(self) -> None:
        self.query_one(ComposeForm).submit()

    def action_export(self) -> None:
        self.query_one(ExportForm).submit()

    def action_mark_all(self) -> None:
        self.query_one(TuneTable).toggle_all()

    @on(PaneForm.Left)
    def action_focus_tunes(self) -> None:
        self.query_one(TuneTable).focus()

    def action_focus_form(self) -> None:
        self.query_one("#compose-count", Input).focus()

    @on(Button.Pressed, "#play-button")
    def _play_pressed(self) -> None:
        self.action_play()

    @on(Button.Pressed, "#mark-all-button")
    def _mark_all_pressed(self) -> None:
        self.action_mark_all()
