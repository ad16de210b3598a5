"""Text corpora: tokenising, vocabulary by frequency, END and PAD, truncation, leak-free split."""

from pathlib import Path

import numpy as np
import pytest

from seqgan_music.corpora.corpus import load_corpus
from seqgan_music.corpora.split import SPLITS, SplitPlan
from seqgan_music.corpora.text import build_text_corpus
from seqgan_music.corpora.vocabulary import END, PAD, UNK
from seqgan_music.errors import SeqganError

TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"
needs_text = pytest.mark.skipif(not TEXT.is_dir(), reason=f"the real text corpora are not at {TEXT} (../shared is absent)")


def write(tmp_path: Path, text: str, name: str = "lines.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def all_rows(corpus) -> np.ndarray:
    return np.concatenate([corpus.splits[s] for s in SPLITS])


def test_word_level_vocabulary_end_and_padding(tmp_path):
    path = write(tmp_path, "the cat sat\n\nthe dog\n  the cat  \n")
    corpus = build_text_corpus("words", path, plan=SplitPlan(fractions=(1.0, 0.0, 0.0)))
    # frequency order: the 3, cat 2, then dog/sat 1 each in alphabetical order
    assert corpus.vocabulary.tokens == (PAD, END, UNK, "the", "cat", "dog", "sat")
    assert (corpus.vocabulary.pad, corpus.vocabulary.end, corpus.vocabulary.unk) == (0, 1, 2)
    assert corpus.length == 4  # longest line 3 tokens + the end token
    rows = {corpus.decode(row): corpus.symbols(row) for row in corpus.splits["train"]}
    assert rows == {"the cat sat": ["the", "cat", "sat", END], "the dog": ["the", "dog", END, PAD],
                    "the cat": ["the", "cat", END, PAD]}
    counts = corpus.manifest["counts"]
    assert counts["lines"] == 3 and counts["blank_lines"] == 1 and counts["tokens"] == 7
    assert counts["unknown_tokens"] == 0 and counts["truncated_lines"] == 0 and counts["vocabulary"] == 7
    assert counts["windows"] == {"train": 3, "valid": 0, "test": 0}
    assert corpus.manifest["encoding"] == {"name": "symbols", "separator": " ", "length": 4, "level": "word", "extras": {}}
    assert corpus.manifest["source"]["kind"] == "text" and corpus.tunes == [] and corpus.tune_of_window == {}
    assert all(a.dtype == np.int32 and a.shape[1] == 4 for a in corpus.splits.values())


def test_char_level_keeps_inner_spaces(tmp_path):
    path = write(tmp_path, " ab a\r\nb\n")
    corpus = build_text_corpus("chars", path, level="char", plan=SplitPlan(fractions=(1.0, 0.0, 0.0)))
    assert corpus.vocabulary.tokens == (PAD, END, UNK, "a", "b", " ")  # a and b twice each, the space once
    assert sorted(corpus.decode(row) for row in corpus.splits["train"]) == ["ab a", "b"]
    assert corpus.manifest["encoding"]["separator"] == "" and corpus.manifest["encoding"]["level"] == "char"


def test_max_vocab_maps_the_rarest_tokens_to_unk(tmp_path):
    path = write(tmp_path, "a a a b b c\nd a\n")
    corpus = build_text_corpus("capped", path, max_vocab=2, plan=SplitPlan(fractions=(1.0, 0.0, 0.0)))
    assert corpus.vocabulary.tokens == (PAD, END, UNK, "a", "b")
    assert sorted(corpus.decode(row) for row in corpus.splits["train"]) == ["<unk> a", "a a a b b <unk>"]
    assert corpus.manifest["counts"]["unknown_tokens"] == 2


def test_long_lines_are_truncated_without_an_end_token(tmp_path):
    path = write(tmp_path, "a b c d e\na b\na\n")
    corpus = build_text_corpus("cut", path, length=3, plan=SplitPlan(fractions=(1.0, 0.0, 0.0)))
    rows = sorted(corpus.symbols(row) for row in corpus.splits["train"])
    assert rows == [["a", END, PAD], ["a", "b", END], ["a", "b", "c"]]
    assert corpus.manifest["counts"]["truncated_lines"] == 1


def test_default_length_covers_99_percent_of_lines(tmp_path):
    lines = ["w " * 5] * 199 + ["w " * 40]
    corpus = build_text_corpus("p99", write(tmp_path, "\n".join(lines)))
    assert corpus.length == 6
    assert corpus.manifest["counts"]["truncated_lines"] == 1


def test_duplicate_lines_share_a_split_and_the_split_is_stable(tmp_path):
    unique = [f"line number {i}" for i in range(300)]
    text = "\n".join(unique + unique[:50] * 3)
    corpus = build_text_corpus("dups", write(tmp_path, text))
    split_of = {}
    for split in SPLITS:
        for row in corpus.splits[split]:
            assert split_of.setdefault(corpus.decode(row), split) == split
    assert len(split_of) == 300 and all(corpus.manifest["counts"]["windows"][s] > 0 for s in SPLITS)
    grown = build_text_corpus("dups", write(tmp_path, text + "\n" + "\n".join(f"extra {i}" for i in range(100))))
    for split in SPLITS:
        for row in grown.splits[split]:
            line = grown.decode(row)
            assert split_of.get(line, split) == split


def test_decode_gives_back_every_untruncated_line(tmp_path):
    lines = [f"{w} and {w * 2} went to {i}" for i, w in enumerate("abcdefghij" * 5)]
    corpus = build_text_corpus("round", write(tmp_path, "\n".join(lines) + "\n"))
    decoded = sorted(corpus.decode(row) for row in all_rows(corpus))
    assert decoded == sorted(lines)


def test_save_and_load_round_trip(tmp_path):
    corpus = build_text_corpus("saved", write(tmp_path, "\n".join(f"x y {i}" for i in range(40))), level="char")
    corpus.save(tmp_path)
    loaded = load_corpus(tmp_path, "saved")
    assert loaded.content_hash() == corpus.content_hash()
    assert loaded.encoding == corpus.encoding and loaded.vocabulary == corpus.vocabulary
    assert [loaded.decode(r) for r in loaded.splits["train"]] == [corpus.decode(r) for r in corpus.splits["train"]]


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("folder", "is a folder"),
    ("empty", "is empty"),
    ("blank", "only blank lines"),
    ("binary", "not UTF-8"),
    ("latin-1", "not UTF-8"),
    ("level", "unknown text level"),
    ("max_vocab", "max-vocab"),
    ("length", "--length"),
    ("no train", "train split"),
])
def test_bad_inputs_are_user_errors(tmp_path, case, message):
    path = tmp_path / "input.txt"
    options: dict = {}
    if case == "folder":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "blank":
        path.write_text("\n   \n\t\n")
    elif case == "binary":
        path.write_bytes(b"\x00\x01\x02abc\n")
    elif case == "latin-1":
        path.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    elif case != "missing":
        path.write_text("a b\nc d\n")
        options = {"level": {"level": "sentence"}, "max_vocab": {"max_vocab": 0}, "length": {"length": 1},
                   "no train": {"plan": SplitPlan(fractions=(0.0, 0.5, 0.5))}}[case]
    with pytest.raises(SeqganError, match=message) as error:
        build_text_corpus("bad", path, **options)
    assert "\n" not in str(error.value)


