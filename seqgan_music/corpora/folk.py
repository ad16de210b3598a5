"""The embedded `folk` corpus: the folk-tune collections that music21 ships in its corpus folder.

Each ABC file is split at its `X:` lines and every tune is parsed on its own, so one broken tune
is skipped instead of taking its whole file down, and so music21 never writes its pickle cache
of whole parsed files. Parsing is slow (about 70 ms a tune), so files are parsed in the worker
processes of `parallel_ingest.map_files`, as MIDI files are (never forked; a worker that dies costs
only its file), and the result of each file is cached as JSON: a rebuild with other encoding
options then reads only the cache. The workers ignore Ctrl-C; the main process hears it, says so
and stops them at once instead of waiting for the files they are parsing.

The melody is the first part of each score. Repeats are kept as written, not expanded: the
transcriptions mark them with repeat signs and first/second endings, and expanding them would
double most tunes with verbatim copies that the model could learn to recite. The signs are read
from music21's measures into `Melody.repeat_marks` (one per bar line), so that whole tunes keep
their parts, repeats and endings as written (`corpora.tunes.tune_from_written`), and the `R:`
field into `Melody.rhythm` (the tune type).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import re
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from seqgan_music.atomic import write_text_atomic
from seqgan_music.corpora.corpus import Skipped
from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.melody import KEY_MODES, Key, Melody, Note, meter_length_in_beats, monophonic, parse_meter
from seqgan_music.corpora.parallel_ingest import (
    Abandoned,
    IngestLimits,
    default_workers,
    map_files,
    stop_helper_processes,
)
from seqgan_music.errors import SeqganError, SkippedInput
from seqgan_music.progress import Reporter, SilentReporter

if TYPE_CHECKING:
    from music21 import key, stream

FOLK_COLLECTIONS: dict[str, str] = {
    "oneills1850": "O'Neill's Music of Ireland (1850): about 2000 Irish dance tunes and airs",
    "ryansMammoth": "Ryan's Mammoth Collection (1883): 1059 reels, jigs and hornpipes",
    "essenFolksong": "Essen folk song collection: about 8500 mostly German songs",
}
DEFAULT_COLLECTIONS: tuple[str, ...] = ("oneills1850", "ryansMammoth")

# Bump when the parsed form changes, so caches written by older code are parsed again.
CACHE_FORMAT = 2
_TUNE_START = re.compile(r"(?m)^(?=X:)")
# music21 reads `Q:1/4 =50` as a five-beat referent (250 bpm); without the space it reads it right.
_TEMPO_SPACES = re.compile(r"(?m)^(Q:[^=\n]*?)\s*=\s*")
# music21 misreads `::` (end and start repeat) right after a note name (`ABcA::B`): it drops that
# note and both repeat signs, or everything after them in a short tune. With spaces around the
# `::` it reads both repeats.
_DOUBLE_REPEAT = re.compile(r"(?<![|:\[])::(?![|:\]])")
_FIELD_LINE = re.compile(r"^(?:[A-Za-z+]:|%)")
# An ending number that a line break (or a `\` continuation) parts from its bar line (`:|` then
# `2BGG` on the next line): music21 reads no ending there unless it follows the bar line.
_PARTED_ENDING = re.compile(r"(\|)([ \t]*\\?[ \t]*\n[ \t]*)([12])(?=[ \t(A-Ga-gz\"])")
_RHYTHM_FIELD = re.compile(r"(?m)^R:[ \t]*(.*?)[ \t]*$")
_TUNE_BODY = re.compile(r"(?m)^K:")
_EPSILON = 1e-6
STOPPING = "stopping: cancelling the parse workers..."
# The files ship with music21 (trusted), but the largest hold hundreds of tunes: minutes each on a
# slow machine. The time limit only catches a hung worker.
PARSE_LIMITS = IngestLimits(seconds=3600.0)
RepeatMark = tuple[bool, bool, int]  # per bar line: start repeat, end repeat, ending 0/1/2 (Melody.repeat_marks)


def folk_files(collections: Sequence[str]) -> list[Path]:
    """The ABC files of `collections` inside music21's corpus folder, sorted."""
    unknown = [c for c in collections if c not in FOLK_COLLECTIONS]
    if unknown:
        raise SeqganError(f"unknown folk collection {unknown[0]!r}: choose from {', '.join(FOLK_COLLECTIONS)}")
    root = _music21_corpus_folder()
    return sorted(path for c in collections for path in (root / c).glob("*.abc"))


