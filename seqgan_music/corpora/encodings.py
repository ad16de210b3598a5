"""Encodings: how a melody or a line becomes token strings, and how any token string sequence
(including a malformed generated one) becomes a melody or a line again.

- `grid16`: one token per sixteenth-note step (a pitch name for a note-on, HOLD, REST) plus a BAR
  token before the first step of every bar.
- `paper`: the SeqGAN paper's protocol, the sounding pitch every 0.4 s as one of the 88 piano keys
  or REST.
- `symbols`: text, oracle and grammar tokens, joined back with a separator.
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from seqgan_music.corpora.melody import Key, Melody, Note, meter_length_in_beats
from seqgan_music.corpora.vocabulary import END, PAD
from seqgan_music.errors import SeqganError

BAR, HOLD, REST = "BAR", "HOLD", "REST"
_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_PITCH_PATTERN = re.compile(r"^([A-G]#?)(-?\d+)$")
LOWEST_PIANO_KEY, HIGHEST_PIANO_KEY = 21, 108


def pitch_token(pitch: int) -> str:
    """MIDI pitch -> token name, e.g. 61 -> 'C#4'."""
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


def token_pitch(token: str) -> int | None:
    """Token name -> MIDI pitch, or None when the token is not a pitch."""
    match = _PITCH_PATTERN.match(token)
    if not match:
        return None
    pitch = _NAMES.index(match.group(1)) + 12 * (int(match.group(2)) + 1)
    return pitch if 0 <= pitch <= 127 else None


@dataclass
class EncodedTune:
    """A tune as token strings, where windows may start, and what snapping changed."""

    symbols: list[str]
    window_starts: list[int] | None  # None: a window may start anywhere
    off_grid_notes: int = 0  # notes whose start or end was snapped to the grid
    dropped_notes: int = 0  # notes lost because another note snapped onto the same step


class Encoding(ABC):
    """Turns sources into token strings and back; `params()` is what the manifest records."""

    name: ClassVar[str]

    def params(self) -> dict:
        return {"name": self.name, **asdict(self)}  # type: ignore[call-overload]

    @property
    def pads_tail(self) -> bool:
        """Whether the last window of a tune ends with an end token and padding."""
        return True


@dataclass
class MusicEncoding(Encoding):
    """A music encoding with its windowing and transposition settings."""

    length: int = 64
    stride: int = 64
    transpose: bool = True

    @abstractmethod
    def encode(self, melody: Melody) -> EncodedTune: ...

    @abstractmethod
    def decode(self, symbols: Sequence[str], metadata: dict | None = None) -> Melody: ...

    @property
    @abstractmethod
    def fixed_tokens(self) -> tuple[str, ...]:
        """Tokens every vocabulary of this encoding holds, in order, after the specials."""


@dataclass
class Grid16(MusicEncoding):
    """Sixteenth-note grid; BAR tokens mark bar lines and are where windows start."""

    name: ClassVar[str] = "grid16"
    steps_per_beat: ClassVar[int] = 4

    @property
    def fixed_tokens(self) -> tuple[str, ...]:
        return (BAR, HOLD, REST)

    def encode(self, melody: Melody) -> EncodedTune:
        steps: dict[int, tuple[int, int]] = {}  # start step -> (pitch, end step)
        off_grid = dropped = 0
        for note in melody.notes:
            start, end = self._step(note.start), self._step(note.end)
            if not (self._on_grid(note.start) and self._on_grid(note.end)):
                off_grid += 1
            if start in steps:
                dropped += 1
                continue
            steps[start] = (note.pitch, max(end, start + 1))
        starts = sorted(steps)
        clipped_ends = {s: steps[s][1] for s in starts}
        for start, next_start in zip(starts, starts[1:]):
            clipped_ends[start] = min(clipped_ends[start], next_start)
        total = max(clipped_ends.values(), default=0)
        bar_steps = {self._step(b) for b in melody.bars}
        symbols: list[str] = []
        bar_positions: list[int] = []
        sounding_until = 0
        for step in range(total):
            if step in bar_steps:
                bar_positions.append(len(symbols))
                symbols.append(BAR)
            if step in steps:
                sounding_until = clipped_ends[step]
                symbols.append(pitch_token(steps[step][0]))
            else:
                symbols.append(HOLD if step < sounding_until else REST)
        return EncodedTune(symbols, bar_positions or [0], off_grid, dropped)

    def decode(self, symbols: Sequence[str], metadata: dict | None = None) -> Melody:
        notes: list[Note] = []
        bars: list[float] = []
        step = 0
        current: tuple[int, int] | None = None  # (pitch, start step) of the sounding note

        def close() -> None:
            if current is not None:
                notes.append(Note(current[0], current[1] / 4, step / 4))

        for symbol in symbols:
            if symbol == END:
                break
            if symbol == PAD:
                continue
            if symbol == BAR:
                if not bars or bars[-1] != step / 4:
                    bars.append(step / 4)
                continue
            pitch = token_pitch(symbol)
            if pitch is not None:
                close()
                current = (pitch, step)
            elif symbol != HOLD or current is None:  # REST, unknown, or a HOLD with nothing to hold
                close()
                current = None
            step += 1
        close()
        return _melody_with_metadata(notes, bars, metadata, default_meter=_meter_from_bars(bars))

    def _step(self, beat: float) -> int:
        return int(round(beat * self.steps_per_beat))

    def _on_grid(self, beat: float) -> bool:
        return abs(beat * self.steps_per_beat - round(beat * self.steps_per_beat)) < 1e-6


@dataclass
class PaperEncoding(MusicEncoding):
    """The SeqGAN paper's music protocol: the sounding piano key (or REST) every 0.4 s."""

    name: ClassVar[str] = "paper"
    length: int = 32
    stride: int = 32
    transpose: bool = False
    step_seconds: float = 0.4

    @property
    def fixed_tokens(self) -> tuple[str, ...]:
        return (REST, *(pitch_token(p) for p in range(LOWEST_PIANO_KEY, HIGHEST_PIANO_KEY + 1)))

    @property
    def pads_tail(self) -> bool:
        return False

    def encode(self, melody: Melody) -> EncodedTune:
        notes = melody.notes
        starts = [melody.seconds_at(n.start) for n in notes]
        ends = [melody.seconds_at(n.end) for n in notes]
        total = math.ceil((ends[-1] if ends else 0.0) / self.step_seconds - 1e-9)
        symbols: list[str] = []
        index = 0
        for step in range(total):
            moment = (step + 0.5) * self.step_seconds
            while index + 1 < len(notes) and starts[index + 1] <= moment:
                index += 1
            sounding = notes and starts[index] <= moment < ends[index]
            symbols.append(pitch_token(_fold_to_piano(notes[index].pitch)) if sounding else REST)
        while symbols and symbols[-1] == REST:  # a tune ends with its last note, as decoding does
            symbols.pop()
        return EncodedTune(symbols, None)

    def decode(self, symbols: Sequence[str], metadata: dict | None = None) -> Melody:
        beats_per_step = self.step_seconds * 2.0  # decoded at 120 quarter notes per minute
        notes: list[Note] = []
        step = 0
        for symbol in symbols:
            if symbol == END:
                break
            if symbol == PAD:
                continue
            pitch = token_pitch(symbol)
            if pitch is not None:
                pitch = _fold_to_piano(pitch)
                if notes and notes[-1].pitch == pitch and notes[-1].end == step * beats_per_step:
                    notes[-1] = Note(pitch, notes[-1].start, (step + 1) * beats_per_step)
                else:
                    notes.append(Note(pitch, step * beats_per_step, (step + 1) * beats_per_step))
            step += 1
        metadata = {**(metadata or {}), "tempo": 120.0}
        meter = (metadata.get("meter") or "4/4")
        bars = _regular_bars(meter, step * beats_per_step)
        return _melody_with_metadata(notes, bars, metadata, default_meter=meter)


