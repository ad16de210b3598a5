"""Read the melody of each file in a folder of MIDI files (type 0 or 1) with mido.

A MIDI file holds many voices; SeqGAN learns one monophonic line. Unless a track or a program is
asked for, the melody is the highest-sounding (track, channel) group when that group is monophonic
(Nottingham's track 0 over its chord track, a lead line over bass and chords), else the skyline of
all voices. Drums (channel 10) are never melody. Times are quarter-note beats, so tempo changes
do not move notes on the sixteenth grid; the tempo map is kept for the paper's 0.4 s sampling.
"""

from __future__ import annotations

import bisect
import errno
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import mido

from seqgan_music.corpora.corpus import Skipped
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines, check_tune_length, monophonic, parse_meter
from seqgan_music.corpora.names import printable
from seqgan_music.errors import SeqganError, SkippedInput
from seqgan_music.progress import Reporter, SilentReporter

MIDI_SUFFIXES = (".mid", ".midi")
DRUM_CHANNEL = 9  # MIDI channel 10; mido counts channels from 0
# Parsing holds some 250 bytes of memory per byte of file; melody files are kilobytes.
MAX_MIDI_BYTES = 2 << 20
MAX_OVERLAP_SHARE = 0.05  # a group is monophonic when at most this share of notes overlap the next
_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_T = TypeVar("_T")


@dataclass(frozen=True)
class _Played:
    """A note with the track, channel and program that played it, to choose the melody by."""

    note: Note
    track: int
    channel: int
    program: int


@dataclass(frozen=True)
class MidiFolder:
    """The MIDI files found under a folder, and what could not be looked into, with the reason."""

    files: list[Path]
    skipped: list[Skipped]


def scan_midi_folder(folder: Path) -> MidiFolder:
    """Every .mid/.midi file under `folder` (any case, recursively), sorted by relative path.

    Folders reached by a symbolic link are read too, each folder once: a link back into a folder
    already read (a loop, or a second path to it), an unreadable folder, and a MIDI name that is
    no regular file are listed in `skipped` instead. Real folders are read before linked ones, so
    a folder inside `folder` keeps its own path.
    """
    if not folder.exists():
        raise SeqganError(f"MIDI folder {printable(str(folder))} does not exist: "
                          "point to a folder of .mid or .midi files")
    if not folder.is_dir():
        raise SeqganError(f"{printable(str(folder))} is a file, not a folder: "
                          "point to the folder that holds the MIDI files")
    files: list[tuple[str, Path]] = []
    skipped: list[Skipped] = []
    read: dict[tuple[int, int], str] = {}  # (device, inode) -> relative path it was read at
    real, linked = [(folder, "")], []
    while real or linked:
        directory, relative = real.pop() if real else linked.pop()
        try:
            identity = directory.stat()
            entries = sorted(os.scandir(directory), key=lambda e: e.name, reverse=True)
        except OSError as error:
            if not relative:
                raise SeqganError(f"cannot read the MIDI folder {printable(str(folder))} "
                                  f"({error.strerror or error})") from None
            skipped.append(Skipped(printable(relative), _unreadable(error, "folder")))
            continue
        first = read.setdefault((identity.st_dev, identity.st_ino), relative)
        if first != relative:
            skipped.append(Skipped(printable(relative), _read_already(first, relative)))
            continue
        for entry in entries:
            path, name = Path(entry.path), f"{relative}/{entry.name}" if relative else entry.name
            try:
                is_folder = entry.is_dir()
            except OSError as error:
                skipped.append(Skipped(printable(name), _unreadable(error, "link")))
                continue
            if is_folder:
                (linked if entry.is_symlink() else real).append((path, name))
            elif path.suffix.lower() in MIDI_SUFFIXES:
                if entry.is_file():
                    files.append((name, path))
                else:
                    skipped.append(Skipped(printable(name), _not_a_file(path)))
    return MidiFolder([path for _, path in sorted(files)], sorted(skipped, key=lambda s: s.path))


def find_midi_files(folder: Path) -> list[Path]:
    """The MIDI files of `scan_midi_folder(folder)`."""
    return scan_midi_folder(folder).files


def _unreadable(error: OSError, what: str) -> str:
    if error.errno == errno.ELOOP:
        return "symbolic link loop (the link never reaches a file or folder)"
    return f"cannot read the {what} ({error.strerror or error})"


def _read_already(first: str, relative: str) -> str:
    if first == "" or relative.startswith(first + "/"):
        return f"symbolic link loop (it leads back to {printable(first) or 'the folder itself'})"
    return f"the same folder as {printable(first)}, read there"


def _not_a_file(path: Path) -> str:
    try:
        path.stat()
    except OSError as error:
        return _unreadable(error, "link") if error.errno != errno.ENOENT else "broken symbolic link"
    return "not a regular file"


