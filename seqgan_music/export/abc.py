"""Write a melody as ABC notation (music21 reads ABC but cannot write it).

The tune gets the headers folk musicians expect (X, T, M, L, Q, K), bar lines where the melody has
them, notes spelled in its key, ties across bar lines, and rests for silences. The unit note is a
sixteenth (`L:1/16`): grid16 melodies are exact; times off the sixteenth grid (the paper encoding's
0.4 s steps) are rounded to the nearest sixteenth.

Accidentals are written so that readers agree whether or not they carry an accidental to the end
of its bar (the ABC standard does, music21 does not): every note off the key signature gets its
accidental, and a note back on the signature after an accidental in the same bar gets one too.
Locrian, which music21 does not read, is written as the major key of the same signature with a
`%` comment naming the mode.
"""

from __future__ import annotations

from pathlib import Path

from seqgan_music.atomic import write_text_atomic
from seqgan_music.corpora.melody import Key, Melody

UNIT_BEATS = 0.25  # L:1/16
_LETTERS = "CDEFGAB"
_NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_SHARP_ORDER, _FLAT_ORDER = "FCGDAEB", "BEADGCF"
_MODE_SUFFIX = {"major": "", "minor": "m", "dorian": "Dor", "phrygian": "Phr", "lydian": "Lyd", "mixolydian": "Mix"}
_ACCIDENTAL = {-2: "__", -1: "_", 0: "=", 1: "^", 2: "^^"}


def melody_to_abc(melody: Melody, number: int = 1, title: str | None = None) -> str:
    """The melody as one ABC tune (headers, then the notes, bars separated by `|`, ending `|]`)."""
    key = melody.key or Key(0)
    signature = key_signature(key.fifths)
    lines = [f"X:{number}", f"T:{title or melody.title or 'Untitled'}", f"M:{melody.meter}", "L:1/16",
             f"Q:1/4={round(melody.tempo)}", f"K:{abc_key(key)}"]
    if key.mode == "locrian":
        lines.insert(-1, f"% mode: {key.name} (written as its signature's major key)")
    body: list[str] = []
    altered: dict[str, int] = {}  # letter+octave -> accidental set earlier in this bar
    bars = sorted({_grid(b) for b in melody.bars if _grid(b) > 0})
    position = 0
    for start, end, pitch in _events(melody):
        while start > position:  # a rest up to the next note, split at bar lines
            stop = min(start, _next_bar(bars, position))
            body.append(f"z{_length(stop - position)}")
            position = stop
            if position in bars:
                body.append("|")
                altered.clear()
        while end > position:  # the note, tied across bar lines
            stop = min(end, _next_bar(bars, position))
            body.append(_note(pitch, signature, altered) + _length(stop - position) + ("-" if stop < end else ""))
            position = stop
            if position in bars:
                body.append("|")
                altered.clear()
    text = " ".join(body)
    lines.append((text.rstrip(" |") + " |]") if body else "z16 |]")
    return "\n".join(lines) + "\n"


def write_abc(melody: Melody, path: Path, title: str | None = None) -> Path:
    """Write the melody to `path` atomically."""
    write_text_atomic(path, melody_to_abc(melody, title=title))
    return path


def key_signature(fifths: int) -> dict[str, int]:
    """Letter -> alteration (+1 sharp, -1 flat) of a signature with `fifths` sharps (negative: flats)."""
    if fifths >= 0:
        return {letter: 1 for letter in _SHARP_ORDER[:fifths]}
    return {letter: -1 for letter in _FLAT_ORDER[:-fifths]}


def abc_key(key: Key) -> str:
    """The K: field: the tonic spelled in its own signature, and the mode (e.g. `Ador`, `Em`, `Bb`)."""
    written = Key(key.fifths) if key.mode == "locrian" else key
    letter, alteration = _spelling(written.tonic_pitch_class, key_signature(key.fifths), key.fifths)
    return letter + {-1: "b", 0: "", 1: "#"}.get(alteration, "") + _MODE_SUFFIX[written.mode]


def _note(pitch: int, signature: dict[str, int], altered: dict[str, int]) -> str:
    fifths = sum(signature.values())
    letter, alteration = _spelling(pitch % 12, signature, fifths)
    octave = (pitch - alteration) // 12 - 1  # MIDI 60 (middle C) is octave 4: ABC's `C`
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


def _spelling(pitch_class: int, signature: dict[str, int], fifths: int) -> tuple[str, int]:
    """(letter, alteration) for a pitch class: in the key's scale when it is, else the plain letter,
    else a sharp in sharp keys and a flat in flat keys."""
    candidates = []
    for letter in _LETTERS:
        alteration = (pitch_class - _NATURAL[letter] + 6) % 12 - 6
        if -1 <= alteration <= 1:
            candidates.append((letter, alteration))
    for letter, alteration in candidates:
        if signature.get(letter, 0) == alteration:
            return letter, alteration
    for letter, alteration in candidates:
        if alteration == 0:
            return letter, 0
    wanted = 1 if fifths >= 0 else -1
    return next(((l, a) for l, a in candidates if a == wanted), candidates[0])


def _events(melody: Melody) -> list[tuple[int, int, int]]:
    """(start, end, pitch) in sixteenths, sorted, overlaps cut so the line stays monophonic."""
    events = []
    for note in sorted(melody.notes, key=lambda n: (n.start, n.pitch)):
        start, end = _grid(note.start), _grid(note.end)
        if events and start < events[-1][1]:
            previous = events.pop()
            if start > previous[0]:
                events.append((previous[0], start, previous[2]))
        if end > start:
            events.append((start, end, note.pitch))
    return events


def _next_bar(bars: list[int], position: int) -> int:
    return next((bar for bar in bars if bar > position), 1 << 30)


def _grid(beats: float) -> int:
    return round(beats / UNIT_BEATS)


def _length(units: int) -> str:
    return "" if units == 1 else str(units)
