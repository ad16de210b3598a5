"""The Corpus on disk: build from melodies, save atomically, load without pickle, split, windows."""

import json

import numpy as np
import pytest

from seqgan_music.corpora.corpus import Skipped, list_corpora, load_corpus
from seqgan_music.corpora.corpus_writer import CorpusWriter
from seqgan_music.corpora.encodings import Grid16, PaperEncoding
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan, parse_fractions, read_split_file
from seqgan_music.corpora.windows import cut_windows
from seqgan_music.errors import SeqganError


def tune(index: int, bars: int = 8, key: Key | None = Key(2)) -> Melody:
    """A scale-like tune in 4/4 whose notes depend on `index`."""
    notes = [Note(62 + (index + i) % 12, i * 0.5, i * 0.5 + 0.5) for i in range(bars * 8)]
    return Melody(notes, bar_lines([(0.0, "4/4")], bars * 4.0), "4/4", key, title=f"tune {index}",
                  source=f"set/tune{index}.mid")


def build(count: int = 30, **options):
    encoding = Grid16(length=options.pop("length", 34), stride=options.pop("stride", 34))
    tunes = [tune(i) for i in range(count)] + [Skipped("bad.mid", "not a MIDI file")]
    return build_music_corpus("demo", tunes, encoding, SplitPlan(seed=1), {"kind": "test"})


def test_build_counts_splits_and_skips():
    corpus = build()
    counts = corpus.manifest["counts"]
    assert counts["tunes"] == 30 and counts["skipped"] == 1
    assert corpus.manifest["skipped"] == [{"path": "bad.mid", "reason": "not a MIDI file"}]
    assert sum(counts["tunes_per_split"].values()) == 30
    assert counts["transposed"] == 30  # D major -> C major
    for split, windows in corpus.splits.items():
        assert windows.shape[1] == 34 and windows.dtype == np.int32
        owners = corpus.tune_of_window[split]
        assert all(corpus.tunes[t]["split"] == split for t in owners)  # windows never cross a split
    first = corpus.splits["train"][0]
    assert corpus.symbols(first)[0] == "BAR"


def test_windows_start_at_bar_lines_and_the_tail_ends_with_end_and_padding():
    corpus = build(count=3, length=40, stride=40)
    vocabulary = corpus.vocabulary
    all_windows = np.concatenate([corpus.splits[s] for s in ("train", "valid", "test")])
    assert all(vocabulary.token(w[0]) == "BAR" for w in all_windows)
    assert any(vocabulary.end in w and vocabulary.pad in w for w in all_windows)


def test_paper_encoding_has_the_88_keys_and_drops_short_tails():
    corpus = build_music_corpus("paper", [tune(i) for i in range(10)], PaperEncoding(length=8, stride=8),
                                SplitPlan(), {"kind": "test"})
    assert len(corpus.vocabulary) == 89
    assert corpus.vocabulary.pad is None and corpus.vocabulary.end is None


def test_save_load_round_trip_without_pickle(tmp_path):
    corpus = build()
    folder = corpus.save(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "tokens.npz", "tunes.json", "vocab.json"]
    loaded = load_corpus(tmp_path, "demo")
    for split in ("train", "valid", "test"):
        assert np.array_equal(loaded.splits[split], corpus.splits[split])
    assert loaded.content_hash() == corpus.manifest["content_hash"]
    assert loaded.encoding == corpus.encoding and loaded.vocabulary == corpus.vocabulary
    melody = loaded.decode(loaded.splits["train"][0], int(loaded.tune_of_window["train"][0]))
    assert melody.meter == "4/4" and melody.key.name == "C major"
    assert [m["name"] for m in list_corpora(tmp_path)] == ["demo"]