def read_midi_folder(folder: Path, track: int | None = None, program: int | None = None,
                     reporter: Reporter = SilentReporter()) -> Iterator[Melody | Skipped]:
    """What `scan_midi_folder(folder)` skipped, then one Melody, or a Skipped with its reason, per
    file. Names are `printable`: a name that is not UTF-8 or holds control characters is escaped."""
    found = scan_midi_folder(folder)
    yield from found.skipped
    reporter.begin("Reading MIDI files", len(found.files))
    try:
        for path in found.files:
            source = printable(path.relative_to(folder).as_posix())
            try:
                yield read_midi_melody(path, source, track, program)
            except SkippedInput as error:
                yield Skipped(source, str(error))
            reporter.advance()
    finally:
        reporter.end()


def read_midi_melody(path: Path, source: str, track: int | None = None,
                     program: int | None = None) -> Melody:
    """The melody of one MIDI file (see the module docstring); SkippedInput if it has none.

    `track` (index from 0) or `program` (General MIDI program from 0, as stored in the file)
    restrict the melody to those notes instead of choosing it automatically.
    """
    midi = _load(path)
    events = [_timed(t) for t in midi.tracks]
    played = _played_notes(events, midi.ticks_per_beat)
    if not played:
        raise SkippedInput("no notes")
    check_tune_length(max(p.note.end for p in played))
    pitched = [p for p in played if p.channel != DRUM_CHANNEL]
    if not pitched:
        raise SkippedInput("only drum notes (channel 10)")
    chosen, tracks = _choose(pitched, track, program, len(midi.tracks))
    notes = monophonic(chosen)

    metas = sorted(((tick, m) for timed in events for tick, m in timed if m.is_meta), key=lambda e: e[0])
    beat = 1.0 / midi.ticks_per_beat
    if any(m.type == "set_tempo" and m.tempo == 0 for _, m in metas):
        raise SkippedInput("a tempo of 0 microseconds per beat")
    tempos = _changes([(0, 120.0)] + [(t, mido.tempo2bpm(m.tempo)) for t, m in metas if m.type == "set_tempo"])
    meters = _changes([(0, "4/4")] + [(t, f"{m.numerator}/{m.denominator}")
                                      for t, m in metas if m.type == "time_signature"])
    for _, meter in meters:
        try:
            parse_meter(meter)
        except ValueError as error:
            raise SkippedInput(f"unsupported time signature ({error})") from None
    keys = [m.key for _, m in metas if m.type == "key_signature"]
    name = midi.tracks[tracks.pop()].name.strip() if len(tracks) == 1 else ""
    return Melody(
        notes=notes,
        bars=bar_lines([(t * beat, m) for t, m in meters], end=notes[-1].end),
        meter=meters[0][1],
        key=_key(keys[0]) if keys else None,
        tempo=tempos[0][1],
        tempo_changes=[(t * beat, bpm) for t, bpm in tempos[1:]],
        title=printable(name or path.stem),
        source=source,
    )


def _load(path: Path) -> mido.MidiFile:
    """Parse with mido, turning every way a file can be unusable into a short SkippedInput.

    mido reads each track chunk to its declared length, so a truncated file ends in EOFError.
    Parsing cannot hang: it reads each byte once and refuses messages over 1 MB, so its time and
    memory grow with the file's size, which MAX_MIDI_BYTES bounds (a few seconds, some 500 MB).
    """
    try:
        with path.open("rb") as file:
            data = file.read(MAX_MIDI_BYTES + 1)
    except OSError as error:
        raise SkippedInput(f"cannot read the file ({error.strerror or error})") from None
    if len(data) > MAX_MIDI_BYTES:
        raise SkippedInput(f"larger than {MAX_MIDI_BYTES >> 20} MiB: too large to be a melody file")
    if not data.startswith(b"MThd"):
        raise SkippedInput("not a MIDI file")
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception as error:  # mido raises many types on malformed bytes; none is a bug here
        detail = str(error) or ("unexpected end of file" if isinstance(error, EOFError) else type(error).__name__)
        raise SkippedInput(f"damaged or truncated MIDI file ({detail})") from None
    if midi.type not in (0, 1):
        raise SkippedInput("MIDI type 2 is not supported" if midi.type == 2 else f"unknown MIDI type {midi.type}")
    if midi.ticks_per_beat <= 0:  # a negative division is SMPTE frame timing, which has no beats
        raise SkippedInput("SMPTE (frame-based) timing is not supported")
    return midi


def _timed(track: mido.MidiTrack) -> list[tuple[int, mido.Message]]:
    """The track's messages with absolute ticks."""
    tick, timed = 0, []
    for message in track:
        tick += message.time
        timed.append((tick, message))
    return timed


