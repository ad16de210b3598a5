"""Whole tunes as token sequences: writing, reading back (also malformed ones), playing out, and
building the notated tune from a played-out one or from written repeats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.tunes import (
    ENDING1,
    ENDING2,
    MAX_TUNE_BARS,
    PART,
    REPEAT,
    Tune,
    TuneHeader,
    TunePart,
    capped,
    parse_tune_symbols,
    tune_from_played,
    tune_from_written,
)
from seqgan_music.corpora.vocabulary import END, PAD

JIG = TuneHeader("6/8", "dorian", "jig")


def bar(*pitches: str) -> list[str]:
    """A 6/8 bar of twelve sixteenth steps: three pitches, each held for a quarter note."""
    return [step for pitch in pitches for step in (pitch, "HOLD", "HOLD", "HOLD")]


A_BARS = [bar("D5", "E5", "F5"), bar("G5", "F5", "E5"), bar("D5", "F5", "A5")]
FIRST, SECOND = [bar("E5", "D5", "C5")], [bar("D5", "D5", "D5")]
B_BARS = [bar("A5", "B5", "C6"), bar("D6", "C6", "B5"), bar("A5", "G5", "F5"), bar("E5", "D5", "D5")]


def aabb() -> Tune:
    return Tune(JIG, [TunePart(A_BARS, True, FIRST, SECOND), TunePart(B_BARS, True)], ["A4", "HOLD"])


def test_a_tune_is_written_as_header_parts_repeats_and_endings():
    symbols = aabb().symbols()
    assert symbols[:4] == ["meter=6/8", "mode=dorian", "type=jig", PART]
    assert symbols[4:6] == ["A4", "HOLD"]  # the pickup opens the first strain
    assert symbols.count(PART) == 2 and symbols.count(REPEAT) == 2
    assert symbols.index(ENDING1) < symbols.index(REPEAT) < symbols.index(ENDING2)
    assert symbols.count("BAR") == len(A_BARS) + 2 + len(B_BARS)


def test_reading_the_symbols_back_gives_the_same_tune():
    tune = aabb()
    assert parse_tune_symbols([*tune.symbols(), END, PAD, PAD]) == tune
    assert tune.form_letters() == "AABB"


def test_played_out_the_repeats_and_endings_are_expanded():
    tune = aabb()
    played, notated = tune.played_bars(), tune.notated_bars()
    assert played == A_BARS + FIRST + A_BARS + SECOND + B_BARS + B_BARS
    assert notated == A_BARS + FIRST + SECOND + B_BARS
    melody = tune.melody()
    assert melody.meter == "6/8"
    assert len(melody.bars) == len(played)
    assert melody.end == pytest.approx(0.5 + len(played) * 3.0)  # pickup of two steps, then 6/8 bars
    notated_melody = tune.melody(played=False)
    assert len(notated_melody.bars) == len(notated)
    assert notated_melody.repeat_marks == [(True, False, 0), (False, False, 0), (False, False, 0), (False, True, 1),
                                           (False, False, 2), (True, False, 0), (False, False, 0), (False, False, 0),
                                           (False, True, 0)]


def test_the_repeat_marks_of_a_notated_tune_build_the_same_tune_again():
    tune = aabb()
    melody = tune.melody(played=False)
    symbols = Grid16(transpose=False).encode(melody).symbols
    assert tune_from_written(symbols, JIG, melody.repeat_marks) == tune


TOKENS = st.sampled_from(["BAR", "HOLD", "REST", "C5", "D5", PART, REPEAT, ENDING1, ENDING2, END, PAD,
                          "meter=3/4", "meter=9/0", "mode=minor", "mode=lydian", "type=reel", "type=x"])


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=40))
def test_any_token_sequence_reads_as_a_tune_that_reads_back_the_same(symbols):
    tune = parse_tune_symbols(symbols)
    again = parse_tune_symbols(tune.symbols())
    assert again.symbols() == tune.symbols()
    assert tune.header.meter in ("4/4", "3/4") and tune.header.mode in ("major", "minor")
    assert tune.header.type in ("unknown", "reel")
    tune.melody()  # always playable
    tune.melody(played=False)


def test_a_pickup_is_played_again_before_the_repeat_when_the_closing_bar_leaves_room_for_it():
    short_close = bar("D5", "D5")[:8]  # two quarters of a 6/8 bar: room for the quarter-note pickup
    tune = Tune(JIG, [TunePart([*A_BARS, short_close], True)], ["A4", "HOLD", "HOLD", "HOLD"])
    played = tune.played_bars()
    assert played[len(A_BARS)] == [*short_close, "A4", "HOLD", "HOLD", "HOLD"]
    assert played[len(A_BARS) + 1:] == [*A_BARS, short_close]
    assert tune.melody().end == pytest.approx(1.0 + 2 * (3 * len(A_BARS) + 2.0) + 1.0)
    full_close = Tune(JIG, [TunePart([*A_BARS, bar("D5", "D5", "D5")], True)], ["A4", "HOLD", "HOLD", "HOLD"])
    assert full_close.played_bars() == [*A_BARS, bar("D5", "D5", "D5")] * 2  # a full bar already holds it


def test_a_played_out_tune_with_a_second_ending_becomes_aabb_with_endings():
    a_first = A_BARS * 2 + [bar("C5", "D5", "E5")] + FIRST  # an 8-bar strain...
    a_second = A_BARS * 2 + [bar("C5", "D5", "E5")] + SECOND  # ...played again with another close
    b_part = B_BARS * 2
    played = [step for b in a_first + a_second + b_part + b_part for step in ("BAR", *b)]
    tune = tune_from_played(["REST"] * 10 + ["A4", "HOLD", *played], JIG)
    assert tune.form_letters() == "AABB"
    first, second = tune.parts
    assert first.repeated and first.first_ending == FIRST and first.second_ending == SECOND
    assert len(first.bars) == 7 and second.repeated and second.bars == b_part
    assert tune.pickup == ["A4", "HOLD"]
    assert tune.played_bars() == a_first + a_second + b_part + b_part


def test_written_repeats_and_endings_are_read_from_the_marks():
    bars = A_BARS + FIRST + SECOND + B_BARS
    symbols = [step for b in bars for step in ("BAR", *b)]
    marks = [(True, False, 0), (False, False, 0), (False, False, 0), (False, True, 1), (False, False, 2),
             (True, False, 0), (False, False, 0), (False, False, 0), (False, True, 0)]
    tune = tune_from_written(symbols, JIG, marks)
    assert tune == Tune(JIG, [TunePart(A_BARS, True, FIRST, SECOND), TunePart(B_BARS, True)], [])


def test_a_long_tune_is_cut_at_a_part_boundary():
    long_part = TunePart([bar("C5", "D5", "E5")] * 24, True)
    tune = capped(Tune(JIG, [long_part, long_part, long_part]))
    assert len(tune.parts) == 2 and len(tune.notated_bars()) == 48
    alone = capped(Tune(JIG, [TunePart([bar("C5", "D5", "E5")] * 80, True)]))
    assert len(alone.notated_bars()) == MAX_TUNE_BARS and not alone.parts[0].repeated


def test_nottingham_jigs_and_reels_are_notated_with_their_repeats(shared_data):
    from seqgan_music.corpora.midi import read_midi_melody

    folder = shared_data / "nottingham" / "MIDI"
    files = sorted(folder.glob("jigs*.mid"))[:10] + sorted(folder.glob("reels*.mid"))[:10]
    repeated = 0
    for path in files:
        melody = read_midi_melody(path, path.name)
        symbols = Grid16(transpose=False).encode(melody).symbols
        tune = tune_from_played(symbols, TuneHeader(melody.meter))
        assert parse_tune_symbols(tune.symbols()) == tune
        played_bars = len(tune.played_bars())
        assert len(tune.notated_bars()) <= played_bars <= symbols.count("BAR") + 1
        repeated += any(part.repeated for part in tune.parts)
    assert repeated >= 15, f"only {repeated} of {len(files)} jigs and reels have a repeated strain"


def test_a_grid16_music_corpus_keeps_every_tune_whole(nottingham_grid16, tmp_path):
    from seqgan_music.corpora.corpus import load_corpus

    corpus = nottingham_grid16
    assert corpus.has_whole_tunes
    assert {s: len(v) for s, v in corpus.tune_sequences.items()} == corpus.manifest["counts"]["tunes_per_split"]
    for split, sequences in corpus.tune_sequences.items():
        for sequence, owner in zip(sequences, corpus.tune_of_sequence[split]):
            symbols = corpus.symbols(sequence)
            record = corpus.tunes[owner]
            assert record["split"] == split and symbols[-1] == END
            assert symbols[:3] == [f"meter={record['meter']}", f"mode={record['mode']}", f"type={record['type']}"]
            tune = parse_tune_symbols(symbols)
            assert [*tune.symbols(), END] == symbols
            assert len(tune.notated_bars()) == record["notated_bars"] <= MAX_TUNE_BARS
            if Path(record["source"]).name.startswith("jigs"):
                assert record["type"] == "jig"
    whole = corpus.manifest["counts"]["whole_tunes"]
    assert whole["tunes"] == len(corpus.tunes) and whole["forms"]["AABB"] > whole["tunes"] * 0.3
    assert set(whole["modes"]) <= {"major", "minor", "dorian", "mixolydian"}
    corpus.save(tmp_path)
    loaded = load_corpus(tmp_path, corpus.name)
    assert loaded.content_hash() == corpus.content_hash()
    assert all(np.array_equal(a, b) for a, b in zip(loaded.tune_sequences["test"], corpus.tune_sequences["test"]))


def test_whole_tune_tokens_come_after_the_window_tokens(nottingham_grid16):
    tokens = nottingham_grid16.vocabulary.tokens
    first_tune_token = tokens.index(PART)
    windows = np.concatenate([nottingham_grid16.splits[s].ravel() for s in nottingham_grid16.splits])
    assert windows.max() < first_tune_token
    assert all(t in (PART, REPEAT, ENDING1, ENDING2) or "=" in t for t in tokens[first_tune_token:])


def test_damaged_whole_tune_arrays_are_refused_with_one_line(nottingham_grid16, tmp_path):
    from seqgan_music.corpora.corpus import TOKENS, load_corpus
    from seqgan_music.errors import SeqganError

    folder = nottingham_grid16.save(tmp_path)
    with np.load(folder / TOKENS, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["tunes_valid_offsets"] = arrays["tunes_valid_offsets"][::-1].copy()
    np.savez_compressed(folder / TOKENS, **arrays)
    with pytest.raises(SeqganError, match=r"tokens.npz is damaged \(malformed whole-tune arrays for valid\): rebuild"):
        load_corpus(tmp_path, nottingham_grid16.name)