def read_folk_files(
    files: Sequence[Path],
    reporter: Reporter = SilentReporter(),
    cache_dir: Path | None = None,
    workers: int | None = None,
) -> Iterator[Melody | Skipped]:
    """One Melody per tune (or Skipped with the reason), in file order then tune order.

    Files with a valid cache entry are read from it; the rest are parsed by `map_files` in
    `workers` processes (default: one per core, at most one per file), or in this process when
    one worker or one file is all there is.
    A file whose worker dies or runs over its limits is one Skipped, and is not cached.
    """
    reporter.begin("Parsing folk tunes", total=len(files))
    version = importlib.metadata.version("music21")
    cached = [_read_cache(cache_dir, path, version) if cache_dir else None for path in files]
    to_parse = [path for path, entries in zip(files, cached) if entries is None]
    in_workers = min(workers or default_workers(), len(to_parse)) > 1
    parsed = (map_files(_parse_file, [str(path) for path in to_parse], workers, PARSE_LIMITS) if in_workers
              else (_parse_file(str(path)) for path in to_parse))
    finished = False
    try:
        for path, entries in zip(files, cached):
            if entries is None:
                result = next(parsed)
                if isinstance(result, Abandoned):
                    entries = [_skipped_entry(_file_label(path), result.reason)]
                else:
                    entries = result
                    if cache_dir is not None:
                        _write_cache(cache_dir, path, version, entries)
            yield from (_tune_from_entry(entry) for entry in entries)
            reporter.advance()
        finished = True
    finally:
        if in_workers and not finished:  # Ctrl-C, an error, or the reader closed early
            reporter.note(STOPPING)
        parsed.close()  # stops the workers, dropping the files not parsed yet
        if in_workers and _interrupted():
            stop_helper_processes()  # the process is about to end: leave no child of it running
        reporter.end()


def _interrupted() -> bool:
    """Whether the reader stops for a Ctrl-C: one raised in it, or in its consumer, which then
    closed it (`closing` in building.build_folk_corpus)."""
    error = sys.exception()
    return isinstance(error, KeyboardInterrupt) or (
        isinstance(error, GeneratorExit) and isinstance(error.__context__, KeyboardInterrupt))


def _music21_corpus_folder() -> Path:
    """music21's corpus folder, found without importing music21 (half a second at startup)."""
    spec = importlib.util.find_spec("music21")
    if spec is None or spec.origin is None:
        raise SeqganError("music21 is not installed: run `pip install music21`")
    return Path(spec.origin).parent / "corpus"


def _file_label(path: Path) -> str:
    """'<collection>/<file name>': stable across machines, unlike the absolute path."""
    return f"{path.parent.name}/{path.name}"


# --- parsing (runs in the worker processes) ---------------------------------------------------


def _parse_file(path: str) -> list[dict]:
    """Every tune of one ABC file as a plain dict: {"melody": ...} or {"skipped": ...}."""
    label = _file_label(Path(path))
    try:
        text = _decode(Path(path).read_bytes())
    except OSError as error:
        return [_skipped_entry(label, f"cannot read the file ({error.strerror or error})")]
    header, *tunes = _TUNE_START.split(text)
    if not tunes:
        return [_skipped_entry(label, "no tunes (no X: field)")]
    entries = []
    for tune in tunes:
        source = f"{label}#{tune.splitlines()[0][2:].strip()}"
        try:
            entries.append({"melody": _melody_to_dict(_parse_tune(header + tune, source))})
        except SkippedInput as reason:
            entries.append(_skipped_entry(source, str(reason)))
        except Exception as error:  # music21 raises many exception types on malformed ABC
            detail = f"{type(error).__name__}: {error}".splitlines()[0][:100]
            entries.append(_skipped_entry(source, f"music21 cannot parse it ({detail})"))
    return entries


