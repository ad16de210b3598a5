"""The form a whole tune is composed in, and the token layout that writes it.

A form is a string of strain letters as musicians name it: "AABB" is strain A played twice, then
strain B played twice; "AABA" plays A again at the end (written out once more); "free" is one
through-composed strain. A whole-tune model (trained on `corpora.tunes` sequences) is handed the
structure: `PART`, bar lines, `REPEAT` and the endings are forced where the form puts them, a
strain played again is copied token for token, and the closing beat of every strain is a cadence
(the last strain on the tonic, the others on a note of the tonic chord). The model writes every
note in between, conditioned on the header and reading, through its lookback inputs, the bars one
bar, two bars and one strain back.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from seqgan_music.composing.continuation import Cadence, Copy
from seqgan_music.corpora.encodings import BAR
from seqgan_music.corpora.melody import parse_meter
from seqgan_music.corpora.tunes import ENDING1, ENDING2, MAX_TUNE_BARS, PART, REPEAT
from seqgan_music.errors import SeqganError
from seqgan_music.export.notation import beat_length, to_grid

FREE = "free"
DEFAULT_FORM = "AABB"
DEFAULT_PART_BARS = 8
NAMED_FORMS = ("AABB", "AB", "AABA", "AABBCC", FREE)  # what --help offers; any letter pattern is taken
MAX_STRAINS = 12
MAJOR_LIKE_MODES = ("major", "mixolydian")

LayoutSlot = str | None | Copy | Cadence  # a token forced by name, sampled, copied or a cadence step


@dataclass(frozen=True)
class Strain:
    """One strain of the form: its letter, whether it is played twice (a repeat sign), and the
    earlier strain it plays again (its index), if any."""

    letter: str
    repeated: bool
    copy_of: int | None = None


def parse_form(text: str) -> list[Strain]:
    """'AABB' -> A twice, B twice; 'AABA' -> A twice, B, A again; 'free' -> one strain.

    Letters run A, B, C... in order of first appearance; a strain is played once or twice in a row.
    """
    form = text.strip()
    if form.lower() == FREE:
        return [Strain("A", False)]
    if not form or not form.isalpha() or not form.isupper() or not form.isascii():
        raise SeqganError(f"invalid --form {text!r}: give strain letters such as AABB, AB, AABA, AABBCC, or free")
    strains: list[Strain] = []
    first_seen: dict[str, int] = {}
    for letter, group in itertools.groupby(form):
        times = len(list(group))
        if times > 2:
            raise SeqganError(f"invalid --form {text!r}: a strain is played once or twice in a row, not {times} "
                              f"times ({letter * times})")
        if letter not in first_seen and letter != chr(ord("A") + len(first_seen)):
            raise SeqganError(f"invalid --form {text!r}: name strains A, B, C... in the order they first come "
                              f"(expected {chr(ord('A') + len(first_seen))} where {letter} is)")
        strains.append(Strain(letter, times == 2, first_seen.get(letter)))
        first_seen.setdefault(letter, len(strains) - 1)
    if len(strains) > MAX_STRAINS:
        raise SeqganError(f"invalid --form {text!r}: at most {MAX_STRAINS} strains")
    return strains


def written_out(strains: Sequence[Strain]) -> list[Strain]:
    """The same strains played in the same order with no repeat signs: a repeated strain becomes the
    strain and a copy of it, for a model whose corpus never wrote a repeat sign (tunes read from
    played-out MIDI files), which has no token to write one with."""
    result: list[Strain] = []
    first_of: dict[int, int] = {}  # the strain's index in `strains` -> where it starts in `result`
    for index, strain in enumerate(strains):
        source = None if strain.copy_of is None else first_of[strain.copy_of]
        first_of[index] = len(result)
        result.append(Strain(strain.letter, False, source))
        if strain.repeated:
            result.append(Strain(strain.letter, False, first_of[index] if source is None else source))
    return result


def form_name(strains: Sequence[Strain]) -> str:
    """The letters as played, e.g. "AABB"."""
    return "".join(strain.letter * (2 if strain.repeated else 1) for strain in strains)


def closing_beat_steps(meter: str) -> int:
    """Sixteenths in a bar's last beat (a dotted quarter in 6/8, a quarter in 4/4): the cadence's span."""
    numerator, denominator = parse_meter(meter)
    bar = to_grid(numerator * 4 / denominator)
    return max(1, min(bar, to_grid(beat_length(meter))))


def cadence_degrees(mode: str, final: bool) -> tuple[int, ...]:
    """The tonic for the tune's last strain; a note of the tonic chord (root, third, fifth) for the others."""
    if final:
        return (0,)
    return (0, 4 if mode in MAJOR_LIKE_MODES else 3, 7)


@dataclass(frozen=True)
class TunePlan:
    """Everything the layout needs: the strains, bars per strain, the meter's bar and closing beat
    in steps, first and second endings on repeated strains, and the mode (for the cadences)."""

    strains: list[Strain]
    part_bars: int
    bar_steps: int
    beat_steps: int
    mode: str
    endings: bool = False
    length_option: str = "--part-bars"  # the option that gave part_bars (--bars for a free tune), for messages

    def notated_bars(self) -> int:
        """Bars as written: a repeated strain with endings writes one bar more (its second ending)."""
        return sum(self.part_bars + (1 if strain.repeated and self.endings else 0) for strain in self.strains)


