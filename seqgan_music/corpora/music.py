"""Build a music corpus from melodies: key handling, encoding, vocabulary, split and windows."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import replace

import numpy as np

from seqgan_music.corpora.corpus import Corpus, Skipped, new_manifest
from seqgan_music.corpora.encoded import BATCH_TUNES, EncodedBatch, EncodedTune
from seqgan_music.corpora.encodings import Grid16, MusicEncoding, token_pitch
from seqgan_music.corpora.keys import estimate_key
from seqgan_music.corpora.melody import Melody, check_tune_length
from seqgan_music.corpora.split import SPLITS, SplitPlan
from seqgan_music.corpora.tunes import STRUCTURE_TOKENS, tune_facts, whole_tune, whole_tune_counts
from seqgan_music.corpora.vocabulary import END, PAD, Vocabulary
from seqgan_music.corpora.windows import cut_windows
from seqgan_music.errors import SeqganError, SkippedInput


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
    return assemble_music_corpus(name, lambda: batches, encoding, plan, source, started)


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
) -> Corpus:
    """The corpus of the encoded tunes in `batches` (see `build_music_corpus`), in two passes over
    them: the vocabulary first, then the windows. `batches()` starts a pass; batches may be read
    from disk one at a time (a sharded build), so that only token ids stay in memory."""
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

    whole = isinstance(encoding, Grid16)
    vocabulary = _music_vocabulary(encoding, seen, tune_tokens)
    pad_id, end_id = (vocabulary.pad, vocabulary.end) if encoding.pads_tail else (None, None)
    windows: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    owners: dict[str, list[int]] = {s: [] for s in SPLITS}
    sequences: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS} if whole else {}
    sequence_owners: dict[str, list[int]] = {s: [] for s in SPLITS}
    tune_records: list[dict] = []
    tunes_per_split: Counter[str] = Counter()
    first_copies: dict[bytes, str] = {}  # hash of a tune's tokens -> the split of its first copy
    for batch in batches():
        ids_of = np.array(vocabulary.ids(batch.symbols.tolist()), dtype=np.int32)
        for position in range(len(batch)):
            ids = ids_of[batch.tokens_of(position)]
            index = len(tune_records)
            metadata = batch.metadata[position]
            split = first_copies.setdefault(hashlib.sha256(ids.tobytes()).digest(), plan.split_of(metadata["source"]))
            cut = cut_windows(ids.tolist(), encoding.length, encoding.stride, batch.window_starts_of(position),
                              end_id, pad_id)
            windows[split].append(np.array(cut, dtype=np.int32).reshape(-1, encoding.length))
            owners[split].extend([index] * len(cut))
            tunes_per_split[split] += 1
            if whole:
                sequences[split].append(ids_of[batch.tune_tokens_of(position)])
                sequence_owners[split].append(index)
            tune_records.append({**metadata, "split": split, "windows": len(cut), **batch.facts[position]})

    splits = {s: np.concatenate([np.empty((0, encoding.length), np.int32), *windows[s]]) for s in SPLITS}
    if len(splits["train"]) == 0:
        raise SeqganError("the train split holds no windows: use more tunes, a shorter --length, or other split shares")
    counts = {
        "tunes": len(tune_records),
        "tunes_per_split": {s: tunes_per_split[s] for s in SPLITS},
        "windows": {s: int(len(splits[s])) for s in SPLITS},
        "steps": totals["steps"],
        "off_grid_notes": totals["off_grid_notes"],
        "dropped_notes": totals["dropped_notes"],
        "keys_estimated": totals["key_estimated"],
        "transposed": totals["transposed"],
        "skipped": len(skipped),
        "duplicate_tunes": len(tune_records) - len(first_copies),
        "vocabulary": len(vocabulary),
        "pitch_range": [low, high],
        "meters": dict(meters.most_common()),
    }
    if whole:
        counts["whole_tunes"] = whole_tune_counts(tune_records)
    manifest = new_manifest(name, source, encoding, plan.describe(), counts, skipped,
                            time.perf_counter() - started)
    return Corpus(name, splits, vocabulary, encoding, manifest, tune_records,
                  {s: np.array(owners[s], dtype=np.int32) for s in SPLITS},
                  tune_sequences=sequences,
                  tune_of_sequence={s: np.array(sequence_owners[s], dtype=np.int32) for s in sequences})


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