def _played_notes(events: list[list[tuple[int, mido.Message]]], ticks_per_beat: int) -> list[_Played]:
    """Every note of every track in beats, with the program its channel had when it started.

    Programs are per channel across all tracks, as a player applies them.
    """
    changes: dict[int, list[tuple[int, int]]] = {}
    for timed in events:
        for tick, m in timed:
            if m.type == "program_change":
                changes.setdefault(m.channel, []).append((tick, m.program))
    programs = {channel: sorted(c, key=lambda c: c[0]) for channel, c in changes.items()}
    program_ticks = {channel: [t for t, _ in c] for channel, c in programs.items()}
    played = []
    for track, timed in enumerate(events):
        for channel, pitch, start, end in _paired(timed):
            index = bisect.bisect_right(program_ticks.get(channel, []), start) - 1
            program = programs[channel][index][1] if index >= 0 else 0
            note = Note(pitch, start / ticks_per_beat, end / ticks_per_beat)
            played.append(_Played(note, track, channel, program))
    return played


def _paired(timed: list[tuple[int, mido.Message]]) -> list[tuple[int, int, int, int]]:
    """(channel, pitch, start tick, end tick) of one track's notes, zero-length ones left out.

    Velocity 0 is a note-off; a re-triggered pitch closes the sounding one, and a note-off at the
    re-trigger's own tick is taken as that closed note's (some sequencers write on before off);
    notes never closed end at the track's last event.
    """
    notes = []
    sounding: dict[tuple[int, int], tuple[int, bool]] = {}  # (channel, pitch) -> (start, retriggered)
    for tick, m in timed:
        if m.type not in ("note_on", "note_off"):
            continue
        key = (m.channel, m.note)
        if m.type == "note_on" and m.velocity > 0:
            if key in sounding:
                notes.append((*key, sounding[key][0], tick))
            sounding[key] = (tick, key in sounding)
        elif sounding.get(key) == (tick, True):
            sounding[key] = (tick, False)
        elif key in sounding:
            notes.append((*key, sounding.pop(key)[0], tick))
    last_tick = timed[-1][0] if timed else 0
    notes.extend((*key, start, last_tick) for key, (start, _) in sounding.items())
    return [n for n in notes if n[3] > n[2]]


def _choose(pitched: list[_Played], track: int | None, program: int | None,
            track_count: int) -> tuple[list[Note], set[int]]:
    """The notes the melody is taken from, and the tracks they come from."""
    if track is not None:
        if track >= track_count:
            raise SkippedInput(f"no track {track} (the file has {track_count}, numbered from 0)")
        chosen = [p for p in pitched if p.track == track]
        if not chosen:
            raise SkippedInput(f"track {track} has no notes outside channel 10")
    elif program is not None:
        chosen = [p for p in pitched if p.program == program]
        if not chosen:
            raise SkippedInput(f"no notes played with program {program}")
    else:
        groups: dict[tuple[int, int], list[_Played]] = {}
        for p in pitched:
            groups.setdefault((p.track, p.channel), []).append(p)
        highest = max(sorted(groups), key=lambda g: sum(p.note.pitch for p in groups[g]) / len(groups[g]))
        chosen = groups[highest]
        if not _is_monophonic([p.note for p in chosen]):
            return _skyline([p.note for p in pitched]), {p.track for p in pitched}
    return [p.note for p in chosen], {p.track for p in chosen}


def _is_monophonic(notes: list[Note]) -> bool:
    """At most MAX_OVERLAP_SHARE of the notes overlap a later-starting next one.

    Brief legato slips pass, and so do double stops (notes starting together, as in Nottingham's
    fiddle tunes): `monophonic` keeps their top note.
    """
    ordered = sorted(notes, key=lambda n: (n.start, -n.pitch))
    overlaps = sum(1 for a, b in zip(ordered, ordered[1:]) if a.end > b.start and a.start != b.start)
    return overlaps <= MAX_OVERLAP_SHARE * len(notes)


def _skyline(notes: list[Note]) -> list[Note]:
    """The highest note sounding at each moment, the usual melody of a polyphonic texture.

    Of notes starting together the highest is kept; a lower note still sounding when a higher one
    starts is cut there; a note starting under a higher sounding one is dropped.
    """
    line: list[Note] = []
    for note in sorted(notes, key=lambda n: (n.start, -n.pitch)):
        if line and line[-1].end > note.start:
            if line[-1].pitch >= note.pitch:
                continue
            line[-1] = Note(line[-1].pitch, line[-1].start, note.start)  # starts earlier: sorted
        line.append(note)
    return line


def _changes(events: list[tuple[int, _T]]) -> list[tuple[int, _T]]:
    """Sorted (tick, value) changes: the last value at a tick wins and repeats are dropped."""
    merged: list[tuple[int, _T]] = []
    for tick, value in sorted(events, key=lambda e: e[0]):
        if merged and merged[-1][0] == tick:
            merged.pop()
        if not merged or merged[-1][1] != value:
            merged.append((tick, value))
    return merged


def _key(name: str) -> Key:
    """A mido key name ('C', 'F#m', 'Bb', 'Cb') as a stored Key."""
    minor = name.endswith("m")
    tonic = name[:-1] if minor else name
    pitch_class = _NATURALS[tonic[0]] + tonic[1:].count("#") - tonic[1:].count("b")
    return Key.from_tonic(pitch_class % 12, "minor" if minor else "major", source="stored")
