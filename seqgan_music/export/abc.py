"""Write a melody as ABC notation (music21 reads ABC but cannot write it).

The tune gets the headers folk musicians expect (X, T, M, L, Q, K, and N: notes when given), bar
lines where the melody has them, notes spelled in its key, ties across bar lines, rests for
silences, and optionally quoted chord symbols to play it as a lead sheet. The unit note is a
sixteenth (`L:1/16`): grid16 melodies are exact; times off the sixteenth grid (the paper encoding's
0.4 s steps) are rounded to the nearest sixteenth.

Accidentals are written so that readers agree whether or not they carry an accidental to the end
of its bar (the ABC standard does, music21 does not): every note off the key signature gets its
accidental, and a note back on the signature after an accidental in the same bar gets one too.
Locrian, which music21 does not read, is written as the major key of the same signature with a
`%` comment naming the mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from seqgan_music.atomic import write_text_atomic
from seqgan_music.corpora.melody import Key, Melody
from seqgan_music.export.chords import Chord
from seqgan_music.export.notation import grid_events, key_signature, spell, spell_pitch, to_grid

_MODE_SUFFIX = {"major": "", "minor": "m", "dorian": "Dor", "phrygian": "Phr", "lydian": "Lyd", "mixolydian": "Mix"}
_ACCIDENTAL = {-2: "__", -1: "_", 0: "=", 1: "^", 2: "^^"}


def melody_to_abc(melody: Melody, number: int = 1, title: str | None = None,
                  chords: Sequence[Chord] = (), notes: Sequence[str] = ()) -> str:
    """The melody as one ABC tune (headers, then the notes, bars separated by `|`, ending `|]`).

    `chords` become quoted chord symbols (`"G"`) on the note or rest sounding at each chord's
    start; `notes` become `N:` header lines, one per line of text.
    """
    key = melody.key or Key(0)
    signature = key_signature(key.fifths)
    lines = [f"X:{number}", f"T:{title or melody.title or 'Untitled'}",
             *(f"N:{line}" for text in notes for line in text.splitlines()),
             f"M:{melody.meter}", "L:1/16", f"Q:1/4={round(melody.tempo)}", f"K:{abc_key(key)}"]
    if key.mode == "locrian":
        lines.insert(-1, f"% mode: {key.name} (written as its signature's major key)")
    symbols = {to_grid(chord.start): f'"{chord.symbol(key)}"' for chord in chords}
    bars = sorted({to_grid(b) for b in melody.bars if to_grid(b) > 0})
    breaks = sorted(set(bars) | {start for start in symbols if start > 0})  # where a note is tied over
    body: list[str] = []
    altered: dict[str, int] = {}  # letter+octave -> accidental set earlier in this bar
    position = 0
    for start, end, pitch in grid_events(melody):
        for until, sounding in ((start, None), (end, pitch)):  # the rest before the note, then the note
            while until > position:
                stop = min(until, _next_break(breaks, position))
                written = "z" if sounding is None else _note(sounding, signature, altered)
                tie = "-" if sounding is not None and stop < until else ""
                body.append(symbols.pop(position, "") + written + _length(stop - position) + tie)
                position = stop
                if position in bars:
                    body.append("|")
                    altered.clear()
    text = " ".join(body)
    lines.append((text.rstrip(" |") + " |]") if body else "z16 |]")
    return "\n".join(lines) + "\n"


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


def _length(units: int) -> str:
    return "" if units == 1 else str(units)
