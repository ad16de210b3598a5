"""Build a music corpus from melodies: key handling, encoding, vocabulary, split and windows."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

from seqgan_music.corpora.corpus import Corpus, Skipped, new_manifest
from seqgan_music.corpora.corpus_writer import CorpusWriter, writing_corpus
from seqgan_music.corpora.encoded import BATCH_TUNES, EncodedBatch, EncodedTune
from seqgan_music.corpora.encodings import Grid16, MusicEncoding, token_pitch
from seqgan_music.corpora.keys import estimate_key
from seqgan_music.corpora.melody import Melody, check_tune_length
from seqgan_music.corpora.split import SPLITS, SplitPlan
from seqgan_music.corpora.tunes import STRUCTURE_TOKENS, WholeTuneCounts, tune_facts, whole_tune
from seqgan_music.corpora.vocabulary import END, PAD, Vocabulary
from seqgan_music.corpora.windows import cut_windows
from seqgan_music.errors import SeqganError, SkippedInput
from seqgan_music.paths import corpus_dir

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")


def build_music_corpus(
    name: str,
    tunes: Iterable[Melody | Skipped],
    encoding: MusicEncoding,
    plan: SplitPlan,
    source: dict,
) -> Corpus:
    """Encode every usable melody, split by tune, cut windows; skipped inputs are listed.

    Copies of one tune (the same tokens: same notes and bar lines, after any transposition) all go
    to the split of the first copy (a split file's entry for a later copy gives way), so that the
    test split holds no tune the model trained on; the manifest counts them as `duplicate_tunes`.
    """
    started = time.perf_counter()
    batches: list[EncodedBatch] = []
    pending: list[EncodedTune | Skipped] = []
    for tune in tunes:
        pending.append(tune if isinstance(tune, Skipped) else encode_tune(tune, encoding))
        if len(pending) == BATCH_TUNES:
            batches.append(EncodedBatch.of(pending))
            pending = []
    batches.append(EncodedBatch.of(pending))
    return assemble_music_corpus(name, lambda: batches, encoding, plan, source, started, InMemorySink(name, encoding))


def encode_tune(melody: Melody, encoding: MusicEncoding) -> EncodedTune | Skipped:
    """What the corpus keeps of one melody (its tokens and facts), or why it is skipped.

    Runs where the melody was read (a parse worker), so that no Melody has to reach the builder.
    """
    try:
        check_tune_length(melody.end)
    except SkippedInput as error:
        return Skipped(melody.source, str(error))
    prepared, facts = _prepare(melody, encoding)
    result = encoding.encode(prepared)
    if not result.symbols:
        return Skipped(melody.source, "no notes left after encoding")
    tune_symbols: list[str] = []
    if isinstance(encoding, Grid16):
        tune, cut_bars = whole_tune(prepared, result.symbols)
        tune_symbols = [*tune.symbols(), END]
        facts = {**facts, **tune_facts(tune, cut_bars)}
    pitches = [note.pitch for note in prepared.notes]
    return EncodedTune(
        symbols=result.symbols, window_starts=result.window_starts, tune_symbols=tune_symbols,
        metadata=prepared.metadata(), facts=facts, pitch_range=(min(pitches), max(pitches)),
        off_grid_notes=result.off_grid_notes, dropped_notes=result.dropped_notes,
    )


def assemble_music_corpus(
    name: str,
    batches: Callable[[], Iterable[EncodedBatch]],
    encoding: MusicEncoding,
    plan: SplitPlan,
    source: dict,
    started: float,
    sink: CorpusSink[T],
) -> T:
    """The corpus of the encoded tunes in `batches` (see `build_music_corpus`), in two passes over
    them: the vocabulary first, then the windows, fed tune by tune to `sink` (which keeps the corpus
    in memory or writes it to disk) and finished with the manifest: what `sink.finish` returns.
    `batches()` starts a pass; batches may be read from disk one at a time (a sharded build). Beside
    the sink, memory holds counts, the skipped inputs and a 16-byte digest of each tune (some 100
    bytes a tune, to send copies of a tune to one split), whatever the number of tunes."""
    skipped: list[Skipped] = []
    seen: set[str] = set()
    tune_tokens: set[str] = set()
    totals: Counter[str] = Counter()
    meters: Counter[str] = Counter()
    low, high = None, None
    for batch in batches():
        skipped.extend(batch.skipped)
        seen.update(batch.window_symbols())
        tune_tokens.update(batch.tune_symbols())
        totals.update(batch.totals())
        meters.update(head["meter"] for head in batch.metadata)
        if len(batch):
            low = min(low if low is not None else 1 << 30, int(batch.pitch_ranges[:, 0].min()))
            high = max(high if high is not None else -1, int(batch.pitch_ranges[:, 1].max()))
    if not totals["tunes"]:
        first = f" (first: {skipped[0].path}: {skipped[0].reason})" if skipped else ""
        raise SeqganError(f"no usable tunes: {len(skipped)} input(s) skipped{first}")

    whole = keeps_whole_tunes(encoding)
    vocabulary = _music_vocabulary(encoding, seen, tune_tokens)
    pad_id, end_id = (vocabulary.pad, vocabulary.end) if encoding.pads_tail else (None, None)
    windows_per_split: Counter[str] = Counter()
    tunes_per_split: Counter[str] = Counter()
    whole_counts = WholeTuneCounts()
    first_copies: dict[bytes, str] = {}  # digest of a tune's tokens -> the split of its first copy
    for batch in batches():
        ids_of = np.array(vocabulary.ids(batch.symbols.tolist()), dtype=np.int32)
        for position in range(len(batch)):
            ids = ids_of[batch.tokens_of(position)]
            metadata = batch.metadata[position]
            digest = hashlib.blake2b(ids.tobytes(), digest_size=16).digest()
            split = first_copies.setdefault(digest, plan.split_of(metadata["source"]))
            cut = cut_windows(ids.tolist(), encoding.length, encoding.stride, batch.window_starts_of(position),
                              end_id, pad_id)
            record = {**metadata, "split": split, "windows": len(cut), **batch.facts[position]}
            sequence = ids_of[batch.tune_tokens_of(position)] if whole else None
            sink.add_tune(split, np.array(cut, dtype=np.int32).reshape(-1, encoding.length), sequence, record)
            windows_per_split[split] += len(cut)
            tunes_per_split[split] += 1
            if whole:
                whole_counts.add(record)

    if not windows_per_split["train"]:
        raise SeqganError("the train split holds no windows: use more tunes, a shorter --length, or other split shares")
    tunes = tunes_per_split.total()
    counts = {
        "tunes": tunes,
        "tunes_per_split": {s: tunes_per_split[s] for s in SPLITS},
        "windows": {s: windows_per_split[s] for s in SPLITS},
        "steps": totals["steps"],
        "off_grid_notes": totals["off_grid_notes"],
        "dropped_notes": totals["dropped_notes"],
        "keys_estimated": totals["key_estimated"],
        "transposed": totals["transposed"],
        "skipped": len(skipped),
        "duplicate_tunes": tunes - len(first_copies),
        "vocabulary": len(vocabulary),
        "pitch_range": [low, high],
        "meters": dict(meters.most_common()),
    }
    if whole:
        counts["whole_tunes"] = whole_counts.summary()
    manifest = new_manifest(name, source, encoding, plan.describe(), counts, skipped,
                            time.perf_counter() - started)
    return sink.finish(vocabulary, manifest)


def keeps_whole_tunes(encoding: MusicEncoding) -> bool:
    """Whether a corpus of this encoding keeps each tune whole beside its windows (grid16)."""
    return isinstance(encoding, Grid16)


class CorpusSink(Protocol[T_co]):
    """Where `assemble_music_corpus` puts each tune (in the order of their indices) and the manifest."""

    def add_tune(self, split: str, windows: np.ndarray, sequence: np.ndarray | None, record: dict) -> None: ...

    def finish(self, vocabulary: Vocabulary, manifest: dict) -> T_co: ...


class InMemorySink:
    """A sink that keeps the corpus in memory and finishes with the `Corpus`."""

    def __init__(self, name: str, encoding: MusicEncoding) -> None:
        self.name, self.encoding = name, encoding
        self.windows: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
        self.owners: dict[str, list[int]] = {s: [] for s in SPLITS}
        self.sequences: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS} if keeps_whole_tunes(encoding) else {}
        self.sequence_owners: dict[str, list[int]] = {s: [] for s in SPLITS}
        self.records: list[dict] = []

    def add_tune(self, split: str, windows: np.ndarray, sequence: np.ndarray | None, record: dict) -> None:
        index = len(self.records)
        self.windows[split].append(windows)
        self.owners[split].extend([index] * len(windows))
        if sequence is not None:
            self.sequences[split].append(sequence)
            self.sequence_owners[split].append(index)
        self.records.append(record)

    def finish(self, vocabulary: Vocabulary, manifest: dict) -> Corpus:
        length = self.encoding.length
        splits = {s: np.concatenate([np.empty((0, length), np.int32), *self.windows[s]]) for s in SPLITS}
        return Corpus(self.name, splits, vocabulary, self.encoding, manifest, self.records,
                      {s: np.array(self.owners[s], dtype=np.int32) for s in SPLITS},
                      tune_sequences=self.sequences,
                      tune_of_sequence={s: np.array(self.sequence_owners[s], dtype=np.int32) for s in self.sequences})


class WriterSink:
    """A sink that writes each tune into a corpus folder as it comes (see `corpora.corpus_writer`)
    and finishes by writing the rest of the folder's files."""

    def __init__(self, writer: CorpusWriter) -> None:
        self.writer = writer
        self.tunes = 0

    def add_tune(self, split: str, windows: np.ndarray, sequence: np.ndarray | None, record: dict) -> None:
        self.writer.add_windows(split, windows, np.full(len(windows), self.tunes, dtype=np.int32))
        if sequence is not None:
            self.writer.add_whole_tunes(split, [sequence], [self.tunes])
        self.writer.add_records([record])
        self.tunes += 1

    def finish(self, vocabulary: Vocabulary, manifest: dict) -> None:
        self.writer.finish(vocabulary.to_json(), manifest)


def save_music_corpus(home: Path, name: str, batches: Callable[[], Iterable[EncodedBatch]], encoding: MusicEncoding,
                      plan: SplitPlan, source: dict, started: float, replace: bool = True) -> Path:
    """`assemble_music_corpus` written straight into `<home>/corpora/<name>/` as the tunes come (an
    older build is replaced only once the new one is complete; never with `replace=False`, which
    raises FileExistsError then); returns that folder."""
    with writing_corpus(home, name, encoding.length, owners=True, whole_tunes=keeps_whole_tunes(encoding),
                        replace=replace) as writer:
        assemble_music_corpus(name, batches, encoding, plan, source, started, WriterSink(writer))
    return corpus_dir(home, name)


def _prepare(melody: Melody, encoding: MusicEncoding) -> tuple[Melody, dict]:
    """Give the melody a key (stored, else estimated) and transpose it when the encoding asks."""
    facts = {"key_estimated": 0, "transposed": 0, "transposition": 0}
    if melody.key is None:
        melody = replace(melody, key=estimate_key(melody.notes))
        facts["key_estimated"] = 1
    if encoding.transpose:
        shift = melody.key.semitones_to_plain_signature()
        if shift:
            melody = melody.transposed(shift)
            facts["transposed"] = 1
            facts["transposition"] = shift
    return melody, facts


def _music_vocabulary(encoding: MusicEncoding, seen: set[str], tune_tokens: set[str]) -> Vocabulary:
    """Specials, the encoding's fixed tokens, every pitch that occurs (`seen`: the windows'
    symbols) low to high, then the whole tunes' structure and header tokens (after the pitches, so
    that adding whole tunes leaves every window's ids as they were)."""
    specials = (PAD, END) if encoding.pads_tail else ()
    fixed = set(encoding.fixed_tokens)
    pitches = sorted((s for s in seen - fixed), key=lambda s: (token_pitch(s) or -1, s))
    tune_only = tune_tokens - {*seen, *fixed, *specials}
    structure = [s for s in STRUCTURE_TOKENS if s in tune_only]
    header = sorted(tune_only - set(structure))
    return Vocabulary.build((), specials, (*encoding.fixed_tokens, *pitches, *structure, *header))
