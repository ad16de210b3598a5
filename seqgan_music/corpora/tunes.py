"""A whole tune as one token sequence: a header the model is conditioned on, parts and repeats.

Windows of 64 steps teach a model bars, never tunes. A `Tune` is the notated form of a folk
tune (one pass through it, repeats written as signs, as a musician reads it), and
`Tune.symbols()` writes it as one sequence of grid16 tokens:

    meter=6/8 mode=dorian type=jig  PART [pickup] BAR s s ... BAR s ... REPEAT  PART BAR ... REPEAT <end>

- the header: exactly `meter=N/D`, `mode=M` (major, minor, dorian, mixolydian) and `type=T` (a tune
  type of `corpora.form.TUNE_TYPES`, `unknown` when the source does not say), in this order;
- `PART` opens a strain; the first strain holds the pickup (the steps before its first bar line);
- `BAR` before the first step of every bar, and the grid16 step tokens (pitches, HOLD, REST);
- `REPEAT` after a strain that is played twice (ABC `:|`); a strain whose second playing ends
  differently is `PART ... ENDING1 BAR ... REPEAT ENDING2 BAR ...` (ABC `|: ... |1 ... :|2 ... |`):
  the bars before ENDING1 are played both times, ENDING1's the first time, ENDING2's the second.

`parse_tune_symbols` reads any token sequence back, including a malformed generated one, and never
raises: the model's mistakes become a playable tune, as `Grid16.decode` does for windows.
`Tune.melody()` plays it out (repeats expanded) or reads it as notated, for MIDI and the metrics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from seqgan_music.corpora.encodings import BAR, HOLD, REST, Grid16, token_pitch
from seqgan_music.corpora.form import (
    FOLK_MODES,
    TUNE_TYPES,
    Bar,
    Part,
    detect_form,
    mode_of,
    tune_type_from_name,
    tune_type_from_rhythm,
)
from seqgan_music.corpora.melody import Melody, meter_length_in_beats, parse_meter
from seqgan_music.corpora.vocabulary import END, PAD, Vocabulary

PART, REPEAT, ENDING1, ENDING2 = "PART", "REPEAT", "ENDING1", "ENDING2"
STRUCTURE_TOKENS = (PART, REPEAT, ENDING1, ENDING2)
HEADER_FIELDS = ("meter", "mode", "type")
MAX_TUNE_BARS = 64  # notated bars; a longer tune is cut at a part boundary
UNKNOWN_TYPE = "unknown"
STEPS_PER_BEAT = Grid16.steps_per_beat


@dataclass(frozen=True)
class TuneHeader:
    """What a tune is conditioned on: its meter, mode and type."""

    meter: str = "4/4"
    mode: str = "major"
    type: str = UNKNOWN_TYPE

    def symbols(self) -> list[str]:
        return [f"meter={self.meter}", f"mode={self.mode}", f"type={self.type}"]

    @property
    def bar_steps(self) -> int:
        """Sixteenth steps in one bar of the meter."""
        return max(1, round(meter_length_in_beats(self.meter) * STEPS_PER_BEAT))


@dataclass
class TunePart:
    """One strain as notated: its bars (each a list of step tokens), whether it is played twice,
    and the bars of its first and second endings when its second playing ends differently."""

    bars: list[list[str]]
    repeated: bool = False
    first_ending: list[list[str]] = field(default_factory=list)
    second_ending: list[list[str]] = field(default_factory=list)

    def played_bars(self, pickup: Sequence[str] = (), bar_steps: int = 0) -> list[list[str]]:
        """The bars as played. A `pickup` that opens this strain is played again before its
        repeat, at the end of the first pass's closing bar, when that bar is written short to
        leave room for it (as scores write it); a full closing bar already holds it."""
        once = self.bars + self.first_ending
        if not self.repeated:
            return once
        if pickup and once and len(once[-1]) + len(pickup) <= bar_steps:
            once = [*once[:-1], [*once[-1], *pickup]]
        return once + self.bars + self.second_ending

    def notated_bars(self) -> list[list[str]]:
        return self.bars + self.first_ending + self.second_ending


@dataclass
class Tune:
    """A whole tune: header, the pickup's steps, and its parts in notated order."""

    header: TuneHeader
    parts: list[TunePart]
    pickup: list[str] = field(default_factory=list)

    def symbols(self) -> list[str]:
        """The tune's token sequence (see the module docstring), without the end token."""
        symbols = self.header.symbols()
        if not self.parts and self.pickup:
            symbols += [PART, *self.pickup]
        for index, part in enumerate(self.parts):
            symbols.append(PART)
            if index == 0:
                symbols.extend(self.pickup)
            symbols.extend(_bar_symbols(part.bars))
            if part.first_ending or part.second_ending:
                symbols += [ENDING1, *_bar_symbols(part.first_ending), REPEAT, ENDING2,
                            *_bar_symbols(part.second_ending)]
            elif part.repeated:
                symbols.append(REPEAT)
        return symbols

    def notated_bars(self) -> list[list[str]]:
        """One pass as written: each bar once, endings one after the other."""
        return [bar for part in self.parts for bar in part.notated_bars()]

    def played_bars(self) -> list[list[str]]:
        """The bars as played: repeated strains twice, each ending in its turn, the pickup again
        before the first strain's repeat (see `TunePart.played_bars`)."""
        bars: list[list[str]] = []
        for index, part in enumerate(self.parts):
            pickup = self.pickup if index == 0 else ()
            bars += part.played_bars(pickup, self.header.bar_steps)
        return bars

    def melody(self, played: bool = True, metadata: dict | None = None) -> Melody:
        """The tune as a melody, repeats played out (`played`) or as notated with its repeat signs
        in `Melody.repeat_marks`; `metadata` as for `Grid16.decode` (key, tempo, title), the meter
        always the header's."""
        bars = self.played_bars() if played else self.notated_bars()
        symbols = list(self.pickup) + _bar_symbols(bars)
        melody = Grid16(transpose=False).decode(symbols, {**(metadata or {}), "meter": self.header.meter})
        if not played:
            melody.repeat_marks = self.repeat_marks()[:len(melody.bars)]
        return melody

    def repeat_marks(self) -> list[tuple[bool, bool, int]]:
        """Per notated bar, as `Melody.repeat_marks`: (start repeat, end repeat, ending 0/1/2)."""
        marks: list[tuple[bool, bool, int]] = []
        for part in self.parts:
            first = len(marks)
            marks += [(False, False, 0)] * len(part.bars)
            marks += [(False, False, 1)] * len(part.first_ending)
            closing = len(marks) - 1
            marks += [(False, False, 2)] * len(part.second_ending)
            if part.repeated and closing >= first:
                marks[first] = (True, *marks[first][1:])
                marks[closing] = (marks[closing][0], True, marks[closing][2])
        return marks

    def form_letters(self) -> str:
        """The form as a musician names it, e.g. "AABB": a letter per strain played, equal strains
        (the same bars) sharing their letter."""
        letters: list[str] = []
        seen: list[list[list[str]]] = []
        for part in self.parts:
            if part.bars in seen:
                letter = letters_for(seen.index(part.bars))
            else:
                seen.append(part.bars)
                letter = letters_for(len(seen) - 1)
            letters.append(letter * (2 if part.repeated else 1))
        return "".join(letters)