@needs_text
def test_chinese_quatrains_have_24_tokens_a_line():
    corpus = build_text_corpus("poems", TEXT / "chinese_quatrains" / "shi.txt")
    assert corpus.length == 25
    rows = all_rows(corpus)
    assert (rows[:, 24] == corpus.vocabulary.end).all() and not (rows[:, :24] <= 2).any()
    counts = corpus.manifest["counts"]
    assert counts["lines"] == len(rows) and counts["lines"] > 16_000 and counts["tokens"] == 24 * counts["lines"]
    assert counts["truncated_lines"] == 0 and counts["unknown_tokens"] == 0
    assert 0.75 < counts["windows"]["train"] / counts["lines"] < 0.85


@needs_text
def test_image_coco_builds(tmp_path):
    corpus = build_text_corpus("coco", TEXT / "image_coco" / "train.txt", max_vocab=3000)
    counts = corpus.manifest["counts"]
    assert counts["lines"] == 10_000 and counts["vocabulary"] == 3003
    assert 10 < corpus.length < 40 and counts["truncated_lines"] <= 0.01 * counts["lines"]
    assert counts["unknown_tokens"] > 0
    corpus.save(tmp_path)
    assert load_corpus(tmp_path, "coco").content_hash() == corpus.content_hash()


def test_punct_level_splits_punctuation_off_words(tmp_path):
    path = write(tmp_path, "a dog, on a t-shirt.\nthe dog's bed..\n")
    corpus = build_text_corpus("punct", path, level="punct", plan=SplitPlan(fractions=(1.0, 0.0, 0.0)))
    rows = sorted(corpus.symbols(row)[:corpus.symbols(row).index(END)] for row in corpus.splits["train"])
    assert rows == [["a", "dog", ",", "on", "a", "t-shirt", "."], ["the", "dog", "'s", "bed", ".", "."]]
    assert corpus.manifest["encoding"]["level"] == "punct" and corpus.decode(corpus.splits["train"][0]).count(" ") > 3


