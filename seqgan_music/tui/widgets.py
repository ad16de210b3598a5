"""Reusable widgets: a text bar chart, a line plot, a piano roll, a pane's form and its fields, and a
progress bar fed by a `Reporter`.

Each drawing widget is a thin shell around a pure function that returns plain text lines, so the
drawing can be tested without a terminal and reused by any pane (corpora, compose, evaluate).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, Select, Static
from textual.widgets.data_table import CellDoesNotExist

from seqgan_music.corpora.encodings import pitch_token
from seqgan_music.corpora.melody import Note
from seqgan_music.errors import SeqganError
from seqgan_music.plotting import MARKERS, line_plot

_EIGHTHS = " ▏▎▍▌▋▊▉"
ONSET, SUSTAIN, BAR_LINE, GUIDE, STRAIN_LINE = "█", "━", "┊", "·", "║"


# --- bar chart ---------------------------------------------------------------------------------


def bar_chart_lines(rows: Sequence[tuple[str, float]], width: int, percent: bool = False) -> list[str]:
    """One line per (label, value): the label, a bar scaled to the largest value, the value.

    Bars use eighth blocks so that small differences stay visible in a narrow pane.
    """
    if not rows:
        return ["(no data)"]
    total = sum(value for _, value in rows) or 1
    peak = max((value for _, value in rows), default=0) or 1
    label_width = max(len(label) for label, _ in rows)
    values = [_format_value(value) + (f" {100 * value / total:5.1f}%" if percent else "") for _, value in rows]
    value_width = max(len(v) for v in values)
    bar_width = max(width - label_width - value_width - 2, 4)
    lines = []
    for (label, value), shown in zip(rows, values):
        eighths = int(round(8 * bar_width * max(value, 0) / peak))
        bar = "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")
        lines.append(f"{label:<{label_width}} {bar:<{bar_width}} {shown:>{value_width}}")
    return lines


def histogram_rows(values: Sequence[float], bins: int = 8) -> list[tuple[str, float]]:
    """Counts of `values` in `bins` equal integer ranges, labelled 'low-high' (for a BarChart)."""
    if not values:
        return []
    low, high = int(min(values)), int(max(values))
    width = max(1, math.ceil((high - low + 1) / bins))
    counts = [0] * math.ceil((high - low + 1) / width)
    for value in values:
        counts[(int(value) - low) // width] += 1
    return [(f"{low + i * width}-{low + (i + 1) * width - 1}" if width > 1 else str(low + i), count)
            for i, count in enumerate(counts)]


class BarChart(Widget):
    """A titled horizontal bar chart of (label, value) rows: histograms, frequencies, scores."""

    DEFAULT_CSS = """
    BarChart { height: auto; width: 1fr; }
    """

    def __init__(self, title: str = "", *, percent: bool = False, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[tuple[str, float]] = []
        self.percent = percent
        self.border_title = title

    def set_rows(self, rows: Sequence[tuple[str, float]], title: str | None = None) -> None:
        """Replace the data (and optionally the title) and redraw."""
        self.rows = list(rows)
        if title is not None:
            self.border_title = title
        self.refresh(layout=True)

    def plain_lines(self) -> list[str]:
        """The chart as plain text at the current width (what `render` draws)."""
        return bar_chart_lines(self.rows, self.content_size.width or 60, self.percent)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(len(self.rows), 1)

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="crop")
        for index, line in enumerate(self.plain_lines()):
            if index:
                text.append("\n")
            text.append(line)
        text.highlight_regex(r"[█▏▎▍▌▋▊▉]+", "green")
        return text


def _format_value(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


# --- line plot ---------------------------------------------------------------------------------


def plot_lines(series: Mapping[str, Sequence[tuple[float, float]]], x_label: str, width: int,
               height: int) -> list[str]:
    """`plotting.line_plot` fitted to `width` columns (its tick labels included), without the
    y-axis title line (a widget shows it as its border title)."""
    lines = line_plot(series, x_label, "", width=max(width, 12), height=height).split("\n")
    overflow = max(len(line) for line in lines[1:]) - width
    if overflow > 0:
        lines = line_plot(series, x_label, "", width=max(width - overflow, 12), height=height).split("\n")
    return lines[1:] if len(lines) > 1 else lines


class LinePlot(Widget):
    """Named series of (x, y) points as a character plot that fills the widget's width."""

    DEFAULT_CSS = """
    LinePlot { height: auto; width: 1fr; }
    """

    def __init__(self, title: str = "", *, rows: int = 8, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.series: dict[str, list[tuple[float, float]]] = {}
        self.x_label = ""
        self.rows = rows
        self.border_title = title

    def set_series(self, series: Mapping[str, Sequence[tuple[float, float]]], x_label: str,
                   title: str | None = None) -> None:
        """Replace the curves (and optionally the title) and redraw."""
        self.series = {name: list(points) for name, points in series.items()}
        self.x_label = x_label
        if title is not None:
            self.border_title = title
        self.refresh(layout=True)

    def plain_lines(self) -> list[str]:
        """The plot as plain text at the current width (what `render` draws)."""
        return plot_lines(self.series, self.x_label, self.content_size.width or 60, self.rows)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.plain_lines())

    def render(self) -> Text:
        return plot_text(self.plain_lines(), len(self.series))


