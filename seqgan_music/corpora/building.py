"""A music corpus from a MIDI folder or the folk collections, built the same way by the CLI, the
terminal app and the experiments: the manifest's source record, the reading and the build."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from itertools import chain
from pathlib import Path

from seqgan_music.corpora.corpus import Corpus, Skipped
from seqgan_music.corpora.encoded import BATCH_TUNES, EncodedBatch, EncodedTune
from seqgan_music.corpora.encodings import MusicEncoding
from seqgan_music.corpora.folk import folk_files, read_folk_files
from seqgan_music.corpora.midi import MidiFolder, read_midi_folder, read_midi_melody, scan_midi_folder
from seqgan_music.corpora.music import build_music_corpus, encode_tune, save_music_corpus
from seqgan_music.corpora.names import printable
from seqgan_music.corpora.parallel_ingest import Abandoned, IngestLimits, check_engine, map_files
from seqgan_music.corpora.shards import ShardStore, build_key, build_lock, shards_folder
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.errors import SeqganError, SkippedInput
from seqgan_music.paths import corpora_dir
from seqgan_music.progress import Reporter


@dataclass(frozen=True)
class IngestOptions:
    """How a MIDI build reads its files: in `workers` processes (default: all cores) or over Ray,
    each file under `limits`, its results written in shards of `shard_files` files under `home`'s
    corpora/.cache/, so that an interrupted build goes on from them."""

    home: Path
    workers: int | None = None
    engine: str = "processes"
    limits: IngestLimits = IngestLimits()
    shard_files: int = BATCH_TUNES


def build_midi_corpus(name: str, folder: Path, encoding: MusicEncoding, plan: SplitPlan, reporter: Reporter,
                      track: int | None = None, program: int | None = None) -> Corpus:
    """The melodies of every MIDI file under `folder`, read one after another in this process, as
    a corpus in memory; refuses a folder without any. `ingest_midi_corpus` builds the same corpus
    from a folder of any size."""
    _, source = _scan(folder, track, program)
    return build_music_corpus(name, read_midi_folder(folder, track, program, reporter), encoding, plan, source)


def ingest_midi_corpus(name: str, folder: Path, encoding: MusicEncoding, plan: SplitPlan, reporter: Reporter,
                       ingest: IngestOptions, track: int | None = None, program: int | None = None,
                       replace: bool = True) -> Path:
    """The corpus of `build_midi_corpus`, its files read in parallel and sharded (see
    `IngestOptions`) and written straight into `<home>/corpora/<name>/` as the shards are read
    back, so that memory stays flat however many files the folder holds; returns that folder.
    With `replace=False` a corpus of that name made meanwhile is kept (FileExistsError)."""
    started = time.perf_counter()
    found, source = _scan(folder, track, program)
    check_engine(ingest.engine)
    settings = {"encoding": encoding.params(), "track": track, "program": program, "shard_files": ingest.shard_files}
    with build_lock(ingest.home, name):
        store = ShardStore.open(shards_folder(ingest.home, name), build_key(folder, found.files, settings))
        shards = -(-len(found.files) // ingest.shard_files)
        if store.changed:
            reporter.note("the folder or the settings changed since the interrupted build: starting again")
        elif store.done:
            reporter.note(f"resuming the interrupted build: {store.done} of {shards} shards "
                          f"({min(store.done * ingest.shard_files, len(found.files)):,} files) already read")
        work = partial(encode_midi_file, track=track, program=program, encoding=encoding)
        try:
            _read_into_shards(found.files, folder, work, store, ingest, reporter)
            saved = save_music_corpus(ingest.home, name,
                                      lambda: chain([EncodedBatch.of(found.skipped)], store.batches(shards)),
                                      encoding, plan, source, started, replace)
        except KeyboardInterrupt:
            reporter.note(f"stopped: {store.done} of {shards} shards are kept; run the same command again to go on "
                          "from them")
            raise
        except FileNotFoundError as error:
            if not str(error.filename or "").startswith(str(store.folder)):
                raise
            store.remove()  # corpora/.cache removed by hand, or a build that slipped past the lock finished first
            raise SeqganError(f"the shards of this build were removed while it ran ({store.folder.parent}): run the "
                              "command again") from None
        except OSError:  # a full disk or an unwritable home: no partial output is left behind
            store.remove()
            raise
        store.remove()
        return saved


def _scan(folder: Path, track: int | None, program: int | None) -> tuple[MidiFolder, dict]:
    """The MIDI files under `folder` (refused when there are none) and the manifest's source record."""
    found = scan_midi_folder(folder)
    if not found.files:
        raise SeqganError(f"no .mid or .midi files under {printable(str(folder))}: point to a folder of MIDI files")
    return found, {"kind": "midi", "path": printable(str(folder.resolve())), "track": track, "program": program}


