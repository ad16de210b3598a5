"""Write a melody as ABC notation (music21 reads ABC but cannot write it).

The tune gets the headers folk musicians expect (X, T, M, L, Q, K, and N: notes when given), bar
lines where the melody has them, notes spelled in its key, ties across bar lines, rests for
silences, an `M:` line before a bar longer than the meter and the tune's meter again after it
(the MIDI and MusicXML exports give every bar of another length its own time signature; ABC
readers take a shorter bar as it is), and optionally quoted chord symbols to play it as a lead
sheet. The unit note is an eighth (`L:1/8`), as in folk collections: the writer works on the
sixteenth grid (grid16 melodies are exact; times off it, the paper encoding's 0.4 s steps, are
rounded to the nearest sixteenth), so every length is a whole number of sixteenths, written `/`
for one and `3/2` for three, and no tune needs a shorter unit.

Short notes are beamed as a folk transcription beams them: notes written together without a space
share a beam, so the notes and rests lying within one beat group (`notation.beam_group`: a dotted
quarter in 6/8, half a bar in a 4/4 reel) are written together and the groups apart (`d2e fed`,
`ABcd efge`). A note that crosses a group boundary stands alone; one crossing a bar line is tied.

A melody with repeat marks is written with its form (`notation.repeat_signs`): `|:` and `:|`,
first and second endings as `|1` and `:|2` (which music21, abcjs and abc2midi all read), a double
bar after a second ending, and each strain on a line of its own (`:|` ends a line and `|:` starts
the next, as folk collections write it). Its last bar ends at `corpora.melody.notated_end`, filled
with a rest where the notes end sooner.

Accidentals are written so that readers agree whether or not they carry an accidental to the end
of its bar (the ABC standard does, music21 does not): every note off the key signature gets its
accidental, and a note back on the signature after an accidental in the same bar gets one too.
Locrian, which music21 does not read, is written as the major key of the same signature with a
`%` comment naming the mode.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seqgan_music.atomic import write_text_atomic
from seqgan_music.corpora.melody import Key, Melody, meter_length_in_beats, notated_end
from seqgan_music.export.chords import Chord
from seqgan_music.export.midi import meter_changes
from seqgan_music.export.notation import (
    NO_SIGNS,
    BarSigns,
    beam_group,
    grid_events,
    key_signature,
    repeat_signs,
    spell,
    spell_pitch,
    to_grid,
)

_MODE_SUFFIX = {"major": "", "minor": "m", "dorian": "Dor", "phrygian": "Phr", "lydian": "Lyd", "mixolydian": "Mix"}
_ACCIDENTAL = {-2: "__", -1: "_", 0: "=", 1: "^", 2: "^^"}


@dataclass(frozen=True)
class _Written:
    """One written note or rest (with its chord symbol and tie) over [start, end) sixteenths."""

    start: int
    end: int
    text: str


def melody_to_abc(melody: Melody, number: int = 1, title: str | None = None,
                  chords: Sequence[Chord] = (), notes: Sequence[str] = ()) -> str:
    """The melody as one ABC tune (headers, then the notes, bars separated by `|`, ending `|]`, or
    `:|` when the last strain repeats).

    `chords` become quoted chord symbols (`"G"`) on the note or rest sounding at each chord's
    start; `notes` become `N:` header lines, one per line of text.
    """
    key = melody.key or Key(0)
    lines = [f"X:{number}", f"T:{title or melody.title or 'Untitled'}",
             *(f"N:{line}" for text in notes for line in text.splitlines()),
             f"M:{melody.meter}", "L:1/8", f"Q:1/4={round(melody.tempo)}", f"K:{abc_key(key)}"]
    if key.mode == "locrian":
        lines.insert(-1, f"% mode: {key.name} (written as its signature's major key)")
    bars = sorted({to_grid(b) for b in melody.bars if to_grid(b) > 0})
    written = _written(melody, key, chords, bars)
    if not written:
        return "\n".join([*lines, f"z{_length(to_grid(meter_length_in_beats(melody.meter)))} |]"]) + "\n"
    return "\n".join([*lines, _body(melody, written, bars)]) + "\n"


def _written(melody: Melody, key: Key, chords: Sequence[Chord], bars: list[int]) -> list[_Written]:
    """The notes and rests to write, cut at bar lines (tied over) and where a chord symbol goes; a
    melody with repeat marks is filled with rests to the end of its last bar."""
    signature = key_signature(key.fifths)
    symbols = {to_grid(chord.start): f'"{chord.symbol(key)}"' for chord in chords}
    breaks = sorted(set(bars) | {start for start in symbols if start > 0})  # where a note is tied over
    written: list[_Written] = []
    altered: dict[str, int] = {}  # letter+octave -> accidental set earlier in this bar
    position = 0
    closing_rest = (to_grid(notated_end(melody)), to_grid(notated_end(melody)), None)
    for start, end, pitch in [*grid_events(melody), closing_rest]:
        for until, sounding in ((start, None), (end, pitch)):  # the rest before the note, then the note
            while until > position:
                stop = min(until, _next_break(breaks, position))
                text = "z" if sounding is None else _note(sounding, signature, altered)
                tie = "-" if sounding is not None and stop < until else ""
                text = symbols.pop(position, "") + text + _length(stop - position) + tie
                written.append(_Written(position, stop, text))
                position = stop
                if position in bars:
                    altered.clear()
    return written


def _body(melody: Melody, written: list[_Written], bars: list[int]) -> str:
    """The written notes joined into ABC: beamed by beat groups, bar lines with their repeat signs,
    a line per strain."""
    signs = repeat_signs(melody)
    bar_length = to_grid(meter_length_in_beats(melody.meter))
    origins = _beat_origins(bars, bar_length, written[-1].end)
    pickup_end = bars[0] if melody.bars and min(to_grid(b) for b in melody.bars) > 0 else 0
    meters = {to_grid(beat): f"{numerator}/{denominator}" for beat, numerator, denominator in meter_changes(melody)}
    meter = melody.meter
    text = "|: " if signs.get(0, NO_SIGNS).start_repeat else ""
    previous: _Written | None = None
    for piece in written:
        if previous is not None:
            if piece.start in bars:
                new_meter = _meter_line(meters, meter, piece.start, melody.meter)
                meter = new_meter or meter
                text += _bar_line(signs.get(_bar_start(bars, previous.start), NO_SIGNS),
                                  signs.get(piece.start, NO_SIGNS), previous.start < pickup_end, new_meter)
            else:
                text += "" if _beamed(previous, piece, origins, beam_group(meter)) else " "
        text += piece.text
        previous = piece
    last = signs.get(_bar_start(bars, written[-1].start), NO_SIGNS)
    return text + (" :|" if last.end_repeat else " |]")


def _meter_line(meters: dict[int, str], meter: str, start: int, tune_meter: str) -> str | None:
    """The meter to write before the bar at `start`: one for a bar longer than the meter in force,
    and the tune's own meter again after such bars; a shorter bar (a strain's closing bar written
    short for the pickup, a pickup bar of its own, endings) is written as it is, as scores and
    every ABC reader take it."""
    wanted = meters.get(start, meter)
    longer = meter_length_in_beats(wanted) > meter_length_in_beats(meter) + 1e-9
    return wanted if wanted != meter and (longer or wanted == tune_meter) else None


def _beat_origins(bars: list[int], bar_length: int, end: int) -> list[int]:
    """Where the beats of each written bar are counted from: its bar line, one bar before the first
    line for a pickup (its notes lead into the bar), every bar length without bar lines."""
    if not bars:
        return list(range(0, end, bar_length)) or [0]
    return [bars[0] - bar_length, *bars] if bars[0] > 0 else list(bars)


def _beamed(previous: _Written, piece: _Written, origins: list[int], group: int) -> bool:
    """Whether two neighbours lie within one beat group of one bar (so are written together)."""
    shared = _beat_group(previous, origins, group)
    return shared is not None and shared == _beat_group(piece, origins, group)


def _beat_group(piece: _Written, origins: list[int], group: int) -> tuple[int, int] | None:
    """(the bar's beat origin, the group's index in it) of a piece within one group; None if it
    crosses a group boundary."""
    origin = origins[max(0, bisect.bisect_right(origins, piece.start) - 1)]
    first, last = (piece.start - origin) // group, (piece.end - 1 - origin) // group
    return (origin, first) if first == last else None


def _bar_start(bars: list[int], position: int) -> int:
    """The start of the written bar holding `position` (0 for the pickup)."""
    index = bisect.bisect_right(bars, position) - 1
    return bars[index] if index >= 0 else 0


def _bar_line(before: BarSigns, after: BarSigns, after_pickup: bool, new_meter: str | None) -> str:
    """The bar line between two bars with their signs: a strain ends its line (`:|` or `||`) and the
    next starts with its `|:`; a change of meter is an `M:` line of its own (music21 reads no
    inline `[M:]`), and an ending after a line break is opened with `[1`/`[2`."""
    strain_ends = not after_pickup and (before.end_repeat and after.ending != 2
                                        or before.ending == 2 != after.ending or after.start_repeat)
    closing = ":|" if before.end_repeat else "||" if strain_ends else "|"
    opening = "|:" if after.start_repeat else f"[{after.ending}" if after.ending not in (0, before.ending) else ""
    if strain_ends or new_meter:
        return f" {closing}\n" + (f"M:{new_meter}\n" if new_meter else "") + (f"{opening} " if opening else "")
    if opening.startswith("["):
        return f" {closing}{opening[1:]} "
    return f" {opening or closing} "


def write_abc(melody: Melody, path: Path, title: str | None = None,
              chords: Sequence[Chord] = (), notes: Sequence[str] = ()) -> Path:
    """Write the melody to `path` atomically."""
    write_text_atomic(path, melody_to_abc(melody, title=title, chords=chords, notes=notes))
    return path


def abc_key(key: Key) -> str:
    """The K: field: the tonic spelled in its own signature, and the mode (e.g. `Ador`, `Em`, `Bb`)."""
    written = Key(key.fifths) if key.mode == "locrian" else key
    letter, alteration = spell(written.tonic_pitch_class, key.fifths)
    return letter + {-1: "b", 0: "", 1: "#"}.get(alteration, "") + _MODE_SUFFIX[written.mode]


def _note(pitch: int, signature: dict[str, int], altered: dict[str, int]) -> str:
    letter, alteration, octave = spell_pitch(pitch, sum(signature.values()))  # octave 4 is ABC's `C`
    slot = f"{letter}{octave}"
    plain = alteration == signature.get(letter, 0) and altered.get(slot, alteration) == alteration
    accidental = "" if plain else _ACCIDENTAL[alteration]
    if accidental:
        altered[slot] = alteration
    if octave >= 5:
        name = letter.lower() + "'" * (octave - 5)
    else:
        name = letter + "," * (4 - octave)
    return accidental + name


def _next_break(breaks: list[int], position: int) -> int:
    return next((b for b in breaks if b > position), 1 << 30)


def _length(sixteenths: int) -> str:
    """A length in sixteenths as ABC writes it under `L:1/8`: `/` a sixteenth, `` an eighth, `3/2`."""
    if sixteenths % 2:
        return "/" if sixteenths == 1 else f"{sixteenths}/2"
    return "" if sixteenths == 2 else str(sixteenths // 2)