def read_abc_tune(text: bytes, source: str, number: str | None = None) -> Melody:
    """One tune of an ABC file's bytes, read as the corpus reads its tunes: the tune whose `X:` field
    is `number`, else the first. SkippedInput (with the reason) when there is no such tune or it
    cannot be read."""
    header, *tunes = _TUNE_START.split(_decode(text))
    numbers = [tune.splitlines()[0][2:].strip() for tune in tunes]
    if not tunes or (number is not None and number not in numbers):
        raise SkippedInput(f"no tune X:{number}" if tunes else "no tunes (no X: field)")
    index = numbers.index(number) if number is not None else 0
    try:
        return _parse_tune(header + tunes[index], f"{source}#{numbers[index]}")
    except SkippedInput:
        raise
    except Exception as error:  # music21 raises many exception types on malformed ABC
        raise SkippedInput(f"music21 cannot parse it ({f'{type(error).__name__}: {error}'.splitlines()[0][:100]})") from None


def _decode(data: bytes) -> str:
    """ABC files are ASCII or UTF-8 by the standard; older ones are often Latin-1."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _parse_tune(abc: str, source: str) -> Melody:
    """One tune's ABC text -> Melody; SkippedInput when it has no usable notes or bars."""
    from music21 import converter

    return _melody_of_score(converter.parseData(_readable(abc), format="abc"), abc, source)


def _melody_of_score(score: stream.Score, abc: str, source: str) -> Melody:
    """The melody of music21's reading of a tune's ABC text (`abc`, for the fields music21 drops)."""
    from music21 import key, meter, tempo

    part = score.parts[0]
    notes = monophonic(_notes(part))
    if not notes:
        raise SkippedInput("no notes")
    # The first one is the `M:` field; music21 adds odd ones (1/16) later around overfull bars.
    signatures = list(part.recurse().getElementsByClass(meter.TimeSignature))
    if not signatures:
        raise SkippedInput("no time signature (free meter)")
    meter_text = signatures[0].ratioString
    try:
        parse_meter(meter_text)
    except ValueError:
        raise SkippedInput(f"unsupported meter {meter_text}") from None
    bars, marks = _bars(part, meter_length_in_beats(meter_text), notes[-1])
    if not bars:
        raise SkippedInput("no measures (music21 needs two bar lines)")
    signature = next(iter(part.recurse().getElementsByClass(key.KeySignature)), None)
    tempos = list(part.recurse().getElementsByClass(tempo.MetronomeMark))
    return Melody(
        notes=notes,
        bars=bars,
        meter=meter_text,
        key=_key(signature) if signature is not None else None,
        tempo=float(tempos[0].getQuarterBPM() or 120.0) if tempos else 120.0,
        title=(score.metadata.title if score.metadata else None) or "",
        source=source,
        rhythm=_rhythm(abc),
        # Without any repeat sign a tune is written out in full: its parts are found as in a
        # played-out one (corpora.tunes.whole_tune).
        repeat_marks=marks if any(any(mark) for mark in marks) else None,
    )


def _readable(abc: str) -> str:
    """The ABC text with what music21 misreads rewritten: `Q:1/4 =50`, an ending number at the
    start of a line, and `::` against a note in the tune's body."""
    lines = _PARTED_ENDING.sub(r"\1\3\2", _TEMPO_SPACES.sub(r"\1=", abc)).split("\n")
    return "\n".join(line if _FIELD_LINE.match(line) else _DOUBLE_REPEAT.sub(" :: ", line) for line in lines)


def _rhythm(abc: str) -> str:
    """The tune's `R:` field (the last one before its `K:` line, so a tune's own overrides its
    file's), '' when it has none."""
    fields = _RHYTHM_FIELD.findall(_TUNE_BODY.split(abc, 1)[0])
    return fields[-1] if fields else ""