def encode_midi_file(task: tuple[str, str], track: int | None, program: int | None,
                     encoding: MusicEncoding) -> EncodedTune | Skipped:
    """Read and encode one MIDI file (path, name in the corpus): what a parse worker does."""
    path, source = task
    try:
        melody = read_midi_melody(Path(path), source, track, program)
    except SkippedInput as error:
        return Skipped(source, str(error))
    return encode_tune(melody, encoding)


def _read_into_shards(files: list[Path], folder: Path, work: Callable[[tuple[str, str]], EncodedTune | Skipped],
                      store: ShardStore, ingest: IngestOptions, reporter: Reporter) -> None:
    """Read the files the store's shards do not cover yet, writing each shard as it fills."""
    size = ingest.shard_files
    first = store.done * size
    tasks = [(str(path), printable(path.relative_to(folder).as_posix())) for path in files[first:]]
    progress = _IngestProgress(reporter, len(files), first, store.skipped_found)
    pending: list[EncodedTune | Skipped] = []
    try:
        for (_, source), result in zip(tasks, map_files(work, tasks, ingest.workers, ingest.limits, ingest.engine)):
            if isinstance(result, Abandoned):
                result = Skipped(source, result.reason)
            pending.append(result)
            progress.advance(isinstance(result, Skipped))
            if len(pending) == size or progress.done == len(files):
                store.write((progress.done - 1) // size, EncodedBatch.of(pending))
                pending = []
    finally:
        reporter.end()
    if tasks:
        reporter.note("read " + progress.line())


class _IngestProgress:
    """Files done of the total on the reporter's bar, and every few seconds a line with the rate
    (files read per second in this run) and how many were skipped."""

    EVERY_SECONDS = 10.0

    def __init__(self, reporter: Reporter, total: int, done: int, skipped: int) -> None:
        self.reporter, self.total, self.done, self.resumed, self.skipped = reporter, total, done, done, skipped
        self.started = self.last_note = time.monotonic()
        reporter.begin("Reading MIDI files", total)
        reporter.advance(done)

    def advance(self, skipped: bool) -> None:
        self.done += 1
        self.skipped += skipped
        self.reporter.advance()
        if time.monotonic() - self.last_note >= self.EVERY_SECONDS:
            self.last_note = time.monotonic()
            self.reporter.note(self.line())

    def line(self) -> str:
        rate = (self.done - self.resumed) / max(time.monotonic() - self.started, 1e-9)
        return f"{self.done:,}/{self.total:,} files, {rate:,.0f} files/s, {self.skipped:,} skipped"


def folk_source(collections: Sequence[str]) -> dict:
    """The manifest's record of a folk build (what decides whether an existing build is the same)."""
    import music21

    return {"kind": "folk", "collections": list(collections), "music21_version": music21.__version__}


def build_folk_corpus(name: str, collections: Sequence[str], encoding: MusicEncoding, plan: SplitPlan,
                      reporter: Reporter, home: Path, workers: int | None = None) -> Corpus:
    """The tunes of music21's folk `collections`, parsed once and cached under `home`'s corpora."""
    cache = corpora_dir(home) / ".cache" / "folk"
    # closing: an interrupt while a tune is encoded stops the parse workers at once, not when collected
    with closing(read_folk_files(folk_files(collections), reporter, cache, workers)) as tunes:
        return build_music_corpus(name, tunes, encoding, plan, folk_source(collections))
