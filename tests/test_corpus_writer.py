"""The corpus writer: a corpus saved from memory loads back equal under the content hash it had in
memory (the hash as corpora always had it), tunes.json is what json.dumps writes, and assembling
tunes straight into a corpus folder keeps memory flat however many tunes come."""

import hashlib
import json
import random
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

from seqgan_music.corpora import corpus_writer
from seqgan_music.corpora.corpus import Corpus, _flatten, load_corpus
from seqgan_music.corpora.encoded import EncodedBatch, EncodedTune
from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.grammar import build_grammar_corpus
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.corpora.music import (
    InMemorySink,
    assemble_music_corpus,
    build_music_corpus,
    encode_tune,
    save_music_corpus,
)
from seqgan_music.corpora.split import SPLITS, SplitPlan
from seqgan_music.corpora.tunes import whole_tune_counts

ENCODING = Grid16(length=16, stride=16)


def melody(index: int, title: str = "") -> Melody:
    notes = [Note(60 + (index * 7 + i * 5) % 19, i * 0.5, i * 0.5 + 0.5) for i in range(64)]
    return Melody(notes, bar_lines([(0.0, "4/4")], 32.0), "4/4", Key(index % 5 - 2), title=title or f"tune {index}",
                  source=f"set/tune{index}.mid")


def reference_hash(corpus: Corpus) -> str:
    """The content hash as corpora recorded it before the writer existed (runs keep it to name
    their corpus): it must not change."""
    digest = hashlib.sha256()
    for split in SPLITS:
        array = np.ascontiguousarray(corpus.splits[split], dtype=np.int32)
        digest.update(f"{split}:{array.shape}".encode())
        digest.update(array.tobytes())
    for split, sequences in sorted(corpus.tune_sequences.items()):
        flat, offsets = _flatten(sequences)
        digest.update(f"tunes_{split}:{offsets.tobytes().hex()}".encode())
        digest.update(flat.tobytes())
    digest.update(corpus.vocabulary.to_json().encode())
    return digest.hexdigest()


def test_a_saved_music_corpus_loads_back_equal_under_its_content_hash(tmp_path):
    titles = ["Ríl an Spéice", "two\nlines", "a \u2028 separator", 'quoted "name"']
    tunes = [melody(i, titles[i] if i < len(titles) else "") for i in range(12)]
    corpus = build_music_corpus("music", tunes, ENCODING, SplitPlan((0.6, 0.2, 0.2), seed=2), {"kind": "test"})
    in_memory = corpus.content_hash()
    assert in_memory == reference_hash(corpus) and corpus.has_whole_tunes

    folder = corpus.save(tmp_path)
    loaded = load_corpus(tmp_path, "music")
    assert loaded.manifest["content_hash"] == corpus.manifest["content_hash"] == in_memory == loaded.content_hash()
    assert loaded.manifest == json.loads(json.dumps(corpus.manifest))
    assert (folder / "tunes.json").read_text("utf-8") == json.dumps(corpus.tunes, ensure_ascii=False)
    assert loaded.tunes == corpus.tunes and loaded.vocabulary == corpus.vocabulary
    for split in SPLITS:
        assert np.array_equal(loaded.splits[split], corpus.splits[split])
        assert np.array_equal(loaded.tune_of_window[split], corpus.tune_of_window[split])
        assert np.array_equal(loaded.tune_of_sequence[split], corpus.tune_of_sequence[split])
        assert [s.tolist() for s in loaded.tune_sequences[split]] == [s.tolist() for s in corpus.tune_sequences[split]]
    with np.load(folder / "tokens.npz", allow_pickle=False) as arrays:
        assert arrays["train"].dtype == np.int32 and arrays["tunes_train_offsets"].dtype == np.int64
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]  # no raw file left


def test_a_corpus_without_tunes_keeps_its_files_and_only_its_windows(tmp_path):
    corpus = build_grammar_corpus("grammar", 15, count=60, seed=1)
    corpus.files = {"extra.bin": b"\x00\x01"}
    folder = corpus.save(tmp_path)
    with np.load(folder / "tokens.npz", allow_pickle=False) as arrays:
        assert sorted(arrays.files) == sorted(SPLITS)
    assert (folder / "extra.bin").read_bytes() == b"\x00\x01" and (folder / "tunes.json").read_text() == "[]"
    loaded = load_corpus(tmp_path, "grammar")
    assert loaded.content_hash() == corpus.content_hash() == reference_hash(corpus) == loaded.manifest["content_hash"]


