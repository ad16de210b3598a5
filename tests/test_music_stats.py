"""Music statistics: a hand-made melody with known answers, degenerate sets, real Nottingham data."""

import math

import numpy as np
import pytest

from seqgan_music.corpora.encodings import Grid16
from seqgan_music.corpora.melody import Key, Melody, Note, bar_lines
from seqgan_music.corpora.music import build_music_corpus
from seqgan_music.corpora.split import SplitPlan
from seqgan_music.evaluation.music_stats import compare_stats, histogram_distance, music_stats

LENGTH = 18  # BAR + 16 steps + BAR


@pytest.fixture(scope="module")
def corpus():
    melodies = [Melody([Note(60 + (i + j) % 13, j * 0.5, j * 0.5 + 0.5) for j in range(16)],
                       bar_lines([(0.0, "4/4")], 8.0), "4/4", Key(0), source=f"t{i}.mid") for i in range(30)]
    return build_music_corpus("tunes", melodies, Grid16(length=LENGTH, stride=LENGTH), SplitPlan(), {"kind": "midi"})


def window(corpus, *tokens: str) -> list[int]:
    padded = list(tokens) + ["REST"] * (LENGTH - 1 - len(tokens)) + ["BAR"]  # the window's 16 steps, then a bar
    return corpus.vocabulary.ids(padded)


def test_hand_made_melody(corpus):
    # C D E F one step each, G two steps, then silence: 16 steps = 4 beats, the last two silent.
    stats = music_stats(np.array([window(corpus, "BAR", "C4", "D4", "E4", "F4", "G4", "HOLD")]), corpus)
    assert (stats.melodies, stats.empty_melodies, stats.notes) == (1, 0, 5)
    assert stats.intervals[12 + 2] == pytest.approx(0.75) and stats.intervals[12 + 1] == pytest.approx(0.25)
    assert stats.note_lengths[0] == pytest.approx(0.8) and stats.note_lengths[1] == pytest.approx(0.2)
    assert stats.pitch_classes[[0, 2, 4, 5, 7]] == pytest.approx([0.2] * 5)
    assert stats.scale_consistency == 1.0 and stats.pitch_range == 7.0 and stats.monophonic == 1.0
    assert stats.empty_beat_rate == pytest.approx(2 / 4)


def test_scale_consistency_counts_notes_outside_every_major_scale(corpus):
    chromatic = ["C4", "C#4", "D4", "D#4", "E4", "F4", "F#4", "G4", "G#4", "A4", "A#4", "B4"]
    stats = music_stats(np.array([window(corpus, "BAR", *chromatic)]), corpus)
    assert stats.scale_consistency == pytest.approx(7 / 12)


def test_degenerate_sets_never_raise(corpus):
    collapsed = np.array([window(corpus, "BAR", *["C4"] * 16)] * 4)
    silent = np.array([window(corpus, "BAR"), window(corpus, "<end>")])
    reference = music_stats(corpus.splits["train"], corpus)
    one_pitch = music_stats(collapsed, corpus)
    nothing = music_stats(silent, corpus)
    assert one_pitch.pitch_classes[0] == 1.0 and one_pitch.pitch_range == 0.0
    assert one_pitch.intervals[12] == 1.0  # every interval is a unison
    assert nothing.notes == 0 and nothing.empty_melodies == 2 and math.isnan(nothing.scale_consistency)
    assert not nothing.pitch_classes.any()
    for generated in (one_pitch, nothing):
        distances = compare_stats(generated, reference)
        assert all(math.isfinite(distances[k]) for k in distances if k.endswith(("_kl", "_overlap")))
    assert compare_stats(one_pitch, reference)["pitch_classes_kl"] > 1.0


def test_histogram_distance_of_identical_and_disjoint_distributions():
    p = np.array([0.5, 0.5, 0.0])
    assert histogram_distance(p, p) == pytest.approx((0.0, 1.0))
    kl, overlap = histogram_distance(p, np.array([0.0, 0.0, 1.0]))
    assert overlap == 0.0 and 10 < kl < 20  # large but finite: 1e-6 smoothing


def test_non_music_corpus_is_refused():
    from seqgan_music.corpora.grammar import build_grammar_corpus

    grammar = build_grammar_corpus("g", 15, count=20)
    with pytest.raises(ValueError, match="not music"):
        music_stats(grammar.splits["train"], grammar)


@pytest.mark.slow
def test_real_held_out_tunes_match_the_training_statistics(nottingham_grid16):
    nottingham = nottingham_grid16
    train = music_stats(nottingham.splits["train"], nottingham)
    test = compare_stats(music_stats(nottingham.splits["test"], nottingham), train)
    assert test["pitch_classes_overlap"] > 0.9 and test["intervals_overlap"] > 0.9
    assert test["note_lengths_overlap"] > 0.9 and test["pitch_classes_kl"] < 0.05
    assert train.scale_consistency > 0.9 and train.monophonic == 1.0  # folk tunes in C major / A minor
    assert 0.0 <= train.empty_beat_rate < 0.1 and 5 < train.pitch_range < 20
