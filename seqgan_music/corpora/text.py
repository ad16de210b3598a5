"""Build a text corpus (COCO captions, Chinese quatrains, speeches): one sequence per line.

Each line becomes its token ids, an end token and padding up to a fixed length, the layout the
SeqGAN family trains on. The split hashes each line's text, so duplicate lines never straddle
train and test (no leakage) and adding lines never moves the others.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np

from seqgan_music.corpora.corpus import Corpus, new_manifest
from seqgan_music.corpora.encodings import SymbolEncoding
from seqgan_music.corpora.split import SPLITS, SplitPlan
from seqgan_music.corpora.vocabulary import END, PAD, UNK, Vocabulary
from seqgan_music.errors import SeqganError

LEVELS = {"word": " ", "char": ""}  # level -> the separator that joins its tokens back into a line
PAD_ID, END_ID, UNK_ID = 0, 1, 2


def build_text_corpus(
    name: str,
    path: Path,
    level: str = "word",
    max_vocab: int | None = None,
    length: int | None = None,
    plan: SplitPlan = SplitPlan(),
) -> Corpus:
    """Tokenise every non-blank line, build the vocabulary by frequency, pad and split by line."""
    started = time.perf_counter()
    if level not in LEVELS:
        raise SeqganError(f"unknown text level {level!r}: choose word or char")
    if max_vocab is not None and max_vocab < 1:
        raise SeqganError(f"--max-vocab must be at least 1, got {max_vocab}")
    if length is not None and length < 2:
        raise SeqganError(f"--length must be at least 2 (a token and the end token), got {length}")
    raw_lines = _read_lines(path)
    lines = [_tokens(line, level) for line in raw_lines if line.strip()]
    if not lines:
        raise SeqganError(f"{path} is empty or holds only blank lines: give a text file with one sequence per line")

    frequencies = Counter(token for line in lines for token in line)
    vocabulary = _vocabulary(frequencies, max_vocab)
    if length is None:
        length = max(2, int(np.percentile([len(line) for line in lines], 99, method="higher")) + 1)
    encoding = SymbolEncoding(separator=LEVELS[level], length=length, level=level)

    rows: dict[str, list[list[int]]] = {s: [] for s in SPLITS}
    truncated = 0
    for line in lines:
        ids = vocabulary.ids(line)
        if len(ids) > length - 1:
            truncated += 1
            row = ids[:length]
        else:
            row = ids + [END_ID] + [PAD_ID] * (length - 1 - len(ids))
        rows[plan.split_of(encoding.separator.join(line))].append(row)
    splits = {s: np.array(rows[s], dtype=np.int32).reshape(-1, length) for s in SPLITS}
    if len(splits["train"]) == 0:
        raise SeqganError("the train split holds no lines: use a larger file or other split shares")

    counts = {
        "lines": len(lines),
        "windows": {s: int(len(splits[s])) for s in SPLITS},
        "tokens": sum(frequencies.values()),
        "vocabulary": len(vocabulary),
        "unknown_tokens": sum(c for t, c in frequencies.items() if t not in vocabulary),
        "truncated_lines": truncated,
        "blank_lines": len(raw_lines) - len(lines),
    }
    source = {"kind": "text", "path": str(path), "level": level, "max_vocab": max_vocab}
    split = {"method": "hash of each line's text", **plan.describe()}
    manifest = new_manifest(name, source, encoding, split, counts, [], time.perf_counter() - started)
    return Corpus(name, splits, vocabulary, encoding, manifest, [], {})


def _read_lines(path: Path) -> list[str]:
    """The file's lines (a trailing newline adds none); unreadable or binary files are user errors."""
    if not path.exists():
        raise SeqganError(f"text file {path} does not exist: give a UTF-8 text file with one sequence per line")
    if path.is_dir():
        raise SeqganError(f"{path} is a folder: give a UTF-8 text file with one sequence per line")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SeqganError(f"cannot read {path}: {error.strerror}; check its permissions") from None
    try:
        if b"\x00" in data:
            raise UnicodeError("NUL bytes")
        text = data.decode("utf-8-sig")
    except UnicodeError:
        raise SeqganError(f"{path} is not UTF-8 text (binary?): convert it to UTF-8 with one sequence per line") from None
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def _tokens(line: str, level: str) -> list[str]:
    return line.split() if level == "word" else list(line.strip())


def _vocabulary(frequencies: Counter[str], max_vocab: int | None) -> Vocabulary:
    """PAD, END, UNK, then tokens by descending frequency (ties alphabetical), capped at `max_vocab`."""
    ranked = sorted(frequencies, key=lambda token: (-frequencies[token], token))
    kept = [t for t in ranked if t not in (PAD, END, UNK)][:max_vocab]
    return Vocabulary((PAD, END, UNK, *kept), pad=PAD_ID, end=END_ID, unk=UNK_ID)