def test_the_whole_tune_summary_counts_as_the_list_of_records_did():
    records = [{"notated_bars": bars, "type": kind, "mode": "major", "form": "AABB", "cut_bars": bars > 30}
               for bars, kind in [(16, "reel"), (8, "jig"), (32, "reel"), (16, "jig"), (40, "reel"), (12, "hornpipe")]]
    assert whole_tune_counts(records) == {
        "tunes": 6, "notated_bars": {"min": 8, "median": 16, "max": 40},  # the sorted lengths' [6 // 2]
        "types": {"reel": 3, "jig": 2, "hornpipe": 1}, "modes": {"major": 6}, "forms": {"AABB": 6}, "cut": 2,
    }
    assert whole_tune_counts([])["notated_bars"] == {}


def batches_of(base: EncodedTune, tunes: int, per_batch: int = 100):
    """A pass over `tunes` encoded tunes, made as they are read (as shards are): each one the base
    tune's tokens shuffled, so that no two are copies."""
    def one_pass():
        for first in range(0, tunes, per_batch):
            batch = []
            for index in range(first, min(first + per_batch, tunes)):
                symbols = list(base.symbols)
                random.Random(index).shuffle(symbols)
                batch.append(replace(base, symbols=symbols, metadata={**base.metadata, "source": f"t{index}.mid"}))
            yield EncodedBatch.of(batch)
    return one_pass


def peak_bytes(assemble) -> int:
    tracemalloc.start()
    try:
        assemble()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_assembling_into_a_corpus_folder_keeps_memory_flat_as_the_tunes_quadruple(tmp_path, monkeypatch):
    # raw files are read back in chunks smaller than this corpus's, as a large corpus's are in 1 MB ones
    monkeypatch.setattr(corpus_writer, "CHUNK_BYTES", 4096)
    base = encode_tune(melody(1), ENCODING)
    plan = SplitPlan((0.8, 0.1, 0.1), seed=1)
    tunes = 400

    def streamed(count: int) -> int:
        return peak_bytes(lambda: save_music_corpus(tmp_path / str(count), "c", batches_of(base, count), ENCODING,
                                                    plan, {"kind": "test"}, 0.0))

    def in_memory(count: int) -> int:
        return peak_bytes(lambda: assemble_music_corpus("c", batches_of(base, count), ENCODING, plan,
                                                        {"kind": "test"}, 0.0, InMemorySink("c", ENCODING)))

    streamed(10), in_memory(10)  # what the first build imports and caches is not the tunes' memory
    added = 3 * tunes
    growth = (streamed(4 * tunes) - streamed(tunes)) / added
    held = (in_memory(4 * tunes) - in_memory(tunes)) / added
    # In memory each tune's windows, whole tune and record stay (over 2 KB here); streamed, only
    # its 16-byte digest in the duplicate check does (about 100 bytes with the dict's entry).
    assert held > 1000, f"the measure should see a corpus held in memory: {held:.0f} bytes a tune"
    assert growth < 250, f"the streamed build grew {growth:.0f} bytes a tune (in memory: {held:.0f})"


def test_a_save_that_must_not_replace_keeps_a_corpus_made_meanwhile(tmp_path):
    """`replace=False` (the terminal app's builds): a corpus of that name that appeared while the
    build ran is kept as it was, the build raises FileExistsError and leaves no staging folder."""
    batches = [EncodedBatch.of([encode_tune(melody(i), ENCODING) for i in range(6)])]
    first = save_music_corpus(tmp_path, "c", lambda: batches, ENCODING, SplitPlan(), {"kind": "test"}, 0.0)
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    other = [EncodedBatch.of([encode_tune(melody(i), ENCODING) for i in range(6, 9)])]
    with pytest.raises(FileExistsError):
        save_music_corpus(tmp_path, "c", lambda: other, ENCODING, SplitPlan(), {"kind": "test"}, 0.0, replace=False)
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before
    assert sorted(p.name for p in (tmp_path / "corpora").iterdir()) == ["c"]
    replaced = save_music_corpus(tmp_path, "c", lambda: other, ENCODING, SplitPlan(), {"kind": "test"}, 0.0)
    assert load_corpus(tmp_path, "c").manifest["counts"]["tunes"] == 3 and replaced == first