def test_a_failed_rebuild_leaves_the_old_corpus_intact(tmp_path, monkeypatch):
    build().save(tmp_path)
    before = (tmp_path / "corpora" / "demo" / "tokens.npz").read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(CorpusWriter, "_write_tokens", explode)
    with pytest.raises(OSError):
        build(count=5).save(tmp_path)
    assert (tmp_path / "corpora" / "demo" / "tokens.npz").read_bytes() == before
    assert [p.name for p in (tmp_path / "corpora").iterdir()] == ["demo"]  # no temp folder left


def test_damaged_or_missing_corpora_give_one_line_errors(tmp_path):
    with pytest.raises(SeqganError, match="no corpus named 'nope'"):
        load_corpus(tmp_path, "nope")
    build().save(tmp_path)
    (tmp_path / "corpora" / "demo" / "tokens.npz").write_bytes(b"garbage")
    with pytest.raises(SeqganError, match="damaged"):
        load_corpus(tmp_path, "demo")


def test_an_object_array_is_refused(tmp_path):
    build().save(tmp_path)
    path = tmp_path / "corpora" / "demo" / "tokens.npz"
    np.savez(path, train=np.array([object()], dtype=object), valid=np.zeros((1, 2)), test=np.zeros((1, 2)))
    with pytest.raises(SeqganError):
        load_corpus(tmp_path, "demo")


def test_no_usable_tunes_is_an_error():
    with pytest.raises(SeqganError, match="no usable tunes: 1 input"):
        build_music_corpus("x", [Skipped("a.mid", "no notes")], Grid16(), SplitPlan(), {})


def test_split_is_stable_when_tunes_are_added():
    plan = SplitPlan(seed=7)
    keys = [f"reels{i}.mid" for i in range(2000)]
    before = {k: plan.split_of(k) for k in keys}
    after = {k: plan.split_of(k) for k in keys + [f"new{i}.mid" for i in range(500)]}
    assert all(after[k] == v for k, v in before.items())
    shares = [sum(v == s for v in before.values()) / len(keys) for s in ("train", "valid", "test")]
    assert shares == pytest.approx([0.8, 0.1, 0.1], abs=0.03)
    assert SplitPlan(seed=8).split_of("reels1.mid") in ("train", "valid", "test")


def test_split_file_overrides_the_hash(tmp_path):
    path = tmp_path / "split.txt"
    path.write_text("# comment\ntest set/tune1.mid\n\nvalid set/tune2.mid\n")
    plan = SplitPlan(assigned=read_split_file(path))
    assert plan.split_of("set/tune1.mid") == "test"
    assert plan.split_of("set/tune2.mid#4") == "valid"
    path.write_text("holdout a.mid\n")
    with pytest.raises(SeqganError, match=":1: expected"):
        read_split_file(path)


def test_split_fractions_are_parsed_and_checked():
    assert parse_fractions("80/10/10") == pytest.approx((0.8, 0.1, 0.1))
    for bad in ("80/20", "0/50/50", "a/b/c", "-1/1/1"):
        with pytest.raises(SeqganError):
            parse_fractions(bad)


def test_cut_windows():
    ids = list(range(10))
    assert cut_windows(ids, 4, 4) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert cut_windows(ids, 4, 4, end_id=98, pad_id=99) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 98, 99]]
    assert cut_windows(ids, 4, 2, allowed_starts=[0, 3, 5]) == [[0, 1, 2, 3], [3, 4, 5, 6], [5, 6, 7, 8]]
    assert cut_windows([1, 2], 6, 6, end_id=8, pad_id=9) == [[1, 2, 8, 9, 9, 9]]  # a short tune keeps one window
    assert cut_windows(ids, 8, 8, end_id=98, pad_id=99) == [list(range(8))]  # a tail under half a window is dropped


def test_manifest_is_plain_json(tmp_path):
    folder = build().save(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {"source", "encoding", "split", "counts", "content_hash", "skipped"} <= set(manifest)
    assert manifest["encoding"] == {"name": "grid16", "length": 34, "stride": 34, "transpose": True}
