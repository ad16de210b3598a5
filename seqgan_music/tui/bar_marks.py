"""Marking a span of bars on a tune's piano roll (the Compose pane writes the marked bars again).

`BarSpan` is the marking as a value (a bar cursor and the bar the span was started from), moved by
the arrow keys and tested without a terminal; `MarkedRoll` is the piano roll with the marked bars
drawn on a lit background.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text

from seqgan_music.corpora.melody import Note
from seqgan_music.tui.widgets import PianoRoll, RollGrid

MARKED_STYLE = "on grey30"
MARK_KEYS = "←/→ marks a bar, shift+←/→ more bars"


@dataclass(frozen=True)
class BarSpan:
    """Bars `anchor`..`cursor` (either way round, from 1) of a tune of `count` bars are marked."""

    count: int
    cursor: int
    anchor: int

    @classmethod
    def first_move(cls, count: int, step: int) -> BarSpan:
        """The span after the first arrow key on a tune: its first bar (→) or its last (←)."""
        bar = 1 if step > 0 else count
        return cls(count, bar, bar)

    def moved(self, step: int, extend: bool) -> BarSpan:
        """The cursor one bar on (kept inside the tune); the span grows from the anchor when `extend`,
        else it is the cursor's bar alone."""
        cursor = min(max(self.cursor + step, 1), self.count)
        return BarSpan(self.count, cursor, self.anchor if extend else cursor)

    @property
    def first(self) -> int:
        return min(self.cursor, self.anchor)

    @property
    def last(self) -> int:
        return max(self.cursor, self.anchor)

    @property
    def bars(self) -> str:
        """'bars 5-8' ('bar 5' for one)."""
        return f"bar {self.first}" if self.first == self.last else f"bars {self.first}-{self.last}"

    def describe(self) -> str:
        """'bars 5-8 marked'."""
        return f"{self.bars} marked"


def marked_columns(grid: RollGrid, bars: Sequence[float], end: float, span: BarSpan) -> tuple[int, int]:
    """The text columns [start, stop) of `grid`'s lines that draw the span's bars (bar lines at beats
    `bars`, the tune ending at beat `end`); empty where the roll is cropped before them."""
    begins = bars[span.first - 1]
    ends = bars[span.last] if span.last < len(bars) else end
    width = max((len(line) for line in grid.lines), default=0)

    def column(beat: float) -> int:
        return min(grid.left + int(round((beat - grid.origin) / grid.beats_per_column)), width)

    return column(begins), column(ends)


class MarkedRoll(PianoRoll):
    """A piano roll on which a span of bars can be marked (`mark`): those bars' columns are lit."""

    def __init__(self, title: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(title, id=id, classes=classes)
        self.span: BarSpan | None = None

    def mark(self, span: BarSpan | None) -> None:
        """Light the span's bars (None: none)."""
        self.span = span
        self.refresh()

    def set_notes(self, notes: Sequence[Note], title: str = "", bars: Sequence[float] = (),
                  step: float = 0.25, strains: Sequence[float] = ()) -> None:
        """A new tune drops the marks of the last one."""
        self.span = None
        super().set_notes(notes, title, bars, step, strains)

    def render(self) -> Text:
        text = super().render()
        if self.span is None or not self.notes or self.span.last > len(self.bars):
            return text
        grid = self.grid()
        start, stop = marked_columns(grid, self.bars, max(n.end for n in self.notes), self.span)
        offset = 0
        for line in grid.lines:
            if start < stop:
                text.stylize(MARKED_STYLE, offset + start, offset + stop)
            offset += len(line) + 1
        return text
