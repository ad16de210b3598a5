"""Build a text corpus (COCO captions, Chinese quatrains, speeches): one sequence per line.

Each line becomes its token ids, an end token and padding up to a fixed length, the layout the
SeqGAN family trains on. The split hashes each line's text, so duplicate lines never straddle
train and test (no leakage) and adding lines never moves the others. A benchmark with a fixed
held-out file (Texygen's COCO train.txt and test.txt) gives it as `test_path`: its lines are the
test split, the main file's lines are hashed into train and valid only, and the vocabulary and
the default length cover both files, as Texygen's do.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from seqgan_music.corpora.corpus import Corpus, new_manifest
from seqgan_music.corpora.encodings import SymbolEncoding
from seqgan_music.corpora.split import SPLITS, SplitPlan
from seqgan_music.corpora.vocabulary import END, PAD, UNK, Vocabulary
from seqgan_music.errors import SeqganError

# level -> the separator that joins its tokens back into a line. "punct": words with punctuation split
# off ("a dog." -> a, dog, .), as the nltk tokeniser Texygen reads COCO with (the same tokens on 99.3% of
# COCO's train lines; it differs on abbreviations such as "u.s.").
LEVELS = {"word": " ", "punct": " ", "char": ""}
_PUNCT_TOKENS = re.compile(r"\w+(?:[-/]\w+)*|'\w*|[^\w\s]")
PAD_ID, END_ID, UNK_ID = 0, 1, 2


def build_text_corpus(
    name: str,
    path: Path,
    level: str = "word",
    max_vocab: int | None = None,
    length: int | None = None,
    plan: SplitPlan = SplitPlan(),
    test_path: Path | None = None,
) -> Corpus:
    """Tokenise every non-blank line, build the vocabulary by frequency, pad and split by line;
    with `test_path`, that file's lines are the test split and `plan`'s test share is unused."""
    started = time.perf_counter()
    if level not in LEVELS:
        raise SeqganError(f"unknown text level {level!r}: choose {', '.join(LEVELS)}")
    if max_vocab is not None and max_vocab < 1:
        raise SeqganError(f"--max-vocab must be at least 1, got {max_vocab}")
    if length is not None and length < 2:
        raise SeqganError(f"--length must be at least 2 (a token and the end token), got {length}")
    raw_lines = _read_lines(path)
    lines = _non_blank(raw_lines, path, level)
    raw_test: list[str] = []
    test_lines: list[list[str]] = []
    if test_path is not None:
        raw_test = _read_lines(test_path)
        test_lines = _non_blank(raw_test, test_path, level)
        plan = _without_test_share(plan)
    every = lines + test_lines

    frequencies = Counter(token for line in every for token in line)
    vocabulary = _vocabulary(frequencies, max_vocab)
    if length is None:
        length = max(2, int(np.percentile([len(line) for line in every], 99, method="higher")) + 1)
    encoding = SymbolEncoding(separator=LEVELS[level], length=length, level=level)

    rows: dict[str, list[list[int]]] = {s: [] for s in SPLITS}
    assigned = [(plan.split_of(encoding.separator.join(line)), line) for line in lines]
    for split, line in assigned + [("test", line) for line in test_lines]:
        rows[split].append(_row(vocabulary.ids(line), length))
    splits = {s: np.array(rows[s], dtype=np.int32).reshape(-1, length) for s in SPLITS}
    if len(splits["train"]) == 0:
        raise SeqganError("the train split holds no lines: use a larger file or other split shares")

    counts = {
        "lines": len(every),
        "windows": {s: int(len(splits[s])) for s in SPLITS},
        "tokens": sum(frequencies.values()),
        "vocabulary": len(vocabulary),
        "unknown_tokens": sum(c for t, c in frequencies.items() if t not in vocabulary),
        "truncated_lines": sum(len(line) > length - 1 for line in every),
        "blank_lines": len(raw_lines) + len(raw_test) - len(every),
    }
    source = {"kind": "text", "path": str(path), "level": level, "max_vocab": max_vocab}
    split = {"method": "hash of each line's text", **plan.describe()}
    if test_path is not None:
        trained = {encoding.separator.join(line) for split_name, line in assigned if split_name == "train"}
        source["test_path"] = str(test_path)
        split["method"] = "the test file's lines are the test split; hash of each other line's text"
        counts["test_lines_also_in_train"] = sum(encoding.separator.join(line) in trained for line in test_lines)
    manifest = new_manifest(name, source, encoding, split, counts, [], time.perf_counter() - started)
    return Corpus(name, splits, vocabulary, encoding, manifest, [], {})


# A benchmark folder's split (Texygen's COCO: train.txt and test.txt): train.txt's lines are hashed
# 90/10 into train and valid, so the valid split holds about as many captions as the experiments
# sample (the real-data row's self-BLEU is then read at the same sample size).
BENCHMARK_FILES = ("train.txt", "test.txt")
BENCHMARK_SPLIT = SplitPlan(fractions=(0.9, 0.1, 0.0))


def build_benchmark_corpus(name: str, folder: Path) -> Corpus:
    """A text corpus from a benchmark folder holding train.txt and test.txt: test.txt's lines are the
    test split, words with punctuation split off (`punct`, as Texygen reads COCO)."""
    missing = [file for file in BENCHMARK_FILES if not (folder / file).is_file()]
    if missing:
        raise SeqganError(f"{folder} holds no {' or '.join(missing)}: give the folder with train.txt and test.txt "
                          "(e.g. ../shared/data/text/image_coco)")
    return build_text_corpus(name, folder / "train.txt", level="punct", plan=BENCHMARK_SPLIT, test_path=folder / "test.txt")


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


def _non_blank(raw_lines: list[str], path: Path, level: str) -> list[list[str]]:
    """The tokens of each non-blank line; a file without one is a user error."""
    lines = [_tokens(line, level) for line in raw_lines if line.strip()]
    if not lines:
        raise SeqganError(f"{path} is empty or holds only blank lines: give a text file with one sequence per line")
    return lines


def _without_test_share(plan: SplitPlan) -> SplitPlan:
    """`plan` splitting between train and valid only, in its shares of those two."""
    train, valid, _ = plan.fractions
    return replace(plan, fractions=(train / (train + valid), valid / (train + valid), 0.0))


def _row(ids: list[int], length: int) -> list[int]:
    """The ids, the end token and padding to `length`; a longer line is cut to `length`, without an end."""
    if len(ids) > length - 1:
        return ids[:length]
    return ids + [END_ID] + [PAD_ID] * (length - 1 - len(ids))


def _tokens(line: str, level: str) -> list[str]:
    if level == "punct":
        return _PUNCT_TOKENS.findall(line)
    return line.split() if level == "word" else list(line.strip())


def _vocabulary(frequencies: Counter[str], max_vocab: int | None) -> Vocabulary:
    """PAD, END, UNK, then tokens by descending frequency (ties alphabetical), capped at `max_vocab`."""
    ranked = sorted(frequencies, key=lambda token: (-frequencies[token], token))
    kept = [t for t in ranked if t not in (PAD, END, UNK)][:max_vocab]
    return Vocabulary((PAD, END, UNK, *kept), pad=PAD_ID, end=END_ID, unk=UNK_ID)