def check_plan(plan: TunePlan) -> None:
    if not 1 <= plan.part_bars <= MAX_TUNE_BARS:
        raise SeqganError(f"{plan.length_option} must be 1-{MAX_TUNE_BARS} on a whole-tune model, got {plan.part_bars}")
    if plan.endings and plan.part_bars < 2 and any(strain.repeated for strain in plan.strains):
        raise SeqganError("--endings needs strains of at least 2 bars (--part-bars 2 or more)")
    if plan.notated_bars() > MAX_TUNE_BARS:
        raise SeqganError(f"--form {form_name(plan.strains)} with --part-bars {plan.part_bars} writes "
                          f"{plan.notated_bars()} bars; whole-tune models know tunes of at most {MAX_TUNE_BARS}: "
                          "give fewer strains or shorter ones")


@dataclass
class _Written:
    """Where one strain's tokens went: its first token after PART, whether it is played twice, its
    bars (positions of each bar's tokens, BAR first) before the endings, and its endings' bars."""

    start: int
    repeated: bool = False
    bars: list[list[int]] = field(default_factory=list)
    first_ending: list[list[int]] = field(default_factory=list)
    second_ending: list[list[int]] = field(default_factory=list)
    end: int = 0  # one past its last token


class _LayoutWriter:
    def __init__(self, plan: TunePlan, prefix: Sequence[str]) -> None:
        self.plan = plan
        self.position = len(prefix)
        self.slots: list[LayoutSlot] = []
        self.strains: list[_Written] = []
        self.last_letter = plan.strains[-1].letter

    def emit(self, slot: LayoutSlot) -> int:
        self.slots.append(slot)
        self.position += 1
        return self.position - 1

    def bar(self, degrees: tuple[int, ...] | None, start_step: int = 0, opened: list[int] | None = None) -> list[int]:
        """One bar (its BAR unless `opened` holds the positions already written), steps from
        `start_step`; `degrees`: the bar closes the strain on them (a cadence on its last beat)."""
        positions = list(opened) if opened is not None else [self.emit(BAR)]
        zone = self.plan.bar_steps - self.plan.beat_steps
        for step in range(start_step, self.plan.bar_steps):
            if degrees is None or step < zone:
                positions.append(self.emit(None))
            else:
                positions.append(self.emit(Cadence(degrees, onset=step == max(zone, start_step))))
        return positions

    def copy(self, positions: Sequence[int]) -> list[int]:
        return [self.emit(Copy(position)) for position in positions]


def tune_layout(plan: TunePlan, prefix: Sequence[str]) -> list[LayoutSlot]:
    """The slots after `prefix` (the header, the first PART and the primer's symbols, if any)
    that write the planned tune. The primer's bars count as the first strain's opening bars."""
    check_plan(plan)
    writer = _LayoutWriter(plan, prefix)
    for index, strain in enumerate(plan.strains):
        if index == 0:
            written = _first_strain_opening(writer, prefix)
        else:
            writer.emit(PART)
            written = _Written(writer.position)
        final = strain.letter == writer.last_letter
        if strain.copy_of is not None:
            _write_copy(writer, written, writer.strains[strain.copy_of], strain.repeated)
        else:
            _write_new(writer, written, strain.repeated, final)
        written.repeated, written.end = strain.repeated, writer.position
        writer.strains.append(written)
    return writer.slots


def _first_strain_opening(writer: _LayoutWriter, prefix: Sequence[str]) -> _Written:
    """The first strain as far as the prefix writes it (after its PART): the primer's full bars, and
    its last bar completed here when the primer stops inside it."""
    part = max((i for i, symbol in enumerate(prefix) if symbol == PART), default=None)
    if part is None:
        raise ValueError("the prefix of a whole tune ends with its header and the first PART")
    bars: list[list[int]] = []
    for position in range(part + 1, len(prefix)):
        if prefix[position] == BAR:
            bars.append([position])
        elif bars:
            bars[-1].append(position)
    written = _Written(bars[0][0] if bars else len(prefix))  # a copy of the strain leaves its pickup out
    plan = writer.plan
    opened = len(bars)
    partial = bool(bars) and len(bars[-1]) - 1 < plan.bar_steps
    if opened > plan.part_bars or (opened == plan.part_bars and not partial):
        raise SeqganError(f"the primer's opening ({opened} bars) fills the first strain of {plan.length_option} "
                          f"{plan.part_bars}: give fewer --primer-bars or more {plan.length_option}")
    written.bars = bars
    return written


def _write_new(writer: _LayoutWriter, written: _Written, repeated: bool, final: bool) -> None:
    plan = writer.plan
    with_endings = repeated and plan.endings
    common = plan.part_bars - 1 if with_endings else plan.part_bars
    closing = cadence_degrees(plan.mode, final)
    if written.bars:  # a primer opened this strain: complete its last bar
        last = written.bars[-1]
        steps = len(last) - 1
        if steps < plan.bar_steps:
            written.bars[-1] = writer.bar(closing if len(written.bars) == common else None, steps, last)
    while len(written.bars) < common:
        written.bars.append(writer.bar(closing if len(written.bars) == common - 1 and not with_endings else None))
    if with_endings:
        writer.emit(ENDING1)
        written.first_ending = [writer.bar(cadence_degrees(plan.mode, final=False))]
        writer.emit(REPEAT)
        writer.emit(ENDING2)
        written.second_ending = [writer.bar(closing)]
    elif repeated:
        writer.emit(REPEAT)


def _write_copy(writer: _LayoutWriter, written: _Written, source: _Written, repeated: bool) -> None:
    """The source strain again: token for token when it is played as many times (its repeat and
    endings included), else its bars as heard last (the second ending), repeated if asked."""
    if repeated == source.repeated:
        writer.copy(range(source.start, source.end))
        return
    bars = source.bars + (source.second_ending or source.first_ending)
    for bar in bars:
        written.bars.append(writer.copy(bar))
    if repeated:
        writer.emit(REPEAT)