def build_with_test_file(tmp_path, *options: str):
    """`corpus build text FILE --test TEST` through the command line: 200 training lines, 30 test
    lines (one of them also a training line, one with a word only the test file has)."""
    from typer.testing import CliRunner

    from seqgan_music.cli import app

    train = [f"a line of words number {i}" for i in range(200)]
    test = [f"a held out line {i}" for i in range(28)] + ["a line of words number 7", "zebra crossing"]
    train_file, test_file = write(tmp_path, "\n".join(train) + "\n", "train.txt"), write(tmp_path, "\n".join(test), "test.txt")
    result = CliRunner().invoke(app, ["corpus", "build", "text", str(train_file), "--test", str(test_file),
                                      "--name", "held", *options, "--home", str(tmp_path / "home")])
    return result, train, test


def test_a_test_file_gives_exactly_the_test_split(tmp_path):
    result, train, test = build_with_test_file(tmp_path, "--split", "80/20/50")
    assert result.exit_code == 0, result.output
    assert "train/valid/test" in result.output
    corpus = load_corpus(tmp_path / "home", "held")
    assert [corpus.decode(row) for row in corpus.splits["test"]] == test  # every line, in order, once
    assert sorted(corpus.decode(row) for s in ("train", "valid") for row in corpus.splits[s]) == sorted(train)
    valid = len(corpus.splits["valid"])
    assert 20 <= valid <= 60  # the train/valid shares 80/20 of the 200 lines; the test share is unused
    assert "zebra" in corpus.vocabulary.tokens  # the vocabulary covers both files, as Texygen's
    counts = corpus.manifest["counts"]
    assert counts["windows"] == {"train": 200 - valid, "valid": valid, "test": 30} and counts["lines"] == 230
    assert counts["test_lines_also_in_train"] == ("a line of words number 7" in {corpus.decode(r) for r in corpus.splits["train"]})
    assert corpus.manifest["source"]["test_path"].endswith("test.txt")


@pytest.mark.parametrize("content, message", [(b"", "is empty or holds only blank lines"),
                                              (b"\n \n", "is empty or holds only blank lines"),
                                              ("caf\xe9\n".encode("latin-1"), "is not UTF-8 text")])
def test_a_bad_test_file_is_one_line_and_builds_nothing(tmp_path, content, message):
    from typer.testing import CliRunner

    from seqgan_music.cli import app

    write(tmp_path, "a b\nc d\n", "train.txt")
    (tmp_path / "test.txt").write_bytes(content)
    result = CliRunner().invoke(app, ["corpus", "build", "text", str(tmp_path / "train.txt"), "--test",
                                      str(tmp_path / "test.txt"), "--name", "held", "--home", str(tmp_path / "home")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert message in result.output and "test.txt" in result.output
    assert not (tmp_path / "home" / "corpora" / "held").exists()


def test_image_coco_keeps_texygens_split(shared_data):
    folder = shared_data / "text" / "image_coco"
    if not (folder / "test.txt").is_file():
        pytest.skip(f"COCO captions not found in {folder}")
    corpus = build_text_corpus("coco", folder / "train.txt", level="punct", plan=SplitPlan(fractions=(0.9, 0.1, 0.0)),
                               test_path=folder / "test.txt")
    counts = corpus.manifest["counts"]
    assert counts["windows"]["test"] == 10_000 and counts["windows"]["train"] + counts["windows"]["valid"] == 10_000
    assert 900 < counts["windows"]["valid"] < 1100 and counts["unknown_tokens"] == 0
    assert 20 <= corpus.length <= 30 and counts["truncated_lines"] <= 0.01 * counts["lines"]
    assert "." in corpus.vocabulary.tokens and "bench." not in corpus.vocabulary.tokens