@dataclass
class SymbolEncoding(Encoding):
    """Text, oracle and grammar tokens: decoding joins them with `separator` up to the end token."""

    name: ClassVar[str] = "symbols"
    separator: str = " "
    length: int = 20
    level: str = "word"  # "word", "punct", "char" or "token"
    extras: dict = field(default_factory=dict)

    def decode(self, symbols: Sequence[str], metadata: dict | None = None) -> str:
        kept: list[str] = []
        for symbol in symbols:
            if symbol == END:
                break
            if symbol != PAD:
                kept.append(symbol)
        return self.separator.join(kept)


def encoding_from_params(params: dict) -> Encoding:
    """Rebuild an encoding from the parameters a manifest recorded."""
    values = {k: v for k, v in params.items() if k != "name"}
    classes: dict[str, type[Encoding]] = {c.name: c for c in (Grid16, PaperEncoding, SymbolEncoding)}
    kind = params.get("name")
    if kind not in classes:
        raise SeqganError(f"unknown encoding {kind!r} in manifest: rebuild the corpus")
    try:
        return classes[kind](**values)
    except TypeError as error:
        raise SeqganError(f"manifest encoding parameters are malformed ({error}): rebuild the corpus") from None


def music_encoding(name: str, length: int | None = None, stride: int | None = None,
                   transpose: bool | None = None) -> MusicEncoding:
    """A music encoding by name, with its defaults where an option is None."""
    if name not in MUSIC_ENCODINGS:
        raise SeqganError(f"unknown encoding {name!r}: choose grid16 or paper")
    encoding = MUSIC_ENCODINGS[name]()
    encoding.length = length if length is not None else encoding.length
    encoding.stride = stride if stride is not None else encoding.length
    if transpose is not None:
        encoding.transpose = transpose
    if encoding.length < 2 or encoding.stride < 1:
        raise SeqganError("window length must be at least 2 and stride at least 1")
    return encoding