def letters_for(index: int) -> str:
    return chr(ord("A") + index) if index < 26 else f"P{index}"


def _bar_symbols(bars: Sequence[Sequence[str]]) -> list[str]:
    return [symbol for bar in bars for symbol in (BAR, *bar)]


# --- reading a token sequence back -----------------------------------------------------------


def parse_tune_symbols(symbols: Sequence[str], meter: str = "4/4") -> Tune:
    """Any token sequence -> a Tune; never raises.

    Header tokens are read wherever they stand before the first step (missing ones take `meter`,
    major and unknown); structure tokens out of place are repaired: ENDING2 without REPEAT marks
    the strain repeated, a REPEAT inside the endings closes the first ending, bars after a
    REPEAT with no PART before them open a new strain. Pads and header tokens inside the body
    are ignored; `<end>` stops.
    """
    fields = {"meter": meter, "mode": "major", "type": UNKNOWN_TYPE}
    reader = _TuneReader()
    in_header = True
    for symbol in symbols:
        if symbol == END:
            break
        if symbol == PAD:
            continue
        name, sign, value = symbol.partition("=")
        if sign:
            if in_header and name in fields and _valid_field(name, value):
                fields[name] = value
            continue
        in_header = False
        reader.read(symbol)
    header = TuneHeader(fields["meter"], fields["mode"], fields["type"])
    return Tune(header, reader.finish(), reader.pickup)