_SERIES_STYLES = ("bold cyan", "bold magenta", "bold yellow", "bold green", "bold red", "bold blue", "bold white")


def plot_text(lines: Sequence[str], series: int) -> Text:
    """A character plot's lines styled for the terminal: one colour per series' marker, dim joins."""
    text = Text("\n".join(lines), no_wrap=True, overflow="crop")
    text.highlight_regex("·+", "dim")
    for index, marker in enumerate(MARKERS[:series]):
        text.highlight_regex(re.escape(marker), _SERIES_STYLES[index % len(_SERIES_STYLES)])
    return text


# --- piano roll --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollGrid:
    """A drawn piano roll: text rows (highest pitch first), the beats one column covers, cropping, and
    where the time axis starts: the beat of its first column and the label columns before it."""

    lines: list[str]
    beats_per_column: float
    cropped: bool
    origin: float = 0.0
    left: int = 0


def piano_roll(notes: Sequence[Note], width: int, step: float = 0.25,
               bars: Sequence[float] = (), strains: Sequence[float] = ()) -> RollGrid:
    """Draw notes as a pitch x time character grid that fits `width` columns.

    One column covers `step` beats (one grid16 step), or 2, 4 or 8 steps when the melody would
    not fit otherwise; a melody longer than that is cropped. Rows run from the highest pitch down
    to the lowest, which are labelled, as is every C; onsets are `█`, held notes `━`, bar lines `┊`,
    and the starts of a whole tune's strains (after the first) `║`.
    """
    if not notes:
        return RollGrid(["(no notes)"], step, False)
    low, high = min(n.pitch for n in notes), max(n.pitch for n in notes)
    origin = min([n.start for n in notes] + [b for b in bars if b <= notes[0].start])
    span = max(n.end for n in notes) - origin
    label_width = max(len(pitch_token(low)), len(pitch_token(high))) + 1
    room = max(width - label_width, 8)
    scale = step
    for factor in (1, 2, 4, 8):
        scale = step * factor
        if math.ceil(span / scale - 1e-9) <= room:
            break
    needed = max(math.ceil(span / scale - 1e-9), 1)
    columns = min(needed, room)
    grid = [[GUIDE if (high - row) % 12 == 0 else " " for _ in range(columns)] for row in range(high - low + 1)]
    for beats, mark in ((bars, BAR_LINE), (strains, STRAIN_LINE)):
        for beat in beats:
            column = int(round((beat - origin) / scale))
            if 0 < column < columns:
                for cells in grid:
                    if cells[column] in (" ", GUIDE, BAR_LINE):
                        cells[column] = mark
    for note in notes:
        first = int((note.start - origin) / scale + 1e-9)
        last = max(first + 1, int(round((note.end - origin) / scale)))
        if first >= columns:
            continue
        cells = grid[high - note.pitch]
        cells[first] = ONSET
        for column in range(first + 1, min(last, columns)):
            if cells[column] != ONSET:
                cells[column] = SUSTAIN
    lines = []
    for row, cells in enumerate(grid):
        pitch = high - row
        labelled = pitch in (low, high) or pitch % 12 == 0
        label = pitch_token(pitch) if labelled else ""
        lines.append(f"{label:>{label_width - 1}} " + "".join(cells))
    return RollGrid(lines, scale, needed > columns, origin, label_width)