def _notes(part: stream.Part) -> list[Note]:
    """Sounding notes in beats: grace notes skipped, chords -> top pitch, ties of one pitch merged.

    O'Neill's transcriptions write slurs between different pitches as `-`, which music21 reads
    as a tie; merging only same-pitch ties keeps those as the separate notes they are.
    """
    flat = part.flatten()
    notes: list[Note] = []
    tie_open = False
    for element in flat.notes:
        length = float(element.quarterLength)
        if length <= 0:  # grace note
            continue
        pitch = max(p.midi for p in element.pitches)
        start = float(flat.elementOffset(element))
        last = notes[-1] if notes else None
        if tie_open and last is not None and last.pitch == pitch and abs(last.end - start) < _EPSILON:
            notes[-1] = Note(pitch, last.start, start + length)
        else:
            notes.append(Note(pitch, start, start + length))
        tie_open = element.tie is not None and element.tie.type in ("start", "continue")
    return notes


def _bars(part: stream.Part, bar_length: float, last: Note) -> tuple[list[float], list[RepeatMark]]:
    """Bar lines at the start of every measure as written, except a leading pickup measure, and
    the repeat marks of each bar (`_measure_marks`).

    Taken from the measures rather than a regular grid, so that a pickup, an incomplete last bar
    before a repeat and the pickup to the next strain all keep their bar lines where written.
    The lines are those Grid16 writes as BAR tokens, one mark each: a line on the same sixteenth
    as the one before (music21 makes measures of a few hundredths of a beat around stray tuplets)
    joins it, and lines after the last note are dropped, an end repeat there (a closing bar of
    rests) closing the last bar with notes instead.
    """
    from music21 import stream

    measures = [m for m in part.getElementsByClass(stream.Measure) if m.duration.quarterLength > 0]
    if measures and float(measures[0].duration.quarterLength) < bar_length - _EPSILON:
        measures = measures[1:]
    end_step = max(_sixteenth(last.end), _sixteenth(last.start) + 1)
    lines: list[float] = []
    marks: list[RepeatMark] = []
    for measure, mark in zip(measures, _measure_marks(part, measures)):
        offset = float(part.elementOffset(measure))
        if lines and _sixteenth(offset) == _sixteenth(lines[-1]):
            marks[-1] = (marks[-1][0] or mark[0], marks[-1][1] or mark[1], marks[-1][2] or mark[2])
        elif _sixteenth(offset) < end_step:
            lines.append(offset)
            marks.append(mark)
        elif mark[1] and marks:
            marks[-1] = (marks[-1][0], True, marks[-1][2])
    return lines, marks


def _sixteenth(beat: float) -> int:
    """The sixteenth step of a beat, as Grid16 rounds it."""
    return int(round(beat * Grid16.steps_per_beat))


def _measure_marks(part: stream.Part, measures: Sequence[stream.Measure]) -> list[RepeatMark]:
    """Per measure: (start repeat `|:`, end repeat `:|`, ending 0, 1 or 2, the later ones as 2).

    music21 spans an ending's bracket by its first and last measure only, and closes a last
    ending that ABC leaves open (`:|2 ...`) after its first measure. Here an ending covers every
    measure from its first to its last, and a last ending runs on as ABC reads it, until a
    repeat sign, a double or final bar line or another ending, but for no more bars than the
    first ending has (so the strain after it is not swallowed when no double bar closes it).
    """
    from music21 import spanner

    position = {id(measure): index for index, measure in enumerate(measures)}
    endings = [0] * len(measures)
    for bracket in part.spanners.getElementsByClass(spanner.RepeatBracket):
        numbers = re.findall(r"\d+", str(bracket.number))
        first, last = position.get(id(bracket.getFirst())), position.get(id(bracket.getLast()))
        if numbers and first is not None and last is not None:
            endings[first:last + 1] = [1 if numbers == ["1"] else 2] * (last + 1 - first)
    # music21 splits an overfull bar before an end repeat into two measures and leaves the end
    # repeat on the left of the second one, the one that closes the strain.
    starts = [_repeat(measure.leftBarline, "start") for measure in measures]
    ends = [_repeat(measure.rightBarline, "end") or _repeat(measure.leftBarline, "end") for measure in measures]
    closed = [ends[index] or _section_line(measure.rightBarline)
              or (index + 1 < len(measures) and _section_line(measures[index + 1].leftBarline))
              for index, measure in enumerate(measures)]
    _run_on_last_endings(endings, starts, closed)
    return list(zip(starts, ends, endings))