def _valid_field(name: str, value: str) -> bool:
    if name == "meter":
        try:
            parse_meter(value)
        except ValueError:
            return False
        return True
    return value in (FOLK_MODES if name == "mode" else TUNE_TYPES)


class _TuneReader:
    """The state of `parse_tune_symbols` between tokens."""

    def __init__(self) -> None:
        self.pickup: list[str] = []
        self.parts: list[TunePart] = []
        self.section = "bars"  # "bars", "first_ending" or "second_ending" of the open part
        self.open_part: TunePart | None = None
        self.closed = False  # the open part had its REPEAT (and no ENDING2 followed yet)

    def read(self, symbol: str) -> None:
        if symbol == PART:
            self._close()
        elif symbol == REPEAT:
            part = self._part()
            if self.section == "second_ending" or part.repeated and not part.first_ending:
                self._close()
                self._part().repeated = True
            else:
                part.repeated = True
            self.closed = True
        elif symbol == ENDING1:
            if self.closed or self.section == "second_ending":
                self._close()
            self._part()
            self.section = "first_ending"
        elif symbol == ENDING2:
            self._part().repeated = True
            self.section, self.closed = "second_ending", False
        elif symbol == BAR:
            if self.closed:
                self._close()
            self._bars().append([])
        else:
            self._step(symbol)

    def _step(self, symbol: str) -> None:
        if self.closed:
            self._close()
        bars = self._bars()
        if bars:
            bars[-1].append(symbol)
        elif not self.parts and not self.open_part.bars:  # type: ignore[union-attr]
            self.pickup.append(symbol)  # steps before the first bar line of the tune
        else:
            bars.append([symbol])  # a strain that starts without a bar line gets one

    def _part(self) -> TunePart:
        if self.open_part is None:
            self.open_part, self.section = TunePart([]), "bars"
        return self.open_part

    def _bars(self) -> list[list[str]]:
        return getattr(self._part(), self.section)

    def _close(self) -> None:
        if self.open_part is not None and self.open_part.notated_bars():
            self.parts.append(self.open_part)
        elif self.open_part is not None and self.parts and self.open_part.repeated:
            self.parts[-1].repeated = True
        self.open_part, self.section, self.closed = None, "bars", False

    def finish(self) -> list[TunePart]:
        self._close()
        for part in self.parts:
            if (part.first_ending or part.second_ending) and not part.repeated:
                part.repeated = True
        return self.parts


# --- building a tune from a melody -----------------------------------------------------------


def split_bars(symbols: Sequence[str]) -> tuple[list[str], list[list[str]]]:
    """Grid16 symbols -> (the steps before the first BAR, the steps of each bar)."""
    pickup: list[str] = []
    bars: list[list[str]] = []
    for symbol in symbols:
        if symbol == BAR:
            bars.append([])
        elif bars:
            bars[-1].append(symbol)
        else:
            pickup.append(symbol)
    return pickup, bars