class PianoRoll(Widget):
    """A melody drawn as a piano roll that adapts its time scale to the widget's width."""

    DEFAULT_CSS = """
    PianoRoll { height: auto; width: 1fr; }
    """

    def __init__(self, title: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.notes: list[Note] = []
        self.bars: list[float] = []
        self.strains: list[float] = []
        self.step = 0.25
        self.title = title
        self.border_title = title

    def set_notes(self, notes: Sequence[Note], title: str = "", bars: Sequence[float] = (),
                  step: float = 0.25, strains: Sequence[float] = ()) -> None:
        """Show a melody: `notes` in beats, `step` the beats of one encoding step, `strains` where a
        whole tune's strains start."""
        self.notes, self.bars, self.step, self.title = list(notes), list(bars), step, title
        self.strains = list(strains)
        self.border_title = title
        self._set_scale(self.grid())
        self.refresh(layout=True)

    def grid(self) -> RollGrid:
        """The roll at the current width (what `render` draws)."""
        return piano_roll(self.notes, self.content_size.width or 80, self.step, self.bars, self.strains)

    def plain_lines(self) -> list[str]:
        return self.grid().lines

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if not self.notes:
            return 1
        return max(n.pitch for n in self.notes) - min(n.pitch for n in self.notes) + 1

    def on_resize(self) -> None:
        self._set_scale(self.grid())

    def _set_scale(self, grid: RollGrid) -> None:
        """Say in the bottom border how much time a column covers, and whether the roll is cropped."""
        if not self.notes:
            self.border_subtitle = ""
            return
        if self.step == 0.25:
            scale = f"1 column = {grid.beats_per_column * 4:g}/16 note"
        else:
            scale = f"1 column = {grid.beats_per_column:g} beats"
        self.border_subtitle = scale + (" (cropped)" if grid.cropped else "")

    def render(self) -> Text:
        grid = self.grid()
        text = Text(no_wrap=True, overflow="crop")
        for index, line in enumerate(grid.lines):
            if index:
                text.append("\n")
            text.append(line)
        text.highlight_regex(f"[{ONSET}]", "bold magenta")
        text.highlight_regex(f"[{SUSTAIN}]+", "magenta")
        text.highlight_regex(f"[{BAR_LINE}{GUIDE}]", "dim")
        text.highlight_regex(STRAIN_LINE, "bold cyan")
        return text


# --- tables ------------------------------------------------------------------------------------

Cell = str | Text


@dataclass(frozen=True)
class FitColumn:
    """A FitTable column: its key, heading and short heading (used where the table is short of
    room), whether it is a label that may be shortened (the others, numbers, never are), and
    whether its heading stands on the right (over right-aligned numbers)."""

    key: str
    heading: str
    short: str = ""
    flexible: bool = False
    right: bool = False


def fit_widths(natural: Sequence[int], flexible: Sequence[bool], room: int, least: int = 4) -> list[int]:
    """Column widths within `room` cells: fixed columns keep their natural width, the flexible
    ones share what is left, the widest shortened first and none below `least` (or its natural
    width); the result may exceed `room` when even that does not fit."""
    left = room - sum(width for width, flex in zip(natural, flexible) if not flex)
    wanted = sorted(width for width, flex in zip(natural, flexible) if flex)
    cap = max(wanted, default=0)
    while cap > least and sum(min(width, cap) for width in wanted) > left:
        cap -= 1
    return [min(width, max(cap, min(least, width))) if flex else width for width, flex in zip(natural, flexible)]


def shorten(cell: Cell, width: int) -> Text:
    """The cell cut to `width` cells with an ellipsis where it is longer."""
    text = cell.copy() if isinstance(cell, Text) else Text(cell)
    text.truncate(width, overflow="ellipsis")
    return text


class FitTable(DataTable):
    """A row table that fits its width: where the full table is too wide it first takes the short
    headings, then shortens its label columns (names, titles) with "…"; numbers are never cut.
    It lays itself out again when resized, keeping the rows, the cursor and updated cells."""

    def __init__(self, columns: Sequence[FitColumn], *, id: str | None = None, **options) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id, **options)
        self.fit_columns = list(columns)
        self.fit_rows: dict[str, list[Cell]] = {}
        self._fitted: tuple = ()

    def on_mount(self) -> None:
        self._lay_out(force=True)

    def set_rows(self, rows: Sequence[tuple[str, Sequence[Cell]]], cursor: str | None = None) -> None:
        """Show these (key, cells) rows, the cursor on the row `cursor` (else the same row as before)."""
        keep = cursor if cursor is not None else self.cursor_key()
        self.fit_rows = {key: list(cells) for key, cells in rows}
        self._lay_out(force=True, cursor=keep)

    def cursor_key(self) -> str | None:
        """The key of the row under the cursor (None when the table is empty)."""
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def update_cell(self, row_key, column_key, value, *, update_width: bool = False) -> None:
        """Change one cell, kept when the table is laid out again."""
        row, column = str(getattr(row_key, "value", row_key)), str(getattr(column_key, "value", column_key))
        keys = [c.key for c in self.fit_columns]
        if row not in self.fit_rows or column not in keys:
            raise CellDoesNotExist(f"no cell at row {row!r}, column {column!r}")
        self.fit_rows[row][keys.index(column)] = value
        self._lay_out(cursor=self.cursor_key(), changed=(row, column, value))

    def on_resize(self) -> None:
        self._lay_out(cursor=self.cursor_key())

    def _lay_out(self, force: bool = False, cursor: str | None = None,
                 changed: tuple[str, str, Cell] | None = None) -> None:
        """Rebuild the columns and rows when the widths or the data changed (else, one changed cell)."""
        scrollbar = self.styles.scrollbar_size_vertical if len(self.fit_rows) + self.header_height > self.size.height else 0
        headings, widths = self._plan(self.size.width - scrollbar if self.size.width else 0)
        layout = (tuple(headings), tuple(widths))
        if not force and layout == self._fitted:
            if changed is not None:
                row, column, value = changed
                index = [c.key for c in self.fit_columns].index(column)
                super().update_cell(row, column, shorten(value, widths[index]) if self.fit_columns[index].flexible
                                    else value, update_width=True)
            return
        self._fitted = layout
        self.clear(columns=True)
        for column, heading in zip(self.fit_columns, headings):
            self.add_column(Text(heading, justify="right" if column.right else "left"), key=column.key)
        for key, cells in self.fit_rows.items():
            self.add_row(*(shorten(cell, width) if column.flexible else cell
                           for column, cell, width in zip(self.fit_columns, cells, widths)), key=key)
        keys = list(self.fit_rows)
        if keys:
            self.move_cursor(row=keys.index(cursor) if cursor in keys else 0)

    def _plan(self, room: int) -> tuple[list[str], list[int]]:
        """The headings and widths that fit `room` cells (all natural widths before the first layout)."""
        padding = 2 * self.cell_padding * len(self.fit_columns)
        for short in (False, True):
            headings = [(column.short or column.heading) if short else column.heading for column in self.fit_columns]
            natural = [max([cell_len(heading)] + [_cell_width(cells[index]) for cells in self.fit_rows.values()])
                       for index, heading in enumerate(headings)]
            if room <= 0 or sum(natural) + padding <= room:
                return headings, natural
        flexible = [column.flexible for column in self.fit_columns]  # the short headings did not do
        least = max([4] + [cell_len(heading) for heading, flex in zip(headings, flexible) if flex])
        return headings, fit_widths(natural, flexible, room - padding, least)