def _repeat(barline: object, direction: str) -> bool:
    from music21 import bar

    return isinstance(barline, bar.Repeat) and barline.direction == direction


def _section_line(barline: object) -> bool:
    """Whether a bar line closes a section: a repeat sign, a double or a final bar line."""
    from music21 import bar

    return isinstance(barline, bar.Repeat) or (
        isinstance(barline, bar.Barline) and barline.type in ("double", "final", "heavy", "heavy-light", "light-heavy",
                                                              "heavy-heavy"))


def _run_on_last_endings(endings: list[int], starts: list[bool], closed: list[bool]) -> None:
    """Extend each last ending (2) over the unmarked measures after it, as `_measure_marks` says."""
    index = 0
    while index < len(endings):
        if endings[index] != 2:
            index += 1
            continue
        first = 0
        while index - first - 1 >= 0 and endings[index - first - 1] == 1:
            first += 1
        end = index
        while end + 1 < len(endings) and endings[end + 1] == 2:
            end += 1
        while (end - index + 1 < first and not closed[end] and end + 1 < len(endings)
               and endings[end + 1] == 0 and not starts[end + 1]):
            end += 1
            endings[end] = 2
        index = end + 1


def _key(signature: key.KeySignature) -> Key:
    """The stored signature, with music21's mode when the ABC `K:` field names one we know."""
    mode = getattr(signature, "mode", None)
    return Key(signature.sharps, mode if mode in KEY_MODES else "major", source="stored")


# --- the cache and the plain-dict form shared by workers and cache ----------------------------


def _skipped_entry(source: str, reason: str) -> dict:
    return {"skipped": {"path": source, "reason": reason}}


def _melody_to_dict(melody: Melody) -> dict:
    return {
        "notes": [[n.pitch, n.start, n.end] for n in melody.notes],
        "bars": melody.bars,
        "meter": melody.meter,
        "key": melody.key.to_dict() if melody.key else None,
        "tempo": melody.tempo,
        "title": melody.title,
        "source": melody.source,
        "rhythm": melody.rhythm,
        "repeat_marks": melody.repeat_marks,
    }


def _tune_from_entry(entry: dict) -> Melody | Skipped:
    if "skipped" in entry:
        return Skipped(str(entry["skipped"]["path"]), str(entry["skipped"]["reason"]))
    data = entry["melody"]
    return Melody(
        notes=[Note(int(p), float(s), float(e)) for p, s, e in data["notes"]],
        bars=[float(b) for b in data["bars"]],
        meter=str(data["meter"]),
        key=Key.from_dict(data["key"]) if data["key"] else None,
        tempo=float(data["tempo"]),
        title=str(data["title"]),
        source=str(data["source"]),
        rhythm=str(data["rhythm"]),
        repeat_marks=_marks_from_entry(data["repeat_marks"]),
    )


def _marks_from_entry(marks: list | None) -> list[RepeatMark] | None:
    if marks is None:
        return None
    return [(bool(starts), bool(ends), int(ending)) for starts, ends, ending in marks]


def _cache_path(cache_dir: Path, path: Path) -> Path:
    return cache_dir / path.parent.name / f"{path.name}.json"


def _cache_key(path: Path, version: str) -> dict:
    """What a cache entry must match: the file (name and content), music21 and this module."""
    return {
        "file": _file_label(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "music21": version,
        "format": CACHE_FORMAT,
    }


def _read_cache(cache_dir: Path, path: Path, version: str) -> list[dict] | None:
    """The cached entries of `path`, or None when missing, stale or corrupt (then it is re-parsed)."""
    try:
        stored = json.loads(_cache_path(cache_dir, path).read_text(encoding="utf-8"))
        if stored["key"] != _cache_key(path, version):
            return None
        entries = stored["entries"]
        for entry in entries:
            _tune_from_entry(entry)  # validates every field before anything is yielded
        return entries
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(cache_dir: Path, path: Path, version: str, entries: list[dict]) -> None:
    try:
        key = _cache_key(path, version)
    except OSError:  # the file vanished or is unreadable: its skipped entry is not worth caching
        return
    write_text_atomic(_cache_path(cache_dir, path), json.dumps({"key": key, "entries": entries}))