def bar_notes(steps: Sequence[str], offset: int = 0) -> Bar:
    """A bar's notes as `corpora.form` compares them: (onset step + offset, pitch) per note."""
    return tuple((offset + index, pitch) for index, symbol in enumerate(steps)
                 if (pitch := token_pitch(symbol)) is not None)


def tune_from_played(symbols: Sequence[str], header: TuneHeader) -> Tune:
    """The notated tune of a played-out one (grid16 symbols with bar lines, as Nottingham's MIDI
    files play repeats out): the parts and repeats `corpora.form.detect_form` finds, one pass."""
    pickup, bars = split_bars(symbols)
    if _has_notes(pickup):
        bars = [pickup, *bars]
        offset = header.bar_steps - len(pickup)
    else:
        offset = 0
    compared = [bar_notes(bar, offset if index == 0 and _has_notes(pickup) else 0) for index, bar in enumerate(bars)]
    form = detect_form(compared)
    first = 1 if form.pickup else 0
    pickup_steps = _strip_leading_rests(bars[0]) if first else []
    one_pass = form.parts[:len(form.form)] if form.form != "free" else form.parts
    parts: list[TunePart] = []
    for index, part in enumerate(one_pass):
        own = [list(bar) for bar in bars[part.start:part.end]]
        if index > 0 and part.repeat_of == index - 1 and parts and not parts[-1].repeated:
            _mark_repeat(parts[-1], own, part)
        else:
            parts.append(TunePart(own))
    return Tune(header, parts, pickup_steps)


def tune_from_written(symbols: Sequence[str], header: TuneHeader, marks: Sequence[tuple[bool, bool, int]]) -> Tune:
    """The tune of a score with written repeats: grid16 symbols with bar lines, and per bar after
    the pickup (start repeat `|:`, end repeat `:|`, ending number 0, 1 or 2). A strain runs from a
    start repeat (or the end of the previous strain) to its end repeat; unrepeated bars between
    strains form strains of their own."""
    pickup, bars = split_bars(symbols)
    parts: list[TunePart] = []
    current = TunePart([])
    for steps, (starts, ends, ending) in zip(bars, marks):
        if starts and current.notated_bars():
            parts.append(current)
            current = TunePart([])
        section = {1: current.first_ending, 2: current.second_ending}.get(ending, current.bars)
        if ending == 0 and current.second_ending:  # the bars after a second ending start a new strain
            parts.append(current)
            current = TunePart([])
            section = current.bars
        section.append(list(steps))
        if ends:
            current.repeated = True
            if ending != 1:
                parts.append(current)
                current = TunePart([])
    if current.notated_bars():
        parts.append(current)
    for part in parts:
        part.repeated = part.repeated or bool(part.second_ending)
    return Tune(header, parts, list(pickup))


def _mark_repeat(first: TunePart, again: list[list[str]], part: Part) -> None:
    """`first` is played again as `again`: a repeat, with endings where the closing bars differ."""
    first.repeated = True
    closing = part.second_ending
    if closing and closing < len(first.bars):
        first.first_ending = first.bars[-closing:]
        first.bars = first.bars[:-closing]
        first.second_ending = again[-closing:]


def capped(tune: Tune, limit: int = MAX_TUNE_BARS) -> Tune:
    """The tune cut to at most `limit` notated bars at a part boundary (inside the first part, when
    that alone is longer, which then loses its repeat)."""
    kept: list[TunePart] = []
    total = 0
    for part in tune.parts:
        size = len(part.notated_bars())
        if total + size > limit:
            break
        kept.append(part)
        total += size
    if not kept and tune.parts:
        kept = [TunePart(tune.parts[0].notated_bars()[:limit])]
    return Tune(tune.header, kept, tune.pickup)


def _has_notes(steps: Sequence[str]) -> bool:
    return any(token_pitch(symbol) is not None for symbol in steps)