def damaged_cell(name: str, reason: str) -> Text:
    """A table row's label for a corpus or run whose file is damaged: its name and why, in red."""
    return Text.assemble(name, "  ", ("damaged: " + reason, "red"))


def _cell_width(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


# --- forms -------------------------------------------------------------------------------------


class FormSelect(Select):
    """A form's drop-down that keeps letters from the pane's and the app's one-letter bindings
    while it has the focus, as an Input keeps every typed character: typing "nott" on it never
    jumps to the table on `t`. Its own keys (space, enter, arrows) open it; digits and
    punctuation still reach the app (1-4 switch tabs, ? opens the help)."""

    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        return character is not None and character.isalpha()


class FieldLabel(Static):
    """A form field's label that gives its short form where its width leaves no space after the full
    one (the narrow layout abbreviates labels so that the fields keep room for their values)."""

    def __init__(self, text: str, short: str = "", *, classes: str | None = None) -> None:
        super().__init__(classes=classes, markup=False)
        self.text, self.short = text, short or text

    def render(self) -> str:
        return self.text if len(self.text) < self.size.width else self.short


class PaneForm(Vertical):
    """A pane's form: its button, or Enter in a field, posts `Submitted` with the form's values
    (`request()`); escape posts `Left` (the pane moves the focus back to its main widget). A form
    may name its escape in BINDINGS ("Back to table"); by default it stays out of the footer."""

    BINDINGS = [Binding("escape", "leave", "Leave the form", show=False)]

    class Submitted(Message):
        def __init__(self, form: PaneForm, request: object) -> None:
            super().__init__()
            self.form, self.request = form, request

        @property
        def control(self) -> PaneForm:
            """The form, so that `@on(PaneForm.Submitted, "#id")` picks one of several forms."""
            return self.form

    class Left(Message):
        """The user left the form (escape)."""

    def request(self) -> object:
        """The form's current values, as the pane reads them."""
        raise NotImplementedError

    def submit(self) -> None:
        self.post_message(self.Submitted(self, self.request()))

    @on(Button.Pressed)
    @on(Input.Submitted)
    def _submitted(self, event: Message) -> None:
        event.stop()
        self.submit()

    def action_leave(self) -> None:
        self.post_message(self.Left())


# --- progress ----------------------------------------------------------------------------------


class TaskCancelled(SeqganError):
    """Raised inside long work when its worker was cancelled (the app is closing)."""


class TaskProgress(Vertical):
    """A status line and a progress bar, driven from any thread through `reporter()`.

    The reporter posts typed messages (thread-safe), so core code running in a thread worker
    reports progress exactly as it does to the CLI's rich progress bar.
    """

    DEFAULT_CSS = """
    TaskProgress { height: auto; }
    TaskProgress > Label { width: 1fr; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    TaskProgress > ProgressBar { display: none; }
    TaskProgress.-running > ProgressBar { display: block; }
    """

    class Began(Message, bubble=False):
        def __init__(self, task: str, total: int | None) -> None:
            super().__init__()
            self.task, self.total = task, total

    class Advanced(Message, bubble=False):
        def __init__(self, steps: int) -> None:
            super().__init__()
            self.steps = steps

    class Ended(Message, bubble=False):
        pass

    class Noted(Message, bubble=False):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    def __init__(self, idle: str = "idle", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._idle_text = idle
        self._job = ""
        self._job_done = 0
        self._job_total: int | None = None

    def compose(self) -> ComposeResult:
        yield Label(self._idle_text, id="progress-status", markup=False)
        yield ProgressBar(show_eta=False, id="progress-bar")

    @property
    def status(self) -> str:
        """The status line's text."""
        return str(self.query_one("#progress-status", Label).content)

    def set_status(self, text: str) -> None:
        self.query_one("#progress-status", Label).update(text)

    def reporter(self, should_stop: Callable[[], bool] | None = None) -> MessageReporter:
        """A `Reporter` for work in another thread; `should_stop` makes `advance` raise TaskCancelled."""
        return MessageReporter(self, should_stop)

    def on_task_progress_began(self, message: Began) -> None:
        self._job, self._job_done, self._job_total = message.task, 0, message.total
        self.add_class("-running")
        self.query_one(ProgressBar).update(total=message.total, progress=0)
        self._show_count()

    def on_task_progress_advanced(self, message: Advanced) -> None:
        self._job_done += message.steps
        self.query_one(ProgressBar).advance(message.steps)
        self._show_count()

    def on_task_progress_ended(self, message: Ended) -> None:
        bar = self.query_one(ProgressBar)
        if bar.total is not None:
            bar.update(progress=bar.total)

    def on_task_progress_noted(self, message: Noted) -> None:
        self.set_status(message.text)

    def _show_count(self) -> None:
        count = f" {self._job_done}/{self._job_total}" if self._job_total is not None else f" {self._job_done}"
        self.set_status(f"{self._job}{count}")


class MessageReporter:
    """A `seqgan_music.progress.Reporter` that posts `TaskProgress` messages (safe from threads)."""

    def __init__(self, target: TaskProgress, should_stop: Callable[[], bool] | None = None) -> None:
        self._target = target
        self._should_stop = should_stop or (lambda: False)

    def begin(self, task: str, total: int | None = None) -> None:
        self._check()
        self._target.post_message(TaskProgress.Began(task, total))

    def advance(self, steps: int = 1) -> None:
        self._check()
        self._target.post_message(TaskProgress.Advanced(steps))

    def end(self) -> None:
        self._target.post_message(TaskProgress.Ended())

    def note(self, message: str) -> None:
        self._target.post_message(TaskProgress.Noted(message))

    def _check(self) -> None:
        if self._should_stop():
            raise TaskCancelled("stopped before the end: nothing was written")
