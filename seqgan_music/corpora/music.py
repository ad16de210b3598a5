"""Build a music corpus from melodies: key handling, encoding, vocabulary, split and windows."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from seqgan_music.corpora.corpus import Corpus, Skipped, new_manifest
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
    skipped: list[Skipped] = []
    encoded: list[tuple[Melody, list[str], list[int] | None, dict]] = []
    totals: Counter[str] = Counter()
    for tune in tunes:
        if isinstance(tune, Skipped):
            skipped.append(tune)
            continue
        try:
            check_tune_length(tune.end)
        except SkippedInput as error:
            skipped.append(Skipped(tune.source, str(error)))
            continue
        prepared, facts = _prepare(tune, encoding)
        result = encoding.encode(prepared)
        if not result.symbols:
            skipped.append(Skipped(tune.source, "no notes left after encoding"))
            continue
        totals.update(off_grid_notes=result.off_grid_notes, dropped_notes=result.dropped_notes,
                      steps=len(result.symbols), **facts)
        encoded.append((prepared, result.symbols, result.window_starts, facts))
    if not encoded:
        first = f" (first: {skipped[0].path}: {skipped[0].reason})" if skipped else ""
        raise SeqganError(f"no usable tunes: {len(skipped)} input(s) skipped{first}")

    whole = [whole_tune(melody, symbols) for melody, symbols, _, _ in encoded] if isinstance(encoding, Grid16) else []
    tune_symbols = [[*tune.symbols(), END] for tune, _ in whole]
    vocabulary = _music_vocabulary(encoding, (symbols for _, symbols, _, _ in encoded), tune_symbols)
    pad_id, end_id = (vocabulary.pad, vocabulary.end) if encoding.pads_tail else (None, None)
    windows: dict[str, list[list[int]]] = {s: [] for s in SPLITS}
    owners: dict[str, list[int]] = {s: [] for s in SPLITS}
    sequences: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS} if whole else {}
    sequence_owners: dict[str, list[int]] = {s: [] for s in SPLITS}
    tune_records: list[dict] = []
    tunes_per_split: Counter[str] = Counter()
    first_copies: dict[str, str] = {}  # hash of a tune's tokens -> the split of its first copy
    for index, (melody, symbols, starts, facts) in enumerate(encoded):
        digest = hashlib.sha256("\n".join(symbols).encode()).hexdigest()
        split = first_copies.setdefault(digest, plan.split_of(melody.source))
        cut = cut_windows(vocabulary.ids(symbols), encoding.length, encoding.stride, starts, end_id, pad_id)
        windows[split].extend(cut)
        owners[split].extend([index] * len(cut))
        tunes_per_split[split] += 1
        record = {**melody.metadata(), "split": split, "windows": len(cut), **facts}
        if whole:
            tune, cut_bars = whole[index]
            sequences[split].append(np.array(vocabulary.ids(tune_symbols[index]), dtype=np.int32))
            sequence_owners[split].append(index)
            record.update(tune_facts(tune, cut_bars))
        tune_records.append(record)

    splits = {s: np.array(windows[s], dtype=np.int32).reshape(-1, encoding.length) for s in SPLITS}
    if len(splits["train"]) == 0:
        raise SeqganError("the train split holds no windows: use more tunes, a shorter --length, or other split shares")
    pitches = [n.pitch for melody, _, _, _ in encoded for n in melody.notes]
    counts = {
        "tunes": len(encoded),
        "tunes_per_split": {s: tunes_per_split[s] for s in SPLITS},
        "windows": {s: int(len(splits[s])) for s in SPLITS},
        "steps": totals["steps"],
        "off_grid_notes": totals["off_grid_notes"],
        "dropped_notes": totals["dropped_notes"],
        "keys_estimated": totals["key_estimated"],
        "transposed": totals["transposed"],
        "skipped": len(skipped),
        "duplicate_tunes": len(encoded) - len(first_copies),
        "vocabulary": len(vocabulary),
        "pitch_range": [min(pitches), max(pitches)],
        "meters": dict(Counter(m.meter for m, _, _, _ in encoded).most_common()),
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


def _music_vocabulary(encoding: MusicEncoding, all_symbols: Iterable[list[str]],
                      tune_symbols: Iterable[list[str]] = ()) -> Vocabulary:
    """Specials, the encoding's fixed tokens, every pitch that occurs low to high, then the
    whole tunes' structure and header tokens (after the pitches, so that adding whole tunes
    leaves every window's ids as they were)."""
    specials = (PAD, END) if encoding.pads_tail else ()
    fixed = set(encoding.fixed_tokens)
    seen: set[str] = set()
    for symbols in all_symbols:
        seen.update(symbols)
    pitches = sorted((s for s in seen - fixed), key=lambda s: (token_pitch(s) or -1, s))
    tune_tokens: set[str] = set()
    for symbols in tune_symbols:
        tune_tokens.update(symbols)
    tune_tokens -= {*seen, *fixed, *specials}
    structure = [s for s in STRUCTURE_TOKENS if s in tune_tokens]
    header = sorted(tune_tokens - set(structure))
    return Vocabulary.build((), specials, (*encoding.fixed_tokens, *pitches, *structure, *header))