def _strip_leading_rests(steps: Sequence[str]) -> list[str]:
    """A pickup written as a full bar with leading rests -> just its notes' steps."""
    for index, symbol in enumerate(steps):
        if symbol not in (REST, HOLD):
            return list(steps[index:])
    return []


def whole_tune(melody: Melody, symbols: Sequence[str]) -> tuple[Tune, int]:
    """The notated tune of `melody`, whose grid16 `symbols` (with bar lines) are given, cut to
    `MAX_TUNE_BARS` (`capped`), and how many notated bars the cut dropped.

    The parts come from the written repeats when the source has them (`Melody.repeat_marks`),
    else they are found in the played form. The header's type comes from the source's rhythm
    field, else its file name or title.
    """
    header = TuneHeader(melody.meter, mode_of(melody), tune_type(melody))
    if melody.repeat_marks is not None:
        tune = tune_from_written(symbols, header, melody.repeat_marks)
    else:
        tune = tune_from_played(symbols, header)
    kept = capped(tune)
    return kept, len(tune.notated_bars()) - len(kept.notated_bars())


def tune_type(melody: Melody) -> str:
    """One of `corpora.form.TUNE_TYPES`: what the rhythm field, the source name or the title says."""
    for found in (tune_type_from_rhythm(melody.rhythm), tune_type_from_name(melody.source),
                  tune_type_from_name(melody.title)):
        if found != UNKNOWN_TYPE:
            return found
    return UNKNOWN_TYPE


def tune_facts(tune: Tune, cut_bars: int) -> dict:
    """What tunes.json records of a whole tune."""
    return {"type": tune.header.type, "mode": tune.header.mode, "form": tune.form_letters(),
            "notated_bars": len(tune.notated_bars()), "played_bars": len(tune.played_bars()), "cut_bars": cut_bars}


def whole_tune_counts(records: Iterable[dict]) -> dict:
    """The manifest's summary of a corpus's whole tunes: how many, how long, which types, modes
    and forms, and how many were cut to `MAX_TUNE_BARS`."""
    counts = WholeTuneCounts()
    for record in records:
        counts.add(record)
    return counts.summary()


class WholeTuneCounts:
    """`whole_tune_counts` fed one tune record at a time, holding counts only (the bar lengths as
    a count of each length, for the median), so a build of any size keeps no list of its tunes."""

    def __init__(self) -> None:
        self.bars: Counter[int] = Counter()
        self.types: Counter[str] = Counter()
        self.modes: Counter[str] = Counter()
        self.forms: Counter[str] = Counter()
        self.cut = 0

    def add(self, record: dict) -> None:
        self.bars[record["notated_bars"]] += 1
        self.types[record["type"]] += 1
        self.modes[record["mode"]] += 1
        self.forms[record["form"]] += 1
        self.cut += bool(record["cut_bars"])

    def summary(self) -> dict:
        tunes = self.bars.total()
        return {
            "tunes": tunes,
            "notated_bars": {"min": min(self.bars), "median": self._median_bars(tunes),
                             "max": max(self.bars)} if tunes else {},
            "types": dict(self.types.most_common()),
            "modes": dict(self.modes.most_common()),
            "forms": dict(self.forms.most_common()),
            "cut": self.cut,
        }

    def _median_bars(self, tunes: int) -> int:
        """The bar count at index tunes // 2 of the sorted lengths (the upper median)."""
        seen = 0
        for bars in sorted(self.bars):
            seen += self.bars[bars]
            if seen > tunes // 2:
                return bars
        raise ValueError("no tunes counted")


def tune_only_tokens(vocabulary: Vocabulary) -> list[int]:
    """The ids of the tokens only whole tunes hold (PART, REPEAT, ENDING1/2, meter=, mode=, type=):
    windows never contain them, so a window model must never write them."""
    return [index for index, symbol in enumerate(vocabulary.tokens)
            if symbol in STRUCTURE_TOKENS or ("=" in symbol and symbol.partition("=")[0] in HEADER_FIELDS)]