MUSIC_ENCODINGS: dict[str, type[MusicEncoding]] = {"grid16": Grid16, "paper": PaperEncoding}


def _fold_to_piano(pitch: int) -> int:
    while pitch < LOWEST_PIANO_KEY:
        pitch += 12
    while pitch > HIGHEST_PIANO_KEY:
        pitch -= 12
    return pitch


def _regular_bars(meter: str, end: float) -> list[float]:
    length = meter_length_in_beats(meter)
    return [i * length for i in range(int(end // length) + (1 if end % length else 0))]


def _meter_from_bars(bars: list[float]) -> str:
    """The meter whose bar length is the most common distance between decoded bar lines."""
    gaps = Counter(round(b - a, 3) for a, b in zip(bars, bars[1:]))
    if not gaps:
        return "4/4"
    beats = gaps.most_common(1)[0][0]
    common = {4.0: "4/4", 3.0: "6/8", 1.5: "3/8", 2.0: "2/4", 4.5: "9/8", 6.0: "6/4", 2.5: "5/8", 5.0: "5/4"}
    if beats in common:
        return common[beats]
    sixteenths = int(round(beats * 4))
    return f"{sixteenths}/16" if 1 <= sixteenths <= 64 else "4/4"


def _melody_with_metadata(notes: list[Note], bars: list[float], metadata: dict | None,
                          default_meter: str) -> Melody:
    metadata = metadata or {}
    key = Key.from_dict(metadata["key"]) if metadata.get("key") else None
    return Melody(
        notes=notes,
        bars=bars,
        meter=metadata.get("meter") or default_meter,
        key=key,
        tempo=float(metadata.get("tempo") or 120.0),
        title=metadata.get("title", ""),
        source=metadata.get("source", ""),
    )
